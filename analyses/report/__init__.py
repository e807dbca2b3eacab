"""The report of a run: figures, sections and rendering, read from a finished run folder."""


class FiguresFailed(RuntimeError):
    """The process drawing part of a run's figures failed or died: the run writes nothing."""
