from analyses.cli import entry

entry()
