"""The credible interval every summary, table and figure reports: its one home.

The :class:`~models.intervals.Interval` type (names, printing, bounds) is in
:mod:`models.intervals`; ``weighted_quantile`` is re-exported from there.

Every place that prints or stores an interval reads :func:`interval` at call time, so changing
:data:`CI_PROB` (or monkeypatching it in a test) changes every output together.
"""

from __future__ import annotations

from models.intervals import Interval, weighted_quantile

# 95% equal-tailed intervals: the convention of the meta-analysis literature this toolkit's
# users read (ArviZ's own default is an 89% ETI, so it is always passed explicitly).
CI_PROB = 0.95


def interval() -> Interval:
    """The analysis's credible interval (read at call time; see :data:`CI_PROB`)."""
    return Interval(CI_PROB)


__all__ = ["CI_PROB", "Interval", "interval", "weighted_quantile"]
