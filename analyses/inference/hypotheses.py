"""The hypotheses of SCIENCE.md section 3 as regions of (beta_acute, beta_sustained).

- primary:    beta_acute >= P and beta_sustained >= P
- permissive: beta_acute >= Q and not primary
- none:       beta_acute <  Q and beta_sustained < Q
- other:      the rest (e.g. sustained-only), so the four sum to 1

with P = ``primary`` (default 0.5) and Q = ``permissive`` (default 0.2).

Prior probabilities are exact: the two blockade fractions have independent priors and the
regions are rectangles, so each is a product of CDFs. Posterior probabilities come from the
draws, with a Monte Carlo standard error from the effective sample size of the region's
indicator. A region with too few effective draws gets a bound, not a number, and so does
every Bayes factor that rests on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from arviz_stats import ess
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy import stats

from models.distributions import scipy_dist

HYPOTHESES = ("primary", "permissive", "none", "other")
HEADLINE = ("permissive", "primary")  # the headline Bayes factor: permissive vs primary
# Below this many effective draws in a region, its probability's relative MCSE exceeds about
# 1/sqrt(20) = 22%, and a Bayes factor built on it is printed as a bound.
MIN_EFFECTIVE_DRAWS = 20
BOUND_LEVEL = 0.95  # one-sided Clopper-Pearson bound for a sparse region


class Thresholds(BaseModel):
    """Hypothesis thresholds: the one home of their defaults (SCIENCE section 3).

    The ``[hypotheses]`` section of a run configuration is a ``Thresholds`` with grids added.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    # Thresholds on a blockade fraction: above 0 ("none" is below permissive) and at most 1.
    primary: float = Field(default=0.5, gt=0, le=1, allow_inf_nan=False)
    permissive: float = Field(default=0.2, gt=0, le=1, allow_inf_nan=False)

    def __init__(self, primary: float = 0.5, permissive: float = 0.2, **extra):
        # Positional (primary, permissive) as well as keywords, as the callers write it.
        super().__init__(primary=primary, permissive=permissive, **extra)

    @model_validator(mode="after")
    def _ordered(self):
        if not self.permissive <= self.primary:
            raise ValueError(
                f"permissive ({self.permissive}) must not exceed primary ({self.primary})"
            )
        return self

    def to_dict(self) -> dict:
        return {"primary": self.primary, "permissive": self.permissive}


def region_indicators(a: np.ndarray, s: np.ndarray, t: Thresholds) -> dict[str, np.ndarray]:
    """Boolean arrays, one per hypothesis, over the draws of (beta_acute, beta_sustained)."""
    primary = (a >= t.primary) & (s >= t.primary)
    permissive = (a >= t.permissive) & ~primary
    none = (a < t.permissive) & (s < t.permissive)
    other = ~(primary | permissive | none)
    return {"primary": primary, "permissive": permissive, "none": none, "other": other}


def prior_probabilities(spec_acute: dict, spec_sustained: dict, t: Thresholds) -> dict[str, float]:
    """Exact prior probability of each region under independent priors."""

    def cdf(spec, x):
        if spec["dist"] == "fixed":
            return float(spec["value"] < x)
        return float(scipy_dist(spec).cdf(x))

    fa_p, fs_p = cdf(spec_acute, t.primary), cdf(spec_sustained, t.primary)
    fa_q, fs_q = cdf(spec_acute, t.permissive), cdf(spec_sustained, t.permissive)
    primary = (1 - fa_p) * (1 - fs_p)
    permissive = (1 - fa_q) - primary
    none = fa_q * fs_q
    other = 1.0 - primary - permissive - none
    return {"primary": primary, "permissive": permissive, "none": none, "other": max(other, 0.0)}


# Both pooled blockade fractions confined to [0, 1]: no enhancement, no more than a total block.
UNIT_BOX = (0.0, 1.0)


def prior_probabilities_within(
    spec_acute: dict, spec_sustained: dict, t: Thresholds, box: tuple[float, float] = UNIT_BOX
) -> dict[str, float] | None:
    """Each region's prior probability under the priors truncated to ``box`` (both β).

    None for a fixed prior (no density to truncate) or thresholds outside the box.
    """
    lo, hi = box
    if "fixed" in (spec_acute["dist"], spec_sustained["dist"]):
        return None
    if not lo <= t.permissive <= t.primary <= hi:
        return None
    fa, fs = scipy_dist(spec_acute).cdf, scipy_dist(spec_sustained).cdf
    z = (fa(hi) - fa(lo)) * (fs(hi) - fs(lo))
    primary = (fa(hi) - fa(t.primary)) * (fs(hi) - fs(t.primary)) / z
    permissive = (fa(hi) - fa(t.permissive)) * (fs(hi) - fs(lo)) / z - primary
    none = (fa(t.permissive) - fa(lo)) * (fs(t.permissive) - fs(lo)) / z
    other = 1.0 - primary - permissive - none
    out = {"primary": primary, "permissive": permissive, "none": none, "other": other}
    return {h: float(max(v, 0.0)) for h, v in out.items()}


@dataclass(frozen=True)
class BoxedReading:
    """The hypotheses with both pooled β confined to a box (the prior truncated there).

    Truncating the prior to the box conditions the posterior on it: the same draws, those
    inside kept. ``draws`` is how many were inside.
    """

    prior: dict[str, float]
    posterior: dict[str, float]
    draws: int
    bf_permissive_vs_primary: float  # NaN when either region holds too few draws


def boxed_reading(
    a: np.ndarray,
    s: np.ndarray,
    spec_acute: dict,
    spec_sustained: dict,
    t: Thresholds,
    box: tuple[float, float] = UNIT_BOX,
) -> BoxedReading | None:
    """The hypotheses' prior and posterior probabilities with both β confined to ``box``."""
    prior = prior_probabilities_within(spec_acute, spec_sustained, t, box)
    a, s = np.ravel(a), np.ravel(s)
    inside = (a >= box[0]) & (a <= box[1]) & (s >= box[0]) & (s <= box[1])
    if prior is None or inside.sum() == 0:
        return None
    found = region_indicators(a[inside], s[inside], t)
    posterior = {h: float(np.mean(found[h])) for h in HYPOTHESES}
    # Raw draws, not effective ones: lenient, and the report gives the count beside the BF.
    counts = {h: int(found[h].sum()) for h in HEADLINE}
    bf = float("nan")
    if min(counts.values()) >= MIN_EFFECTIVE_DRAWS and min(prior[h] for h in HEADLINE) > 0:
        permissive, primary = HEADLINE
        odds = posterior[permissive] / posterior[primary]
        bf = odds / (prior[permissive] / prior[primary])
    return BoxedReading(prior, posterior, int(inside.sum()), bf)


@dataclass(frozen=True)
class Weights:
    """Importance weights over a posterior's draws (Pareto-smoothed).

    ``normalised`` sums to 1 and has the draws' (chain, draw) shape; ``ess`` is the
    importance effective sample size ``r_eff / sum w^2``; ``r_eff`` is the MCMC draws'
    relative efficiency; ``k_hat`` is the Pareto diagnostic.
    """

    normalised: np.ndarray
    ess: float
    r_eff: float
    k_hat: float


@dataclass(frozen=True)
class RegionProbability:
    """A posterior probability with its precision.

    ``n_eff`` is the effective sample size of the region's indicator; ``upper`` and
    ``lower`` are one-sided Clopper-Pearson bounds at that effective size.
    """

    prob: float
    mcse: float
    n_eff: float
    upper: float
    lower: float

    @property
    def draws_in(self) -> float:
        """Effective number of draws inside the region."""
        return self.prob * self.n_eff

    @property
    def sparse(self) -> bool:
        return self.draws_in < MIN_EFFECTIVE_DRAWS


def posterior_probability(
    indicator: xr.DataArray, fallback_ess: float | None = None
) -> RegionProbability:
    """Probability of a region from (chain, draw) indicators, with MCSE from the ESS.

    An indicator that is all False (or all True) has no ESS of its own; ``fallback_ess`` (the
    ESS of the parameters the region is defined on) stands in, so a bound at p = 0 reflects
    the effective, not the raw, number of draws.
    """
    values = indicator.values.astype(float)
    p = float(values.mean())
    n_eff = float(values.size)
    if 0.0 < p < 1.0:
        # An indicator's ESS for its mean; capped at the number of draws.
        measured = float(ess(xr.Dataset({"x": indicator.astype(float)}), method="mean")["x"])
        n_eff = min(max(measured, 1.0), n_eff)
    elif fallback_ess is not None and np.isfinite(fallback_ess):
        n_eff = min(max(float(fallback_ess), 1.0), n_eff)
    mcse = float(np.sqrt(p * (1 - p) / n_eff))
    k = p * n_eff
    upper = float(stats.beta.ppf(BOUND_LEVEL, k + 1, n_eff - k)) if k < n_eff else 1.0
    lower = float(stats.beta.ppf(1 - BOUND_LEVEL, k, n_eff - k + 1)) if k > 0 else 0.0
    return RegionProbability(p, mcse, n_eff, upper, lower)


def weighted_probability(indicator: np.ndarray, weights: Weights) -> RegionProbability:
    """Probability of a region under importance weights, with its PSIS Monte Carlo error.

    The variance of a self-normalised importance estimate of a mean is
    ``sum w_i^2 (h_i - p)^2 / r_eff`` (Vehtari et al. 2024, eq. 6, with the MCMC draws'
    relative efficiency); the effective size is what gives that variance to a proportion.
    A region with every draw in or out takes the weights' own effective size.
    """
    h = np.asarray(indicator, dtype=float).ravel()
    w = weights.normalised.ravel()
    p = float(np.clip(np.sum(w * h), 0.0, 1.0))
    n_eff = weights.ess
    variance = float(np.sum(w**2 * (h - p) ** 2) / weights.r_eff)
    if 0.0 < p < 1.0 and variance > 0:
        n_eff = min(p * (1 - p) / variance, float(h.size))
    mcse = float(np.sqrt(p * (1 - p) / n_eff))
    k = p * n_eff
    upper = float(stats.beta.ppf(BOUND_LEVEL, k + 1, n_eff - k)) if k < n_eff else 1.0
    lower = float(stats.beta.ppf(1 - BOUND_LEVEL, k, n_eff - k + 1)) if k > 0 else 0.0
    return RegionProbability(p, mcse, n_eff, upper, lower)


def parameter_ess(a: xr.DataArray, s: xr.DataArray) -> float:
    """The smaller mean-ESS of the two blockade fractions.

    A region with no draws (or all draws) has an indicator of constant value, whose ESS is
    undefined; its precision is then that of the parameters it is a region of.
    """
    found = ess(xr.Dataset({"a": a, "s": s}), method="mean")
    return float(min(found["a"], found["s"]))


def bayes_factor(
    post_i: RegionProbability, post_j: RegionProbability, prior_i: float, prior_j: float
) -> tuple[float | None, str]:
    """Posterior odds over prior odds of region i against j, or a bound when sparse.

    Returns (value or None, text). The text is the number, or '<x' / '>x', or
    'not estimable', and is what reports print.
    """
    if prior_i <= 0 or prior_j <= 0:
        return None, "not estimable (a region has no prior mass)"
    prior_odds = prior_i / prior_j
    if post_i.sparse and post_j.sparse:
        return None, "not estimable (both regions have too few posterior draws)"
    if post_i.sparse:
        return None, f"<{_fmt(post_i.upper / post_j.prob / prior_odds)}"
    if post_j.sparse:
        return None, f">{_fmt(post_i.prob / post_j.upper / prior_odds)}"
    value = post_i.prob / post_j.prob / prior_odds
    return value, _fmt(value)


def _fmt(x: float) -> str:
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 else f"{x:.2e}"


def hypothesis_table(
    a: xr.DataArray,
    s: xr.DataArray,
    spec_acute: dict,
    spec_sustained: dict,
    t: Thresholds,
    weights: Weights | None = None,
) -> pd.DataFrame:
    """hypotheses.csv: one row per hypothesis, numbers only.

    Columns: hypothesis, prior_prob, posterior_prob, posterior_prob_mcse,
    posterior_prob_lower95 / _upper95 (one-sided bounds at the region's ESS),
    posterior_prob_equal_odds (the posterior had the four started equally likely), and
    bf_vs_<other>. A Bayes factor the draws cannot support is NaN here; bayes_factors.csv
    gives its bound. With ``weights`` the draws are importance-weighted (a reweighted
    posterior, :mod:`analyses.suite.reweight`).
    """
    indicators = region_indicators(a.values, s.values, t)
    prior = prior_probabilities(spec_acute, spec_sustained, t)
    if weights is not None:
        post = {h: weighted_probability(ind, weights) for h, ind in indicators.items()}
    else:
        fallback = parameter_ess(a, s)
        post = {
            h: posterior_probability(xr.DataArray(ind, dims=a.dims, coords=a.coords), fallback)
            for h, ind in indicators.items()
        }
    # Equal prior odds: reweight each region's posterior by 1 / its prior mass.
    weight = {h: post[h].prob / prior[h] if prior[h] > 0 else 0.0 for h in HYPOTHESES}
    total = sum(weight.values())
    rows = []
    for h in HYPOTHESES:
        row = {
            "hypothesis": h,
            "prior_prob": prior[h],
            "posterior_prob": post[h].prob,
            "posterior_prob_mcse": post[h].mcse,
            "posterior_prob_lower95": post[h].lower,
            "posterior_prob_upper95": post[h].upper,
            "posterior_prob_equal_odds": weight[h] / total if total > 0 else np.nan,
        }
        for other in HYPOTHESES:
            if other != h:
                value, _ = bayes_factor(post[h], post[other], prior[h], prior[other])
                row[f"bf_vs_{other}"] = np.nan if value is None else value
        rows.append(row)
    return pd.DataFrame(rows)


def threshold_grid(
    a: xr.DataArray,
    s: xr.DataArray,
    base: Thresholds,
    primary_values: np.ndarray,
    permissive_values: np.ndarray,
) -> pd.DataFrame:
    """Posterior probability of each hypothesis as one threshold moves, the other held."""
    rows = []
    for which, values in (("primary", primary_values), ("permissive", permissive_values)):
        for v in values:
            t = (
                Thresholds(primary=float(v), permissive=min(base.permissive, float(v)))
                if which == "primary"
                else Thresholds(primary=max(base.primary, float(v)), permissive=float(v))
            )
            ind = region_indicators(a.values, s.values, t)
            rows.append(
                {
                    "varied": which,
                    "primary_threshold": t.primary,
                    "permissive_threshold": t.permissive,
                }
                | {h: float(ind[h].mean()) for h in HYPOTHESES}
            )
    return pd.DataFrame(rows)
