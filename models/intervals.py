"""Equal-tailed credible intervals: how one is named, printed and computed from draws.

The analysis's own interval (its probability, one setting) lives in
:mod:`analyses.inference.intervals`; this module is the pure part, usable by ``models`` too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    """An equal-tailed credible interval of probability ``prob``."""

    prob: float

    @property
    def percent(self) -> str:
        """``"95%"``."""
        return f"{100 * self.prob:g}%"

    @property
    def quantiles(self) -> tuple[float, float]:
        tail = (1.0 - self.prob) / 2.0
        return tail, 1.0 - tail

    @property
    def columns(self) -> tuple[str, str]:
        """Column names of the bounds, as ArviZ's summary names them (``eti95_lb``, ...)."""
        tag = f"eti{100 * self.prob:g}".replace(".", "_")
        return f"{tag}_lb", f"{tag}_ub"

    def describe(
        self, point: str, value: float, lower: float, upper: float, digits: int = 2
    ) -> str:
        """``"mean +0.90 (95% interval +0.38 to +1.56)"``: the one way an interval is printed.

        ``point`` names the point estimate ("mean" or "median"), so no number is ever printed
        without saying which it is; ``digits`` after the point (0 for a count).
        """
        f = f"+.{digits}f"
        return f"{point} {value:{f}} ({self.percent} interval {lower:{f}} to {upper:{f}})"

    def bounds(self, values: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float]:
        """The interval's bounds over draws (importance-weighted if ``weights`` is given)."""
        if weights is not None:
            lo, hi = weighted_quantile(values, weights, self.quantiles)
            return float(lo), float(hi)
        lo, hi = np.quantile(np.asarray(values).ravel(), self.quantiles)
        return float(lo), float(hi)


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q) -> np.ndarray:
    """Quantiles of weighted draws: the inverse of their weighted empirical CDF.

    Each draw's mass is centred on it (the midpoint rule), so equal weights give numpy's
    ``"hazen"`` quantiles rather than its default; at 4000 draws the two differ by far less
    than their Monte Carlo error.
    """
    x = np.asarray(values, dtype=float).ravel()
    w = np.asarray(weights, dtype=float).ravel()
    order = np.argsort(x)
    x, w = x[order], w[order] / w.sum()
    cdf = np.cumsum(w) - 0.5 * w
    return np.interp(q, cdf, x)


# The toolkit's default interval, for callers in ``models`` that are not given one (the
# analysis passes its own, :func:`analyses.inference.intervals.interval`).
ETI95 = Interval(0.95)
