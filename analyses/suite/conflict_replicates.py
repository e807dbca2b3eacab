"""The conflict check on the data scale: a left-out study's data replicated from the others.

Marshall & Spiegelhalter's (2007) mixed-predictive check. In a leave-one-out refit the left-out
study's own parameters stay in the model with its data switched off: its β_s and ketamine
effect δ_s are drawn from their regimen's and comparator's population distributions, its
nuisances (response probits, non-specific improvement, specific share) from their priors,
and everything shared from the posterior given the other studies. Replicating the study's
data at each draw, from its own likelihood, gives the distribution its data would have if it
agreed with the others and the model. Where its observed data fall in that distribution is
the check: no normal approximation, every source of uncertainty the model carries included.

The data are summarised by one number per item, oriented so that larger means naltrexone
removed more (each form's ``attenuation_statistic``), and the p-value is two-sided mid-p (a
discrete statistic's ties count half). A number known only as a range (Yoon 2025's counts)
gives a range of p: the smallest and largest over every reading the range allows.

A study with several items is checked on all of them at once: its p is that of the smallest
item p, calibrated against the same minimum over the replicates (:func:`study_p`). The items
are replicated together at each draw, so the calibration carries their dependence (they share
the study's parameters), and a study with more items is not more often flagged for having them.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from analyses.inference.intervals import interval
from analyses.inference.predictive import NotInPosterior, replicate
from models.blockade import bounded_observations, observed_items
from models.evidence.validate import usable
from models.forms import form_of
from models.forms.base import Statistic

if TYPE_CHECKING:
    import pymc as pm
    import xarray as xr

    from models.blockade import ModelOptions
    from models.evidence.load import Evidence

# The columns a leave-one-out row adds to sensitivity.csv (docs/outputs.md).
PREFIX = "left_out_check"
# Readings of numbers known only as ranges that the check enumerates, at most; beyond it the
# ranges' ends alone are read (Yoon 2025's three counts give 64 readings).
MAX_READINGS = 100_000


class CheckUnavailable(Exception):
    """The check cannot be made for this study; the message says why."""


def mid_p(replicates: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Two-sided mid-p of each observed value among the replicates.

    ``2 min(P(T < t) + P(T = t) / 2, P(T > t) + P(T = t) / 2)``, at most 1.
    """
    rep = np.sort(np.ravel(replicates))
    t = np.atleast_1d(np.asarray(observed, dtype=float))
    below = np.searchsorted(rep, t, "left") / rep.size
    ties = np.searchsorted(rep, t, "right") / rep.size - below
    above = 1.0 - below - ties
    return np.minimum(1.0, 2.0 * np.minimum(below + ties / 2, above + ties / 2))


def check_seed(seed: int, study: str) -> int:
    """The replicates' seed: the refits' seed and the study, the same in every process."""
    return int(np.random.SeedSequence([seed, zlib.crc32(study.encode())]).generate_state(1)[0])


def left_out_check(
    model: pm.Model,
    evidence: Evidence,
    options: ModelOptions,
    posterior: xr.Dataset,
    study: str,
    seed: int,
) -> dict:
    """The left-out study's observed statistic against its replicates, as sensitivity.csv columns.

    ``model`` is the analysis with the study in (its observed variables are replicated),
    ``posterior`` the leave-one-out refit's. A study the check cannot be made for gets a
    ``left_out_check_note`` saying why.
    """
    try:
        return _check(model, evidence, options, posterior, study, seed)
    except (CheckUnavailable, NotInPosterior) as why:
        return {f"{PREFIX}_note": str(why)}


def _check(model, evidence, options, posterior, study, seed) -> dict:
    found = replicated_statistics(model, evidence, options, posterior, study, seed)
    item_p = [mid_p(f.statistic.values, f.observed) for f in found]
    # The columns describe the item that disagrees most (the only one, usually).
    shown = found[int(np.argmin([np.min(p) for p in item_p]))]
    replicated, observed = shown.statistic.values, shown.observed
    ci = interval()
    lb, ub = ci.bounds(replicated.ravel())
    row = {
        f"{PREFIX}_item": shown.item.id,
        f"{PREFIX}_statistic": shown.statistic.label,
        f"{PREFIX}_observed_low": float(np.min(observed)),
        f"{PREFIX}_observed_high": float(np.max(observed)),
        f"{PREFIX}_replicated_median": float(np.median(replicated)),
        f"{PREFIX}_replicated_{ci.columns[0]}": float(lb),
        f"{PREFIX}_replicated_{ci.columns[1]}": float(ub),
    }
    if len(found) == 1:
        low, high = float(np.min(item_p[0])), float(np.max(item_p[0]))
    else:
        low, high = study_p([f.statistic.values for f in found], [f.observed for f in found])
        row[f"{PREFIX}_statistic"] += (
            f" ({shown.item.id}, the most discrepant of {len(found)} items)"
        )
        row[f"{PREFIX}_items"] = ", ".join(
            f"{f.item.id} ({f.statistic.label}): {_range_text(p)}"
            for f, p in zip(found, item_p, strict=True)
        )
    return row | {f"{PREFIX}_p": low, f"{PREFIX}_p_high": high}


def _range_text(p: np.ndarray) -> str:
    low, high = f"{np.min(p):.2f}", f"{np.max(p):.2f}"
    return f"p {low}" if low == high else f"p {low} to {high}"


def study_p(replicated: list[np.ndarray], observed: list[np.ndarray]) -> tuple[float, float]:
    """A study's p over several items: its smallest item p, calibrated by the replicates.

    ``replicated`` holds each item's statistic at the same draws, in the same order (so the
    items' dependence is kept); ``observed`` each item's observed statistic, one per reading.
    The smallest observed item p is placed among the smallest item p of each replicated draw:
    the one-sided mid-p of that minimum (:func:`pooled_minima` says how the item p are taken).
    Returns the study's p at the readings giving the smallest and the largest minimum (each
    item read where its own p is smallest, or largest: the readings of different items are
    independent, and the p grows with the minimum).
    """
    item_p = [mid_p(r, o) for r, o in zip(replicated, observed, strict=True)]

    def calibrated(pick) -> float:
        chosen = [np.ravel(o)[pick(p)] for o, p in zip(observed, item_p, strict=True)]
        smallest, minima = pooled_minima(replicated, chosen)
        below = np.searchsorted(minima, smallest, "left")
        ties = np.searchsorted(minima, smallest, "right") - below
        return float((below + ties / 2) / minima.size)

    return calibrated(np.argmin), calibrated(np.argmax)


def pooled_minima(
    replicated: list[np.ndarray], observed: Sequence[float]
) -> tuple[float, np.ndarray]:
    """The smallest item p of the observed data, and of each replicated draw (sorted).

    Every item p, the observed data's and each replicate's, is the two-sided mid-p among all
    the others of the pool (the replicates and the observed value, itself left out), so that
    a replicate equal to the observed data on every item has exactly its p. Under the model the
    observed data and the replicates are exchangeable, and so are their minima: the observed
    minimum's rank among the replicates' is uniform (ties broken at random). Taking a
    replicate's p among the other replicates only (the code until 2026-12-04) made it slightly
    smaller than an equal observed value's, so a tie counted as a replicate below: with two
    count items the study p came out too large where counts tie (`make validate`'s two-item
    calibration found it). The observed item p are :func:`mid_p`'s.
    """
    per_item = [
        _mid_p_among_others(np.append(np.ravel(r), o))
        for r, o in zip(replicated, observed, strict=True)
    ]
    minima = np.min(per_item, axis=0)
    return float(minima[-1]), np.sort(minima[:-1])


def _mid_p_among_others(replicates: np.ndarray) -> np.ndarray:
    """Each value's two-sided mid-p among the others (:func:`mid_p` without itself).

    Counting a value as a tie with itself would give it half a draw more than the others
    get: with few draws, the study p of several items came out too small (a reviewer's
    simulation: P(p < 0.05) 0.10 with 50 draws, 0.050 without the self-tie).
    """
    values = np.ravel(replicates)
    ordered = np.sort(values)
    others = values.size - 1
    below = np.searchsorted(ordered, values, "left")
    ties = np.searchsorted(ordered, values, "right") - below - 1
    above = others - below - ties
    return np.minimum(1.0, 2.0 * np.minimum(below + ties / 2, above + ties / 2) / others)


@dataclass(frozen=True)
class Replicated:
    """A left-out study's item: its statistic replicated at each posterior draw, and observed.

    ``observed`` has one value per reading its reported ranges allow (:func:`observed_readings`);
    ``rvs`` are the item's observed variables in the model that was replicated.
    """

    item: Any
    rvs: list
    statistic: Statistic
    observed: np.ndarray


def replicated_statistics(
    model: pm.Model,
    evidence: Evidence,
    options: ModelOptions,
    posterior: xr.Dataset,
    study: str,
    seed: int,
) -> list[Replicated]:
    """Each of the left-out study's items with a statistic, replicated from ``posterior``.

    The arguments are :func:`left_out_check`'s. The items' data are replicated together, one
    joint draw per posterior draw. The calibration of the check in `make validate` calls
    this too, so that it checks the code the suite runs.

    Raises
    ------
    CheckUnavailable, NotInPosterior
        If the study is not in the analysis, has no item with a statistic, or the posterior
        lacks one of the model's free variables.
    """
    found = {s.id: s for s in evidence.studies}
    if study not in found:
        raise CheckUnavailable(f"{study} is not among the analysis's studies")
    names = observed_items(model)
    candidates = []
    for item in (it for it in found[study].evidence if usable(it)):
        rvs = [rv for rv in model.observed_RVs if names[rv.name][:2] == (study, item.id)]
        if rvs:
            candidates.append((item, rvs))
    if not candidates:
        raise CheckUnavailable(f"no item of {study} has a statistic to replicate")
    draws = replicate(model, posterior, [rv for _, rvs in candidates for rv in rvs], seed)
    bounds = bounded_observations(evidence, options)
    out = []
    for item, rvs in candidates:
        name = f"{study}__{item.id}"
        form = form_of(item.kind)
        statistic = form.attenuation_statistic(name, item, draws)
        if statistic is None:
            continue
        observed = form.attenuation_statistic(name, item, observed_readings(model, rvs, bounds))
        out.append(Replicated(item, rvs, statistic, observed.values))
    if not out:
        raise CheckUnavailable(f"no item of {study} has a statistic to replicate")
    return out


def observed_readings(model: pm.Model, rvs: list, bounds: dict) -> dict[str, np.ndarray]:
    """Every reading of the observed variables ``rvs`` that their reported ranges allow.

    Each value has a leading axis over the readings, the same length for all: the product of
    the ranges of those known only as a range (``bounds``, name -> (lower, upper)), or just
    their ends if that product exceeds :data:`MAX_READINGS`.
    """
    values = {rv.name: _observed_value(model, rv) for rv in rvs}
    ranged = [n for n in values if n in bounds]
    spans = [np.arange(bounds[n][0], bounds[n][1] + 1, dtype=float) for n in ranged]
    if np.prod([s.size for s in spans], dtype=float) > MAX_READINGS:
        spans = [np.unique([s[0], s[-1]]) for s in spans]
    readings = list(itertools.product(*spans))  # [()] when no number is a range
    combos = np.array(readings, dtype=float).reshape(len(readings), len(ranged))
    out = {}
    for name, value in values.items():
        if name in ranged:
            out[name] = combos[:, ranged.index(name)]
        else:
            out[name] = np.broadcast_to(value, (len(combos), *np.shape(value)))
    return out


def _observed_value(model: pm.Model, rv) -> np.ndarray:
    from pytensor.graph.basic import Constant

    value = model.rvs_to_values[rv]
    if isinstance(value, Constant):
        return np.asarray(value.data, dtype=float)
    if hasattr(value, "get_value"):
        return np.asarray(value.get_value(), dtype=float)
    return np.asarray(value.eval(), dtype=float)
