"""Bayes factors between regions of (beta_acute, beta_sustained): the answer, question by question.

A Bayes factor between two regions A and B of parameter space is posterior odds over prior
odds, ``[P(A | y) / P(B | y)] / [P(A) / P(B)]``. Prior masses are exact (independent priors on
the two blockade fractions; rectangles, or the half-plane of the regimen difference). Posterior
masses come from the draws. The Monte Carlo SE of ``log10 BF`` is the delta method with the
chains' autocorrelation: ``log p_A - log p_B`` moves with the mean of ``g = 1_A/p_A - 1_B/p_B``,
so its SE is ``sd(g) / sqrt(ESS(g))``. A region with fewer than ``MIN_EFFECTIVE_DRAWS``
effective draws gives a one-sided bound, never a number.

The words are Jeffreys' scale as Kass & Raftery (1995) give it, on ``|log10 BF|``: below 1/2
"not worth more than a bare mention", 1/2-1 "substantial", 1-2 "strong", above 2 "decisive".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from arviz_stats import ess
from scipy import integrate

from analyses.inference.hypotheses import (
    HYPOTHESES,
    MIN_EFFECTIVE_DRAWS,
    Thresholds,
    parameter_ess,
    posterior_probability,
    prior_probabilities,
    region_indicators,
)
from models.distributions import scipy_dist

# Jeffreys' bands on |log10 BF| (Kass & Raftery 1995, section 3.2), and their words.
BANDS = ((0.5, "not worth more than a bare mention"), (1.0, "substantial"), (2.0, "strong"))
DECISIVE = "decisive"
CANNOT_TELL = 0.5  # |log10 BF| below this: the data cannot tell the two regions apart


def evidence_words(log10_bf: float) -> str:
    """The Kass-Raftery (Jeffreys) band of a Bayes factor, with its direction."""
    if not np.isfinite(log10_bf):
        return "not estimable"
    size = abs(log10_bf)
    band = next((words for edge, words in BANDS if size < edge), DECISIVE)
    if size < BANDS[0][0]:
        return band
    return f"{band}, {'for' if log10_bf > 0 else 'against'}"


def bound_words(bound: str, log10_bf: float) -> str:
    """Words for a Bayes factor known only as a bound: the band it is at least in, if any."""
    away_from_one = (bound == ">" and log10_bf > 0) or (bound == "<" and log10_bf < 0)
    if away_from_one and abs(log10_bf) >= BANDS[0][0]:
        return f"at least {evidence_words(log10_bf)}"
    return "a bound only; the band is not known"


def band_index(log10_bf: float) -> int:
    """Band number of |log10 BF|: 0 bare mention, 1 substantial, 2 strong, 3 decisive."""
    size = abs(log10_bf)
    return next((i for i, (edge, _) in enumerate(BANDS) if size < edge), len(BANDS))


def same_band_and_direction(log10_bf: float, reference: float) -> bool:
    """Whether a Bayes factor says what ``reference`` says: the same band, and beyond the band
    of a bare mention the same side of 1.

    Within that band the words (:func:`evidence_words`) give no direction: a Bayes factor of
    1.7 and one of 0.7 both say the data cannot tell the regions apart, so they agree. Which
    side of 1 such a scenario falls is reported on its own (:func:`reverses_within_bare_band`).
    """
    if not (np.isfinite(log10_bf) and np.isfinite(reference)):
        return False
    if band_index(log10_bf) != band_index(reference):
        return False
    return bool(band_index(reference) == 0 or np.sign(log10_bf) == np.sign(reference))


def reverses_within_bare_band(log10_bf: float, reference: float, mcse: float = 0.0) -> bool:
    """Both within the band of a bare mention, on opposite sides of 1: the lean reverses.

    ``mcse`` is ``log10_bf``'s Monte Carlo SE: within two of them of 1 a Bayes factor has no
    side to speak of, and nothing reverses.
    """
    if not (np.isfinite(log10_bf) and np.isfinite(reference)):
        return False
    both_bare = band_index(log10_bf) == band_index(reference) == 0
    clear = abs(log10_bf) > 2.0 * (mcse if np.isfinite(mcse) else np.inf)
    return bool(both_bare and clear and np.sign(log10_bf) * np.sign(reference) < 0)


def log10_ratio_mcse(p_a: float, mcse_a: float, p_b: float, mcse_b: float) -> float:
    """MCSE of log10(p_a / p_b) from two region probabilities and their MCSEs (delta method).

    The two regions are disjoint, so their estimates are negatively correlated: as shares of
    one sample of ``n`` effective draws, cov = -p_a p_b / n, which adds 2 / n to the variance of
    the log ratio; ``n`` is taken as the smaller of the two regions' implied ESS.
    """
    if min(p_a, p_b) <= 0 or not np.isfinite(mcse_a + mcse_b):
        return float("nan")
    if mcse_a <= 0 or mcse_b <= 0:
        return 0.0
    n = min(p_a * (1 - p_a) / mcse_a**2, p_b * (1 - p_b) / mcse_b**2)
    variance = (mcse_a / p_a) ** 2 + (mcse_b / p_b) ** 2 + 2.0 / n
    return float(np.sqrt(variance) / np.log(10.0))


def near_band_edge(log10_bf: float, mcse: float) -> bool:
    """Whether a band edge lies within two Monte Carlo SEs of ``|log10 BF|``."""
    if not (np.isfinite(log10_bf) and np.isfinite(mcse)):
        return False
    return any(abs(abs(log10_bf) - edge) < 2.0 * mcse for edge, _ in BANDS)


@dataclass(frozen=True)
class Region:
    """A region of (beta_acute, beta_sustained): its indicator over draws and its prior mass."""

    name: str
    indicator: Callable[[np.ndarray, np.ndarray], np.ndarray]
    prior: float


def _cdf(spec: dict) -> Callable[[float], float]:
    if spec["dist"] == "fixed":
        return lambda x: float(spec["value"] < x)
    dist = scipy_dist(spec)
    return lambda x: float(dist.cdf(x))


def prior_delta_positive(spec_acute: dict, spec_sustained: dict) -> float:
    """Exact prior P(beta_acute > beta_sustained) under independent priors."""
    if spec_acute["dist"] == "fixed":
        return _cdf(spec_sustained)(spec_acute["value"])
    if spec_sustained["dist"] == "fixed":
        return 1.0 - _cdf(spec_acute)(spec_sustained["value"])
    a, s_cdf = scipy_dist(spec_acute), scipy_dist(spec_sustained)
    lo, hi = a.ppf(1e-12), a.ppf(1.0 - 1e-12)
    value, _ = integrate.quad(lambda x: a.pdf(x) * s_cdf.cdf(x), lo, hi, limit=200)
    return float(value)


def regions(spec_acute: dict, spec_sustained: dict, t: Thresholds) -> dict[str, Region]:
    """The four hypotheses and the regions of the acute, sustained and regimen questions."""
    fa, fs = _cdf(spec_acute), _cdf(spec_sustained)
    hyp = prior_probabilities(spec_acute, spec_sustained, t)
    out = {
        h: Region(h, lambda a, s, h=h: region_indicators(a, s, t)[h], hyp[h]) for h in HYPOTHESES
    }
    p_delta = prior_delta_positive(spec_acute, spec_sustained)
    more = [
        Region("sustained >= P", lambda a, s: s >= t.primary, 1 - fs(t.primary)),
        Region("sustained < P", lambda a, s: s < t.primary, fs(t.primary)),
        Region("acute >= P", lambda a, s: a >= t.primary, 1 - fa(t.primary)),
        Region(
            "Q <= acute < P",
            lambda a, s: (a >= t.permissive) & (a < t.primary),
            fa(t.primary) - fa(t.permissive),
        ),
        Region("acute < Q", lambda a, s: a < t.permissive, fa(t.permissive)),
        # The two parts of 'permissive': strong blockade when acute only, or partial blockade.
        Region(
            "acute >= P, sustained < P",
            lambda a, s: (a >= t.primary) & (s < t.primary),
            (1 - fa(t.primary)) * fs(t.primary),
        ),
        Region("acute > sustained", lambda a, s: a > s, p_delta),
        Region("acute <= sustained", lambda a, s: a <= s, 1.0 - p_delta),
    ]
    return out | {r.name: r for r in more}


def questions() -> list[tuple[str, str, str]]:
    """(question, numerator region, denominator region), the headline first."""
    headline = [("permissive vs primary", "permissive", "primary")]
    pairs = [
        (f"{a} vs {b}", a, b)
        for i, a in enumerate(HYPOTHESES)
        for b in HYPOTHESES[i + 1 :]
        if {a, b} != {"permissive", "primary"}
    ]
    return [
        *headline,
        ("sustained: beta_sustained >= P vs < P", "sustained >= P", "sustained < P"),
        ("acute: beta_acute >= P vs between Q and P", "acute >= P", "Q <= acute < P"),
        ("acute: beta_acute >= P vs < Q", "acute >= P", "acute < Q"),
        ("acute: between Q and P vs < Q", "Q <= acute < P", "acute < Q"),
        (
            "regimen difference: beta_acute > beta_sustained vs <=",
            "acute > sustained",
            "acute <= sustained",
        ),
        # 'permissive' split into its two parts, each against 'primary'.
        ("permissive (acute only, strong) vs primary", "acute >= P, sustained < P", "primary"),
        ("permissive (partial, acute between Q and P) vs primary", "Q <= acute < P", "primary"),
        *pairs,
    ]


# The acute question whose Bayes factor every scenario records (sensitivity.csv): a strong
# acute block against none, the strongest of the acute Bayes factors in the shipped run.
ACUTE_STRONG_VS_NONE = ("acute: beta_acute >= P vs < Q", "acute >= P", "acute < Q")


def acute_strong_vs_none(
    a: np.ndarray,
    s: np.ndarray,
    spec_acute: dict,
    spec_sustained: dict,
    t: Thresholds,
    weights: np.ndarray | None = None,
) -> float:
    """The Bayes factor of β acute ≥ P against β acute < Q from draws (``weights``: normalised
    importance weights, one per draw); NaN when either region holds fewer than
    ``MIN_EFFECTIVE_DRAWS`` draws or has no prior mass."""
    found = regions(spec_acute, spec_sustained, t)
    num, den = (found[name] for name in ACUTE_STRONG_VS_NONE[1:])
    a, s = np.ravel(a), np.ravel(s)
    in_num, in_den = num.indicator(a, s), den.indicator(a, s)
    if min(in_num.sum(), in_den.sum()) < MIN_EFFECTIVE_DRAWS or min(num.prior, den.prior) <= 0:
        return float("nan")
    w = np.full(a.size, 1.0 / a.size) if weights is None else np.ravel(weights)
    return float(np.sum(w * in_num) / np.sum(w * in_den) / (num.prior / den.prior))


def _log_ratio_mcse(in_a: xr.DataArray, in_b: xr.DataArray, p_a: float, p_b: float) -> float:
    """MCSE of log(p_a / p_b) by the delta method, with the chains' ESS."""
    g = in_a.astype(float) / p_a - in_b.astype(float) / p_b
    values = g.values
    if np.ptp(values) == 0:
        return 0.0
    n_eff = float(ess(xr.Dataset({"g": g}), method="mean")["g"])
    n_eff = min(max(n_eff, 1.0), values.size)
    return float(values.std(ddof=1) / np.sqrt(n_eff))


def compare(
    a: xr.DataArray, s: xr.DataArray, num: Region, den: Region, fallback_ess: float
) -> dict:
    """One row of bayes_factors.csv: the BF of ``num`` against ``den``, or a bound."""
    in_num = xr.DataArray(num.indicator(a.values, s.values), dims=a.dims, coords=a.coords)
    in_den = xr.DataArray(den.indicator(a.values, s.values), dims=a.dims, coords=a.coords)
    p_num = posterior_probability(in_num, fallback_ess)
    p_den = posterior_probability(in_den, fallback_ess)
    row = {
        "prior_odds": np.nan,
        "posterior_odds": np.nan,
        "bf": np.nan,
        "log10_bf": np.nan,
        "log10_bf_mcse": np.nan,
        "bound": "",
    }
    if num.prior <= 0 or den.prior <= 0:
        return row | {"evidence": "not estimable"}
    prior_odds = num.prior / den.prior
    row["prior_odds"] = prior_odds
    if p_num.sparse and p_den.sparse:
        return row | {"evidence": "not estimable"}
    if p_num.sparse or p_den.sparse:
        # Only a bound: the sparse region's one-sided Clopper-Pearson bound at its ESS.
        bf = (p_num.upper / p_den.prob if p_num.sparse else p_num.prob / p_den.upper) / prior_odds
        row |= {"bf": bf, "log10_bf": np.log10(bf), "bound": "<" if p_num.sparse else ">"}
        return row | {"evidence": bound_words(row["bound"], np.log10(bf))}
    bf = p_num.prob / p_den.prob / prior_odds
    mcse = _log_ratio_mcse(in_num, in_den, p_num.prob, p_den.prob) / np.log(10.0)
    row |= {
        "posterior_odds": p_num.prob / p_den.prob,
        "bf": bf,
        "log10_bf": np.log10(bf),
        "log10_bf_mcse": mcse,
    }
    return row | {"evidence": evidence_words(np.log10(bf))}


def headline_bf(
    a: xr.DataArray, s: xr.DataArray, spec_acute: dict, spec_sustained: dict, t: Thresholds
) -> dict:
    """The headline question's row alone (permissive vs primary, as in :func:`questions`)."""
    hyp = prior_probabilities(spec_acute, spec_sustained, t)
    num, den = (
        Region(h, lambda a, s, h=h: region_indicators(a, s, t)[h], hyp[h])
        for h in ("permissive", "primary")
    )
    return compare(a, s, num, den, parameter_ess(a, s))


def bayes_factor_table(
    a: xr.DataArray, s: xr.DataArray, spec_acute: dict, spec_sustained: dict, t: Thresholds
) -> pd.DataFrame:
    """bayes_factors.csv: one row per question, the headline (permissive vs primary) first.

    Columns: question, numerator, denominator, prior_odds, posterior_odds, bf, log10_bf,
    log10_bf_mcse, bound ('', '<' or '>'), evidence (Kass-Raftery words).
    """
    found = regions(spec_acute, spec_sustained, t)
    fallback = parameter_ess(a, s)
    rows = []
    for question, num, den in questions():
        rows.append(
            {"question": question, "numerator": num, "denominator": den}
            | compare(a, s, found[num], found[den], fallback)
        )
    return pd.DataFrame(rows)
