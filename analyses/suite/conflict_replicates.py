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
"""

from __future__ import annotations

import itertools
import zlib
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
    found = replicated_statistic(model, evidence, options, posterior, study, seed)
    replicated, observed = found.statistic.values, found.observed
    p = mid_p(replicated, observed)
    ci = interval()
    lb, ub = ci.bounds(replicated.ravel())
    more = f" (the first of {found.items} items)" if found.items > 1 else ""
    return {
        f"{PREFIX}_item": found.item.id,
        f"{PREFIX}_statistic": found.statistic.label + more,
        f"{PREFIX}_observed_low": float(np.min(observed)),
        f"{PREFIX}_observed_high": float(np.max(observed)),
        f"{PREFIX}_replicated_median": float(np.median(replicated)),
        f"{PREFIX}_replicated_{ci.columns[0]}": float(lb),
        f"{PREFIX}_replicated_{ci.columns[1]}": float(ub),
        f"{PREFIX}_p": float(np.min(p)),
        f"{PREFIX}_p_high": float(np.max(p)),
    }


@dataclass(frozen=True)
class Replicated:
    """A left-out study's statistic: replicated at each posterior draw, and as observed.

    ``observed`` has one value per reading its reported ranges allow (:func:`observed_readings`);
    ``rvs`` are the item's observed variables in the model that was replicated; ``items`` how
    many of the study's items have observed variables (the first with a statistic is used).
    """

    item: Any
    rvs: list
    statistic: Statistic
    observed: np.ndarray
    items: int


def replicated_statistic(
    model: pm.Model,
    evidence: Evidence,
    options: ModelOptions,
    posterior: xr.Dataset,
    study: str,
    seed: int,
) -> Replicated:
    """The left-out study's first item with a statistic, replicated from ``posterior``.

    The arguments are :func:`left_out_check`'s. The calibration of the check in
    `make validate` calls this too, so that it checks the code the suite runs.

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
    for item, rvs in candidates:
        name = f"{study}__{item.id}"
        form = form_of(item.kind)
        statistic = form.attenuation_statistic(name, item, replicate(model, posterior, rvs, seed))
        if statistic is None:
            continue
        readings = observed_readings(model, rvs, bounded_observations(evidence, options))
        observed = form.attenuation_statistic(name, item, readings).values
        return Replicated(item, rvs, statistic, observed, len(candidates))
    raise CheckUnavailable(f"no item of {study} has a statistic to replicate")


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
