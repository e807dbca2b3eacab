"""What the SBC simulations say: uniformity of ranks, and calibration of P(hypothesis).

Pure summaries of the per-simulation records of :func:`analyses.validation.sbc.fit_one`, and
their two figures.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from analyses.inference.hypotheses import HYPOTHESES
from analyses.validation.sbc import PARAMETERS, RANK_DRAWS

# A rank-uniformity test fails below this p-value (a KS test of the randomised PIT; with six
# parameters, a correct model fails one of them about 6% of the time per validation run).
SBC_MIN_P = 0.01
# Reliability bins of the stated probabilities.
RELIABILITY_BINS = np.linspace(0.0, 1.0, 11)
# The rank ECDF band's coverage (simultaneous, by simulation: Säilynoja et al. 2022).
ECDF_BAND_PROB = 0.95


def randomised_pit(ranks: np.ndarray, seed: int) -> np.ndarray:
    """(rank + U) / (L + 1): continuous and exactly uniform when the ranks are (ties broken)."""
    u = np.random.default_rng(seed).uniform(size=len(ranks))
    return (np.asarray(ranks) + u) / (RANK_DRAWS + 1)


def rank_summary(records: list[dict], seed: int) -> dict:
    """Per parameter: KS p-value of the randomised PIT, rank histogram (10 bins), verdict."""
    out = {}
    for k, label in enumerate(PARAMETERS):
        ranks = np.array([r["ranks"][label] for r in records])
        pit = randomised_pit(ranks, seed + k)
        p = float(stats.kstest(pit, "uniform").pvalue)
        bins = np.histogram(pit, bins=10, range=(0.0, 1.0))[0]
        out[label] = {"ks_p": p, "bins": bins.tolist(), "passed": p > SBC_MIN_P}
    return out


def hypothesis_calibration(records: list[dict]) -> dict:
    """Reliability of the stated P(hypothesis), and Brier scores against the prior's.

    Every (simulation, hypothesis) pair is one forecast of one event: the stated probability,
    and whether the true (beta_acute, beta_sustained) was in that region. The Brier score sums
    the four hypotheses' squared errors and averages over simulations; the baseline states the
    prior probabilities every time.
    """
    stated = np.array([[r["posterior_prob"][h] for h in HYPOTHESES] for r in records])
    prior = np.array([[r["prior_prob"][h] for h in HYPOTHESES] for r in records])
    truth = np.array([[r["true_hypothesis"] == h for h in HYPOTHESES] for r in records], float)
    flat_p, flat_y = stated.ravel(), truth.ravel()
    index = np.clip(np.digitize(flat_p, RELIABILITY_BINS) - 1, 0, len(RELIABILITY_BINS) - 2)
    bins = []
    for b in range(len(RELIABILITY_BINS) - 1):
        mask = index == b
        n = int(mask.sum())
        bins.append(
            {
                "lower": float(RELIABILITY_BINS[b]),
                "upper": float(RELIABILITY_BINS[b + 1]),
                "forecasts": n,
                "mean_stated": float(flat_p[mask].mean()) if n else None,
                "observed": float(flat_y[mask].mean()) if n else None,
            }
        )
    brier = float(((stated - truth) ** 2).sum(axis=1).mean())
    baseline = float(((prior - truth) ** 2).sum(axis=1).mean())
    return {
        "bins": bins,
        "brier": brier,
        "brier_prior": baseline,
        "skill": 1.0 - brier / baseline if baseline > 0 else None,
        "frequency": {h: float(truth[:, i].mean()) for i, h in enumerate(HYPOTHESES)},
        "mean_stated": {h: float(stated[:, i].mean()) for i, h in enumerate(HYPOTHESES)},
    }


def rank_ecdf_figure(records: list[dict], seed: int) -> Figure:
    """The rank ECDF minus the uniform CDF, per parameter, inside a simultaneous 95% band."""
    from arviz_stats.ecdf_utils import ecdf_pit

    fig = Figure(figsize=(12, 6.5))
    axes = fig.subplots(2, 3).ravel()
    for k, (ax, label) in enumerate(zip(axes, PARAMETERS, strict=True)):
        pit = randomised_pit(np.array([r["ranks"][label] for r in records]), seed + k)
        rng = np.random.default_rng(seed)
        x, ecdf, lower, upper = ecdf_pit(pit, ECDF_BAND_PROB, 1000, rng=rng)
        ax.fill_between(x, lower - x, upper - x, color="#bbbbbb", alpha=0.5, lw=0)
        ax.plot(x, ecdf - x, color="#0072b2", lw=1.5)
        ax.axhline(0, color="black", lw=0.5)
        var = PARAMETERS[label]
        ax.set_title(label if var == label else f"{label} ({var})", fontsize=10)
        ax.set_xlabel("fractional rank of the true value")
        ax.set_ylabel("ECDF - uniform")
    fig.suptitle(
        f"SBC of the blockade model: {len(records)} simulations; grey: simultaneous "
        f"{ECDF_BAND_PROB:.0%} band for uniform ranks",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def wilson_interval(successes: np.ndarray, n: np.ndarray, z: float = 1.96):
    """Wilson's 95% interval for a binomial proportion (sensible at 0 and 1, unlike Wald's)."""
    p = successes / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return centre - half, centre + half


# The reliability figure's room beyond [0, 1] on each axis.
RELIABILITY_MARGIN = 0.05


def reliability_figure(calibration: dict) -> Figure:
    """Stated P(hypothesis) against how often the hypothesis was true, by bin."""
    fig = Figure(figsize=(5.5, 5.5))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="#999999", lw=1, ls="--", label="perfect calibration")
    used = [b for b in calibration["bins"] if b["forecasts"]]
    x = [b["mean_stated"] for b in used]
    y = [b["observed"] for b in used]
    n = np.array([b["forecasts"] for b in used])
    lower, upper = wilson_interval(np.array(y) * n, n)
    yerr = [np.array(y) - lower, upper - np.array(y)]
    ax.errorbar(x, y, yerr=yerr, fmt="o", color="#0072b2", label="simulations (95% interval)")
    for xi, yi, ni in zip(x, y, n, strict=True):
        ax.annotate(str(ni), (xi, yi), textcoords="offset points", xytext=(8, -10), fontsize=7)
    # A margin around [0, 1], so a point at 0 or 1 (and its count) is drawn whole.
    ax.set_xlim(-RELIABILITY_MARGIN, 1 + RELIABILITY_MARGIN)
    ax.set_ylim(-RELIABILITY_MARGIN, 1 + RELIABILITY_MARGIN)
    ax.set_xlabel("stated posterior probability of a hypothesis")
    ax.set_ylabel("fraction of simulations where it was true")
    ax.set_title(
        f"Brier score {calibration['brier']:.3f} (prior alone: {calibration['brier_prior']:.3f})\n"
        "beside each point: its bin's forecasts (one per simulation and hypothesis)",
        fontsize=10,
    )
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig
