"""Importance reweighting of the primary posterior, for scenarios that change only a prior.

A scenario that replaces the prior of some free parameters, and changes nothing else, has the
primary analysis's likelihood. Its posterior is the primary's times new prior / old prior, so
the primary's draws weighted by that ratio estimate it without a refit. Both priors are
densities of the same constrained parameters, so no Jacobian enters. The weights are
Pareto-smoothed (PSIS; Vehtari, Simpson, Gelman, Yao and Gabry 2024) and their k-hat decides:
below :data:`K_HAT_MAX` the weighted draws stand in for the refit; at or above it the scenario
is refitted, and the report says which was done.

A scenario is a candidate when its readings, studies and model options are the primary's,
every prior slot it changes is free in both (fixing a nuisance changes what is sampled, and a
fixed value changes the likelihood) with the new prior's support within the old one's (the
primary's draws never visit values only the new prior allows), and its model has the
primary's free variables.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import xarray as xr
from arviz_stats import ess

from analyses.inference.hypotheses import Thresholds, Weights
from analyses.inference.log_density import log_prior
from analyses.suite.scenarios import Scenario
from analyses.suite.table import posterior_row, primary_studies
from models.distributions import scipy_dist
from models.evidence.load import Evidence

# Vehtari et al. (2024), section 3: PSIS estimates are reliable for k-hat below
# min(1 - 1 / log10(S), 0.7); with S = 4000 draws that is 0.7 (0.72 before the cap).
K_HAT_MAX = 0.7
SAMPLE_DIMS = ("chain", "draw")


def changed_slots(scenario: Scenario, primary: Scenario) -> set[str] | None:
    """The prior slots a prior-only scenario changes; None if it changes anything else."""
    if scenario.kind != "sensitivity" or scenario.studies is not None:
        return None
    if scenario.readings != primary.readings or scenario.options != primary.options:
        return None
    mine, theirs = scenario.priors["slots"], primary.priors["slots"]
    changed = {k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k)}
    free = all(
        k in mine and k in theirs and "fixed" not in (mine[k]["dist"], theirs[k]["dist"])
        for k in changed
    )
    if not (changed and free):
        return None
    # The primary's draws never leave the primary prior's support: a new prior reaching beyond
    # it (a uniform widened, say) would be reweighted to a posterior cut off at the old bounds.
    return changed if all(_within(mine[k], theirs[k]) for k in changed) else None


def _within(new: dict, old: dict) -> bool:
    """Whether the support of prior ``new`` lies within that of prior ``old``."""
    (new_lo, new_hi), (old_lo, old_hi) = scipy_dist(new).support(), scipy_dist(old).support()
    return old_lo <= new_lo and new_hi <= old_hi


def log_ratio(new: xr.Dataset, old: xr.Dataset) -> xr.DataArray | None:
    """log new prior - log old prior per draw, summed over variables; None if they differ."""
    if set(new.data_vars) != set(old.data_vars):
        return None
    total = 0.0
    for name in new.data_vars:
        diff = new[name] - old[name]
        total = total + diff.sum([d for d in diff.dims if d not in SAMPLE_DIMS])
    return total


def slot_log_ratio(
    posterior: xr.Dataset, model, new: dict, old: dict, slots: set[str]
) -> xr.DataArray | None:
    """The log prior ratio of the changed ``slots`` alone, from their scipy densities.

    In a one-scenario model each prior slot is the free variable of its name, and the other
    variables' priors are the same under both specs, so the ratio is the changed slots' own.
    Their scipy twins (:func:`models.distributions.scipy_dist`, whose densities equal PyMC's)
    give it without building the scenario's model or its log-prior graph (0.7-0.8 s a
    scenario, nine a run). None when a slot is not a free variable of ``model`` (then the
    general :func:`log_ratio` of both models' log priors is used).
    """
    free = {rv.name for rv in model.free_RVs}
    if not slots <= free:
        return None
    total = 0.0
    for slot in sorted(slots):
        x = posterior[slot]
        diff = scipy_dist(new[slot]).logpdf(x.values) - scipy_dist(old[slot]).logpdf(x.values)
        total = total + x.copy(data=diff).sum([d for d in x.dims if d not in SAMPLE_DIMS])
    return total


def psis_weights(ratio: xr.DataArray) -> Weights:
    """Pareto-smoothed importance weights for log ratios over (chain, draw)."""
    ratio = ratio.transpose(*SAMPLE_DIMS)
    shifted = np.exp(ratio - ratio.max())
    r_eff = float(ess(xr.Dataset({"w": shifted}), method="mean")["w"]) / ratio.size
    r_eff = min(max(r_eff, 1.0 / ratio.size), 1.0)
    if float(ratio.max() - ratio.min()) < 1e-12:
        # The changed prior never enters this model: the posterior is the primary's.
        w = np.full(ratio.shape, 1.0 / ratio.size)
        return Weights(w, r_eff / float(np.sum(w**2)), r_eff, float("nan"))
    # arviz-stats smooths the weights exp(-x) of leave-one-out, so the ratio goes in negated.
    smoothed, k_hat = (-ratio).azstats.psislw(dim=list(SAMPLE_DIMS), r_eff=r_eff)
    log_w = smoothed.transpose(*SAMPLE_DIMS).values
    w = np.exp(log_w - log_w.max())
    w = w / w.sum()
    return Weights(w, r_eff / float(np.sum(w**2)), r_eff, float(k_hat))


def _row(scenario: Scenario, primary, weights: Weights, thresholds: Thresholds) -> dict:
    post = primary.idata["posterior"]
    row = posterior_row(scenario, post, thresholds, primary.certified, [], weights)
    return row | {"importance_ess": round(weights.ess, 1), "studies": primary_studies(primary)}


def reweight_scenarios(
    base: Evidence,
    primary,
    primary_scenario: Scenario,
    scenarios: list[Scenario],
    thresholds: Thresholds,
) -> tuple[dict[str, dict], dict[str, float]]:
    """Rows for the prior-only scenarios PSIS can stand in for, and every candidate's k-hat.

    Returns ``(rows, k_hats)``: ``rows`` maps a reweighted scenario to its table row;
    ``k_hats`` holds the k-hat of every candidate, reweighted or not (a candidate at or above
    :data:`K_HAT_MAX` is left for a refit).
    """
    from analyses.suite.worker import model_for

    posterior = primary.idata["posterior"].to_dataset()
    old_priors = primary_scenario.priors["slots"]
    old = None  # the primary's log prior, computed if a scenario needs the general route
    rows: dict[str, dict] = {}
    k_hats: dict[str, float] = {}
    for sc in scenarios:
        slots = changed_slots(sc, primary_scenario)
        if slots is None:
            continue
        started = time.monotonic()
        new_priors = sc.priors["slots"]
        ratio = slot_log_ratio(posterior, primary.model, new_priors, old_priors, slots)
        if ratio is None:
            old = log_prior(posterior, primary.model) if old is None else old
            ratio = log_ratio(log_prior(posterior, model_for(base, sc)), old)
        if ratio is None:
            continue
        weights = psis_weights(ratio)
        k_hats[sc.name] = weights.k_hat
        if weights.k_hat >= K_HAT_MAX:  # NaN (the prior never enters) is reweighted
            continue
        seconds = round(time.monotonic() - started, 2)
        rows[sc.name] = _row(sc, primary, weights, thresholds) | {"seconds": seconds}
    return rows, k_hats


def describe(rows: dict[str, dict], k_hats: dict[str, float], say: Callable[[str], None]) -> None:
    """One line for what was reweighted and one for the candidates that are refitted."""
    if rows:
        ks = ", ".join(f"{n} (k {k_hats[n]:.2f})" for n in rows)
        say(f"      reweighted from the primary posterior, no refit: {ks}")
    refit = [n for n in k_hats if n not in rows]
    if refit:
        ks = ", ".join(f"{n} (k {k_hats[n]:.2f})" for n in refit)
        say(f"      prior-only but refitted, Pareto k >= {K_HAT_MAX}: {ks}")
