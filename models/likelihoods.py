"""Custom distributions for the forms of evidence (:mod:`models.forms`) that need one.

The latent scale is a participant's standardized improvement. Binary outcomes are that
improvement crossing a threshold (latent-normal/probit), so a shift of the latent mean by
``d`` is a shift of the response probit by ``d``. Two forms need a custom distribution:

- **paired binary** (crossover responders): the 2x2 table of (response under placebo,
  response under naltrexone) from a bivariate probit with within-subject correlation ``rho``.
  When only the margins are reported, the likelihood sums over every 2x2 table with those
  margins.
- **bounded counts** (">80% of 20"): P(lower <= X <= upper) for X ~ Binomial(n, p).

Everything else is normal on a reported statistic and needs no custom code. The functions
here are pure PyTensor (log-likelihoods) and NumPy (simulators for predictive checks).
"""

from __future__ import annotations

import math

import numpy as np
import pytensor.tensor as pt
from scipy.special import gammaln

from models.paired_cells import RHO_MAX, paired_cells

_EPS = 1e-12


def normal_cdf(x):
    return 0.5 * pt.erfc(-x / np.sqrt(2.0))


def _constant(x) -> np.ndarray | None:
    """``x``'s value if it is a constant of the graph (not data that may change), else None."""
    from pytensor.graph.basic import Constant, Variable

    if isinstance(x, Constant):
        return np.asarray(x.data)
    return None if isinstance(x, Variable) else np.asarray(x)


def _summed_range(n: int, lower, upper) -> np.ndarray:
    """The counts ``0..n`` a sum over tables needs: ``lower..upper`` where both are known.

    Terms outside the range are -inf and add exactly nothing, so leaving them out changes no
    value; it spares their exp and log-gamma at every gradient evaluation (most of the grid:
    the range of a bounded count of 20 is 4 counts of 21).
    """
    if lower is None or upper is None or not np.isfinite([lower, upper]).all() or lower > upper:
        return np.arange(n + 1)
    return np.arange(max(0, int(lower)), min(n, int(upper)) + 1)


def _log_sum(terms):
    """log(sum(exp(terms))); a single term needs no logsumexp (nor its softmax)."""
    return terms[0] if terms.type.shape == (1,) else pt.logsumexp(terms)


def paired_cell_probabilities(mu_placebo, mu_naltrexone, rho):
    """Probabilities of the 2x2 crossover table (both, placebo only, naltrexone only, neither).

    ``P(s1 Y1 > 0, s2 Y2 > 0)`` for each cell's signs, computed with its Jacobian in one
    compiled operation (:mod:`models.paired_cells`: Genz's method, the Gauss-Hermite quadrature
    for tiny cells).
    """
    cells, _ = paired_cells(mu_placebo, mu_naltrexone, rho)
    return [cells[i] for i in range(4)]


def paired_binary_logp(n: int, both: int | None):
    """The log-likelihood of crossover margins ``value = [r_placebo, r_naltrexone]``.

    Parameters
    ----------
    n : int
        Number of participants with both periods.
    both : int or None
        Responders under both conditions, if reported; otherwise every table consistent with
        the margins is summed over.
    """

    def logp(value, mu_placebo, mu_naltrexone, rho):
        grid = _both_range(n, both, _constant(value))
        rp, rn = value[..., 0], value[..., 1]
        p11, p10, p01, p00 = paired_cell_probabilities(mu_placebo, mu_naltrexone, rho)
        n11 = pt.as_tensor(grid)
        cells = [n11, rp - n11, rn - n11, n - rp - rn + n11]
        feasible = pt.all(pt.stack([c >= 0 for c in cells]), axis=0)
        if both is not None:
            feasible = feasible & pt.eq(n11, both)
        safe = [pt.maximum(c, 0) for c in cells]
        log_coef = pt.gammaln(n + 1.0) - sum(pt.gammaln(c + 1.0) for c in safe)
        terms = log_coef + sum(
            c * pt.log(p) for c, p in zip(safe, (p11, p10, p01, p00), strict=True)
        )
        return _log_sum(pt.switch(feasible, terms, -np.inf))

    return logp


def _both_range(n: int, both: int | None, margins: np.ndarray | None) -> np.ndarray:
    """The counts of "responded in both periods" consistent with known margins."""
    if margins is None:
        return np.arange(n + 1)
    rp, rn = margins[..., 0], margins[..., 1]
    lower, upper = np.min(np.maximum(0, rp + rn - n)), np.max(np.minimum(rp, rn))
    if both is not None:
        lower, upper = max(lower, both), min(upper, both)
    return _summed_range(n, lower, upper)


def paired_binary_random(n: int):
    """Simulate crossover margins [r_placebo, r_naltrexone] for posterior predictive checks."""

    def random(mu_placebo, mu_naltrexone, rho, rng=None, size=None):
        rng = np.random.default_rng(rng)
        # Parameters may carry batch dims (one value per posterior draw): the draws below
        # put each participant (and each period) after them.
        means = np.stack(np.broadcast_arrays(mu_placebo, mu_naltrexone), axis=-1)
        shape = means.shape[:-1] if size is None else tuple(np.atleast_1d(size))
        rho = np.clip(np.asarray(rho), 0.0, RHO_MAX)[..., None, None]
        shared = rng.standard_normal((*shape, n))
        own = rng.standard_normal((*shape, n, 2))
        latent = means[..., None, :] + np.sqrt(rho) * shared[..., None] + np.sqrt(1 - rho) * own
        return (latent > 0).sum(axis=-2)

    return random


def bounded_binomial_logp(n: int):
    """log P(value <= X <= upper), X ~ Binomial(n, p); value is the lower bound (or the count).

    ``upper`` is a parameter of the distribution (not fixed here), so it can be data.
    """

    def logp(value, p, upper):
        lower, top = _constant(value), _constant(upper)
        grid = _summed_range(
            n, None if lower is None else lower.min(), None if top is None else top.max()
        )
        p = pt.clip(p, _EPS, 1 - _EPS)
        k = pt.as_tensor(grid)
        log_coef = pt.gammaln(n + 1.0) - pt.gammaln(k + 1.0) - pt.gammaln(n - k + 1.0)
        terms = log_coef + k * pt.log(p) + (n - k) * pt.log1p(-p)
        inside = (k >= value) & (k <= upper)
        return _log_sum(pt.switch(inside, terms, -np.inf))

    return logp


def binomial_random(n: int):
    """Simulate a count for posterior predictive checks of a (possibly bounded) count."""

    def random(p, *bounds, rng=None, size=None):
        # A bounded count's bounds describe what was reported, not how the count arises.
        rng = np.random.default_rng(rng)
        return rng.binomial(n, p, size=size)

    return random


def noncentral_t_moments(ncp, df: float):
    """Mean and SD of a noncentral t with ``df`` degrees of freedom and noncentrality ``ncp``.

    Exact moments: ``E[T] = c ncp`` with ``c = sqrt(df / 2) Gamma((df - 1) / 2) / Gamma(df / 2)``
    and ``Var[T] = df (1 + ncp^2) / (df - 2) - (c ncp)^2`` (finite for df > 2). The observed
    statistic is then treated as normal with these moments.
    """
    if df <= 2:
        raise ValueError(f"a t statistic needs df > 2 for a finite variance (found {df})")
    c = math.exp(0.5 * math.log(df / 2.0) + gammaln((df - 1.0) / 2.0) - gammaln(df / 2.0))
    mean = c * ncp
    return mean, pt.sqrt(df * (1.0 + ncp**2) / (df - 2.0) - mean**2)
