"""Arm means: mean improvement and its SD per condition, standardized by the pooled SD.

Every arm's mean is divided by the same pooled SD, ``sqrt(sum (n_c - 1) SD_c^2 / sum (n_c - 1))``,
so that differences between arms are differences of the latent means (dividing each arm by its
own SD would let a difference in spread pass for a difference in effect). Each standardized
mean is normal around the condition's latent mean with variance ``1 / n`` (the SD treated as
known). In a paired (crossover) item the ketamine + placebo and ketamine +
naltrexone arms are bivariate normal with the reported correlation, or ``rho`` if none is
reported.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from models.forms.base import (
    PERIODS as PAIR,
)
from models.forms.base import (
    RAW_SD,
    SEP,
    Estimate,
    ItemContext,
    Need,
    SimulatedItem,
    Statistic,
    StudyDraw,
    describe,
    ketamine_effect_moments,
    num,
    ratio,
    simulated,
    value_or_lower,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from models.evidence.schema import ArmMeans, Quantity, StudyFile
    from models.priors import PriorSpec

KINDS = ("arm_means",)


def essential(item: ArmMeans) -> list[Quantity]:
    """Every arm's size."""
    return [arm.n for arm in item.arms]


def needs(study: StudyFile, item: ArmMeans) -> frozenset[Need]:
    """The non-specific improvement, and rho for a paired item."""
    if item.paired:
        return frozenset({"nonspecific_improvement", "within_subject_correlation"})
    return frozenset({"nonspecific_improvement"})


def pooled_sd(arms: list) -> float:
    """The pooled SD of the arms' improvements, weighting each by ``n - 1``."""
    dof = [value_or_lower(a.n) - 1.0 for a in arms]
    ss = sum(d * value_or_lower(a.sd_change) ** 2 for d, a in zip(dof, arms, strict=True))
    return math.sqrt(ss / sum(dof))


# What an arm's observed number is: its reported mean change over the pooled SD.
STANDARDIZED = "mean change / pooled SD"


def add_likelihood(ctx: ItemContext) -> None:
    """Arm means standardized by the pooled SD, treating it as known."""
    item, mean = ctx.item, ctx.latent_means()
    sd = pooled_sd(item.arms)
    z = {arm.condition: num(arm.mean_change) / sd for arm in item.arms}
    n = {arm.condition: num(arm.n) for arm in item.arms}
    if item.paired:
        reported = num(item.within_subject_correlation)
        r = ctx.rho if reported is None else reported
        n_pairs = min(n[c] for c in PAIR)
        cov = pt.stack([pt.stack([1.0, r]), pt.stack([r, 1.0])]) / n_pairs
        paired = pm.MvNormal(
            ctx.name,
            mu=pt.stack([mean[c] for c in PAIR]),
            cov=cov,
            observed=ctx.observe([z[c] for c in PAIR], dims=ctx.period_dim()),
            dims=ctx.period_dim(),
        )
        describe(paired, STANDARDIZED)
        others = [c for c in z if c not in PAIR]
    else:
        others = list(z)
    for c in others:
        sigma = 1.0 / math.sqrt(n[c])
        rv = pm.Normal(
            f"{ctx.name}{SEP}{c}", mu=mean[c], sigma=sigma, observed=ctx.observe(z[c], SEP + c)
        )
        describe(rv, STANDARDIZED)


def estimate(study: StudyFile, item: ArmMeans, priors: PriorSpec) -> Estimate:
    """Standardized contrast ``z_placebo - z_naltrexone`` over delta, SE from ``1 / n``."""
    delta, sd_delta, against = ketamine_effect_moments(study, priors)
    arms = {arm.condition: arm for arm in item.arms}
    sd = pooled_sd(item.arms)
    z = {c: value_or_lower(a.mean_change) / sd for c, a in arms.items()}
    n = {c: value_or_lower(a.n) for c, a in arms.items()}
    c = z["ketamine_placebo"] - z["ketamine_naltrexone"]
    se_c = math.sqrt(1 / n["ketamine_placebo"] + 1 / n["ketamine_naltrexone"])
    est, se = ratio(c, se_c, delta, sd_delta)
    return est, se, f"standardized contrast {c:.2f} / ketamine effect {against}{delta:.2f}"


def attenuation_statistic(
    name: str, item: ArmMeans, values: Mapping[str, np.ndarray]
) -> Statistic | None:
    """Standardized mean change under ketamine + placebo minus under ketamine + naltrexone."""
    label = "standardized improvement lost under naltrexone"
    if item.paired:
        pair = np.asarray(values[name], dtype=float)
        return Statistic(pair[..., 0] - pair[..., 1], label)
    arms = {f"{name}{SEP}{c}" for c in PAIR}
    if not arms <= set(values):
        return None
    placebo, naltrexone = (np.asarray(values[f"{name}{SEP}{c}"], dtype=float) for c in PAIR)
    return Statistic(placebo - naltrexone, label)


def simulate(draw: StudyDraw) -> SimulatedItem:
    """A crossover's mean and SD of the raw-scale improvement in each period."""
    improvement = draw.nonspecific + draw.delta
    latent = draw.latent_pairs(improvement, improvement - draw.removed) * RAW_SD
    arms = [
        {
            "condition": c,
            "label": c.replace("_", " + "),
            "n": simulated(draw.n),
            "mean_change": simulated(round(float(latent[:, j].mean()), 3)),
            "sd_change": simulated(round(float(latent[:, j].std(ddof=1)), 3)),
        }
        for j, c in enumerate(PAIR)
    ]
    fields = {"kind": draw.kind, "scale": "MADRS", "paired": True, "arms": arms}
    return SimulatedItem("crossover", fields)
