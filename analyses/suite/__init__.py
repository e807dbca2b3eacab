"""The sensitivity suite and the cumulative analysis: scenarios, workers, reweighting, tables."""


class SuiteFailed(RuntimeError):
    """A suite worker failed or died: the run stops and writes nothing."""
