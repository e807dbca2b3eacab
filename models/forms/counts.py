"""Binary counts by arm: parallel arms (``arm_counts``) or one arm alone (``single_arm_binary``).

Each arm's count is binomial with the probit of its condition; a count known only as a bound
(">80% of 20") contributes P(lower <= X <= upper)
(:func:`models.likelihoods.bounded_binomial_logp`).
A single arm has no internal control, so its contrast leans on the ketamine-alone response
probit's prior.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pymc as pm

from models.forms.base import (
    SEP,
    Estimate,
    ItemContext,
    Need,
    SimulatedItem,
    Statistic,
    StudyDraw,
    describe,
    ketamine_effect_moments,
    moments,
    num,
    probit_and_se,
    ratio,
    response_slot,
    simulated,
    value_or_lower,
)
from models.likelihoods import binomial_random, bounded_binomial_logp, normal_cdf

if TYPE_CHECKING:
    from collections.abc import Mapping

    from models.evidence.schema import ArmCounts, CountArm, Quantity, SingleArmBinary, StudyFile
    from models.priors import PriorSpec

KINDS = ("arm_counts", "single_arm_binary")


def essential(item: ArmCounts | SingleArmBinary) -> list[Quantity]:
    """Every arm's size; a single arm's count as well (parallel arms' counts may be bounds)."""
    if item.kind == "arm_counts":
        return [arm.n for arm in item.arms]
    return [item.n, item.events]


def needs(study: StudyFile, item: ArmCounts | SingleArmBinary) -> frozenset[Need]:
    """A response probit for ketamine alone: external for a single arm."""
    if item.kind == "single_arm_binary":
        return frozenset({"external_response_probit"})
    return frozenset({"response_probit"})


def _arms(item: ArmCounts | SingleArmBinary) -> list[tuple[str, CountArm | SingleArmBinary]]:
    """(name suffix, arm) pairs: parallel arms are named by condition, a single arm is not."""
    if item.kind == "arm_counts":
        return [(f"{SEP}{arm.condition}", arm) for arm in item.arms]
    return [("", item)]


def _event_range(arm: CountArm | SingleArmBinary) -> tuple[int, int]:
    """The smallest and largest count consistent with what is reported (a bound or a value)."""
    ev, n = arm.events, num(arm.n)
    if ev.value is not None:
        return ev.value, ev.value
    return (ev.lower if ev.lower is not None else 0), (ev.upper if ev.upper is not None else n)


def add_likelihood(ctx: ItemContext) -> None:
    """One bounded-binomial count per arm."""
    probit = ctx.response_probits()
    for suffix, arm in _arms(ctx.item):
        n = int(num(arm.n))
        lower, upper = _event_range(arm)
        rv = pm.CustomDist(
            ctx.name + suffix,
            normal_cdf(probit[arm.condition]),
            ctx.observe(upper, f"{suffix}{SEP}upper"),
            logp=bounded_binomial_logp(n),
            random=binomial_random(n),
            signature="(),()->()",
            observed=ctx.observe(lower, suffix),
        )
        describe(rv, count_datum(ctx.item.outcome))


# What a count of participants is called, by the first of these words in the item's outcome.
COUNTED = (("remi", "remitters"), ("respon", "responders"))


def count_datum(outcome: str) -> str:
    """What a count of participants holds, named by the item's outcome.

    "depression remission on MADRS" counts remitters, "response: MADRS improved by at least
    50%" responders; an outcome naming neither counts participants with the outcome.
    """
    text = outcome.lower()
    found = sorted((text.find(stem), who) for stem, who in COUNTED if stem in text)
    return f"{found[0][1] if found else 'participants with the outcome'} (count)"


def bounded_events(study: StudyFile, item: ArmCounts | SingleArmBinary) -> dict:
    """Observed count variables known only as a range: name -> (lower, upper)."""
    out = {}
    for suffix, arm in _arms(item):
        if arm.events.value is None:
            lower, upper = _event_range(arm)
            out[f"{study.id}{SEP}{item.id}{suffix}"] = (float(lower), float(upper))
    return out


def estimate(study: StudyFile, item: ArmCounts | SingleArmBinary, priors: PriorSpec) -> Estimate:
    """Probit contrast over the ketamine effect; a bound is read at its lower end.

    A single arm is contrasted with the external ketamine-alone response probit.
    """
    delta, sd_delta, against = ketamine_effect_moments(study, priors)
    if item.kind == "single_arm_binary":
        eta, sd_eta = moments(priors[response_slot(study, item)])
        zn, sn = probit_and_se(value_or_lower(item.events), value_or_lower(item.n))
        est, se = ratio(eta - zn, math.hypot(sn, sd_eta), delta, sd_delta)
        how = f"(external eta {eta:.2f} - probit {zn:.2f}) / ketamine effect {against}{delta:.2f}"
        return est, se, how
    arms = {arm.condition: arm for arm in item.arms}
    zp, sp = probit_and_se(
        value_or_lower(arms["ketamine_placebo"].events), value_or_lower(arms["ketamine_placebo"].n)
    )
    zn, sn = probit_and_se(
        value_or_lower(arms["ketamine_naltrexone"].events),
        value_or_lower(arms["ketamine_naltrexone"].n),
    )
    est, se = ratio(zp - zn, math.hypot(sp, sn), delta, sd_delta)
    how = f"probit contrast {zp - zn:.2f} (lower bounds) / ketamine effect {against}{delta:.2f}"
    return est, se, how


def attenuation_statistic(
    name: str, item: ArmCounts | SingleArmBinary, values: Mapping[str, np.ndarray]
) -> Statistic | None:
    """The response rate under ketamine + placebo minus that under ketamine + naltrexone.

    A single arm has only the second: its statistic is minus its rate. None for parallel arms
    without both of those conditions.
    """
    counts = {
        arm.condition: np.asarray(values[name + suffix], dtype=float) for suffix, arm in _arms(item)
    }
    size = {arm.condition: float(num(arm.n)) for _, arm in _arms(item)}
    # "response rate", "remission rate": named by what the item counts (count_datum).
    what = count_datum(item.outcome).removesuffix(" (count)")
    rate_of = {"responders": "response rate", "remitters": "remission rate"}.get(
        what, "rate of the outcome"
    )
    if item.kind == "single_arm_binary":
        rate = counts[item.condition] / size[item.condition]
        return Statistic(-rate, f"minus the {rate_of} under naltrexone")
    if not {"ketamine_placebo", "ketamine_naltrexone"} <= set(counts):
        return None
    # One rounding, of an exact integer numerator over one denominator, so that counts whose
    # difference of rates is equal give the same float: a/n1 - b/n2 rounded twice gives, say,
    # 6/20 - 2/20 and 4/20 - 0/20 values an ulp apart, and the check's ties (mid-p, PIT) were
    # then decided by rounding (found by the two-item calibration in `make validate`).
    a, b = counts["ketamine_placebo"], counts["ketamine_naltrexone"]
    n1, n2 = size["ketamine_placebo"], size["ketamine_naltrexone"]
    return Statistic((a * n2 - b * n1) / (n1 * n2), f"{rate_of} lost under naltrexone")


def simulate(draw: StudyDraw) -> SimulatedItem:
    """Responders among ``n`` per arm: all three conditions in parallel, or naltrexone alone."""
    eta = draw.response_probit
    probit = {
        "ketamine_placebo": eta,
        "ketamine_naltrexone": eta - draw.removed,
        "control": eta - draw.delta,
    }
    parallel = draw.kind == "arm_counts"
    conditions = list(probit) if parallel else ["ketamine_naltrexone"]
    counts = {c: int((draw.rng.standard_normal(draw.n) + probit[c] > 0).sum()) for c in conditions}
    if not parallel:
        fields = {
            "kind": draw.kind,
            "condition": "ketamine_naltrexone",
            "n": simulated(draw.n),
            "events": simulated(counts["ketamine_naltrexone"]),
        }
        return SimulatedItem("single_arm", fields)
    arms = [
        {
            "condition": c,
            "label": c.replace("_", " + "),
            "n": simulated(draw.n),
            "events": simulated(k),
        }
        for c, k in counts.items()
    ]
    return SimulatedItem("parallel", {"kind": draw.kind, "arms": arms})
