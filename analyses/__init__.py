"""Command-line analyses: `python -m analyses --help` lists them."""
