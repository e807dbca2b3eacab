"""The report of a run: figures, sections and rendering, read from a finished run folder."""
