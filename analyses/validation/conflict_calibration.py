"""Calibration of the conflict check on replicated data: under the model, its PIT is uniform.

The suite's check (:mod:`analyses.suite.conflict_replicates`) replicates a left-out study's
data from the leave-one-out refit, drawing the study's own parameters from their population
distributions given the others. If every study's data come from the model itself, the
left-out study's data are a draw from exactly that distribution (its conditional predictive
given the others), so where the observed statistic falls among the replicates, the
randomised PIT ``P(T < t) + V P(T = t)`` with ``V`` uniform, is uniform on (0, 1). A fault
anywhere on the way (the study's parameters not drawn from their population, the posterior
taken at the wrong study, a statistic oriented the wrong way for one form) makes it not so.

Each simulation draws the SBC design's parameters and data from the neutral prior (the same
design and the same draws as :mod:`analyses.validation.sbc`), leaves each of its four studies
out in turn, refits as the suite does (one model holding both variants, the study's terms
weighted 0), and replicates the study through the suite's own code. The banded three-arm
trial's counts are known to the fits only as bands; its PIT is taken at the simulated counts,
and the check's range of p over the band (what the report shows) must contain the p at them.

Also recorded: how often the two-sided mid-p the report shows falls below 0.05 and 0.10.
With discrete statistics (a few responders) mid-p is not exactly uniform, so those rates are
reported, not tested.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from analyses.validation.calibration import ECDF_BAND_PROB, SBC_MIN_P
from analyses.validation.sbc import DESIGN

# The mid-p levels whose rejection rates under the model are recorded.
LEVELS = (0.05, 0.10)


def randomised_pit(replicates: np.ndarray, observed: float, u: float) -> float:
    """``P(T < t) + u P(T = t)`` among the replicates ``T``: uniform under the model."""
    rep = np.ravel(replicates)
    below = float(np.mean(rep < observed))
    ties = float(np.mean(rep == observed))
    return below + u * ties


def fit_one(index: int, draw: dict, seed: int) -> dict:
    """One simulation: each design study left out, refitted, and checked on replicated data.

    A Dask task: self-contained, and its result depends only on its arguments.
    """
    from analyses.validation.sbc import _evidence, template_studies, with_observations
    from models.blockade import ModelOptions, build_blockade_model

    evidence, priors = _evidence(with_observations(template_studies(), draw, banded=True))
    options = ModelOptions(observations_as_data=True)
    full = build_blockade_model(evidence, priors, options)
    seeds = np.random.SeedSequence(seed).spawn(len(DESIGN))
    studies = {}
    for element, child in zip(DESIGN, seeds, strict=True):
        fit_seed, check_seed, u_seed = (int(x) for x in child.generate_state(3))
        studies[element.study_id] = _left_out(
            full, evidence, priors, options, element.study_id, draw, (fit_seed, check_seed, u_seed)
        )
    return {"simulation": index, "studies": studies}


def _left_out(full, evidence, priors, options, study: str, draw: dict, seeds) -> dict:
    """Leave ``study`` out, refit as the suite does, and place its simulated data."""
    from analyses.inference.sampling import SamplerSettings, fit_with_gate
    from analyses.suite.conflict_replicates import mid_p, replicated_statistics
    from models.blockade import Variant, build_variants_model
    from models.forms import form_of

    fit_seed, check_seed, u_seed = seeds
    others = evidence.subset({s.id for s in evidence.studies if s.id != study})
    # Variant 0 is the model's own data: the leave-one-out fit, with the study's terms off.
    model, _ = build_variants_model(
        [Variant(others, priors, options), Variant(evidence, priors, options)]
    )
    fit = fit_with_gate(model, SamplerSettings(seed=fit_seed), reuse=True, posterior_only=True)
    post = fit.idata["posterior"].to_dataset()
    # The design's studies report one item each.
    (found,) = replicated_statistics(full, evidence, options, post, study, check_seed)
    name = f"{study}__{found.item.id}"
    truth = {rv.name: np.asarray(draw[rv.name], dtype=float)[None] for rv in found.rvs}
    t = form_of(found.item.kind).attenuation_statistic(name, found.item, truth).values
    replicated = found.statistic.values
    u = float(np.random.default_rng(u_seed).uniform())
    p_range = mid_p(replicated, found.observed)
    return {
        "certified": fit.certified,
        "attempts": len(fit.attempts),
        "statistic": found.statistic.label,
        "observed": float(t.ravel()[0]),
        "pit": randomised_pit(replicated, float(t.ravel()[0]), u),
        "mid_p": float(mid_p(replicated, t)[0]),
        "p_low": float(np.min(p_range)),
        "p_high": float(np.max(p_range)),
    }


def summarise(records: list[dict]) -> dict:
    """Per left-out study: KS p of the PITs, mid-p rejection rates, and the range's consistency."""
    out = {}
    for element in DESIGN:
        rows = [r["studies"][element.study_id] for r in records]
        pit = np.array([r["pit"] for r in rows])
        mid = np.array([r["mid_p"] for r in rows])
        # The p at the simulated counts is one of the readings the range is taken over.
        outside = sum(not (r["p_low"] - 1e-12 <= r["mid_p"] <= r["p_high"] + 1e-12) for r in rows)
        ks_p = float(stats.kstest(pit, "uniform").pvalue)
        out[element.study_id] = {
            "kind": element.kind,
            "statistic": rows[0]["statistic"],
            "ks_p": ks_p,
            "bins": np.histogram(pit, bins=10, range=(0.0, 1.0))[0].tolist(),
            "rejection_rate": {str(a): float(np.mean(mid < a)) for a in LEVELS},
            "mid_p_outside_range": outside,
            "uncertified": sum(not r["certified"] for r in rows),
            "passed": ks_p > SBC_MIN_P and outside == 0,
        }
    return out


def pit_figure(records: list[dict], seed: int) -> Figure:
    """Each left-out study's PIT ECDF minus the uniform CDF, inside a simultaneous 95% band."""
    panels = [
        (
            np.array([r["studies"][e.study_id]["pit"] for r in records]),
            f"{e.study_id} left out\n({e.kind}, n = {e.n})",
        )
        for e in DESIGN
    ]
    title = f"Conflict check on replicated data, {len(records)} simulations from the model"
    return pit_panels(panels, seed, title, width=13)


def pit_panels(panels: list[tuple[np.ndarray, str]], seed: int, title: str, width: float):
    """A row of PIT panels (:func:`ecdf_panel`), each (PITs, panel title), under one title."""
    fig = Figure(figsize=(width, 3.6))
    axes = fig.subplots(1, len(panels))
    for ax, (pit, name) in zip(axes, panels, strict=True):
        ecdf_panel(ax, pit, seed, name)
    axes[0].set_ylabel("ECDF - uniform")
    fig.suptitle(
        f"{title}; grey: simultaneous {ECDF_BAND_PROB:.0%} band for uniform PITs", fontsize=10
    )
    fig.tight_layout()
    return fig


def ecdf_panel(ax, pit: np.ndarray, seed: int, title: str) -> None:
    """One panel: the PITs' ECDF minus the uniform CDF, and the simultaneous band for it."""
    from arviz_stats.ecdf_utils import ecdf_pit

    rng = np.random.default_rng(seed)
    x, ecdf, lower, upper = ecdf_pit(pit, ECDF_BAND_PROB, 1000, rng=rng)
    ax.fill_between(x, lower - x, upper - x, color="#bbbbbb", alpha=0.5, lw=0)
    ax.plot(x, ecdf - x, color="#0072b2", lw=1.5)
    ax.axhline(0, color="black", lw=0.5)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("PIT of its data among the replicates")
