"""Contrast statistic: a t, z or F(1, df) for naltrexone vs placebo, maybe with an attenuation.

With a reported attenuation (the proportional reduction of the whole improvement under
ketamine + placebo), the attenuation is the datum: it estimates ``k_s * beta_s * kappa_s``,
with a first-order SE from the contrast's t statistic. Without one, the t statistic is treated
as normal with the exact mean and SD of a noncentral t whose noncentrality is
``removed / SE``, where the SE of a standardized contrast is ``sqrt(2 (1 - rho) / n)`` in a
crossover and ``sqrt(1 / n1 + 1 / n2)`` between the two contrasted arms.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pymc as pm
import pytensor.tensor as pt

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
    ratio,
    signed_t,
    simulated,
    value_or_lower,
)
from models.likelihoods import noncentral_t_moments

if TYPE_CHECKING:
    from collections.abc import Mapping

    from models.evidence.schema import ContrastStatistic, Quantity, StudyFile
    from models.priors import PriorSpec

KINDS = ("contrast_statistic",)
# Degrees of freedom when none are reported: the statistic is read as a z.
DF_UNKNOWN = 1e6


def essential(item: ContrastStatistic) -> list[Quantity]:
    """The statistic and the number of participants behind it."""
    return [item.value, item.participants]


def needs(study: StudyFile, item: ContrastStatistic) -> frozenset[Need]:
    """The specific share when an attenuation is reported, else rho in a crossover."""
    if num(item.attenuation) is not None:
        return frozenset({"specific_share"})
    if study.design.type == "crossover":
        return frozenset({"within_subject_correlation"})
    return frozenset()


def add_likelihood(ctx: ItemContext) -> None:
    """The attenuation if reported, otherwise the signed t statistic."""
    item = ctx.item
    t_obs = signed_t(item)
    att = num(item.attenuation)
    if att is not None:
        # First-order SE of a ratio estimate whose numerator has this t statistic.
        observed, t = ctx.observe(att), ctx.observe(t_obs, f"{SEP}t")
        rv = pm.Normal(
            ctx.name, mu=ctx.removed_share, sigma=pt.abs(observed / t), observed=observed
        )
        describe(rv, "attenuation (share of the effect removed)")
        return
    if ctx.study.design.type == "crossover":
        se = pt.sqrt(2.0 * (1.0 - ctx.rho) / num(item.participants))
    else:
        se = parallel_se(item)
    mean, sd = noncentral_t_moments(ctx.removed / se, num(item.df) or DF_UNKNOWN)
    rv = pm.Normal(ctx.name, mu=mean, sigma=sd, observed=ctx.observe(t_obs))
    describe(rv, "t statistic (positive: attenuation)")


def parallel_se(item: ContrastStatistic) -> float:
    """SE of a standardized difference between the two contrasted arms: sqrt(1/n1 + 1/n2).

    Without the arms' sizes, ``participants`` is taken as the two arms, split equally.
    """
    n1, n2 = num(item.n_ketamine_placebo), num(item.n_ketamine_naltrexone)
    if n1 is None or n2 is None:
        n1 = n2 = num(item.participants) / 2.0
    return math.sqrt(1.0 / n1 + 1.0 / n2)


def estimate(study: StudyFile, item: ContrastStatistic, priors: PriorSpec) -> Estimate:
    """Attenuation over the specific share, or the standardized contrast over delta."""
    t = signed_t(item) if item.value.value is not None else value_or_lower(item.value)
    a = num(item.attenuation)
    if a is not None:  # as the likelihood reads it (add_likelihood)
        kappa, sd_kappa = moments(priors["specific_share"])
        est, se = ratio(a, abs(a / t), kappa, sd_kappa)
        return est, se, f"attenuation {a} / specific share {kappa:.3f}; SE_a = {a} / {t:.2f}"
    delta, sd_delta, against = ketamine_effect_moments(study, priors)
    n = value_or_lower(item.participants)
    # Standardized contrast from t: d = t * sqrt(2(1 - rho) / n) in a crossover.
    rho, _ = moments(priors["within_subject_correlation"])
    scale = math.sqrt(2 * (1 - rho) / n) if study.design.type == "crossover" else parallel_se(item)
    est, se = ratio(t * scale, scale, delta, sd_delta)
    return est, se, f"t {t:.2f} x {scale:.3f} / ketamine effect {against}{delta:.2f}"


def attenuation_statistic(
    name: str, item: ContrastStatistic, values: Mapping[str, np.ndarray]
) -> Statistic:
    """The observed number itself: the reported attenuation, or the signed t statistic."""
    # As the likelihood reads the item: an attenuation without a value (a reading that sets
    # it aside, or a bound alone) leaves the t statistic as the datum.
    what = "reported attenuation" if num(item.attenuation) is not None else "t statistic"
    return Statistic(np.asarray(values[name], dtype=float), what)


def simulate(draw: StudyDraw) -> SimulatedItem:
    """A crossover's paired t of the two periods and the attenuation of the mean improvement."""
    improvement = draw.nonspecific + draw.delta
    latent = draw.latent_pairs(improvement, improvement - draw.removed)
    diff = latent[:, 0] - latent[:, 1]
    t = diff.mean() / (diff.std(ddof=1) / np.sqrt(draw.n))
    fields = {
        "kind": draw.kind,
        "statistic": "t",
        "value": simulated(round(float(t), 3)),
        "df": simulated(draw.n - 1),
        "participants": simulated(draw.n),
        "attenuation": simulated(round(float(diff.mean() / latent[:, 0].mean()), 3)),
    }
    return SimulatedItem("crossover", fields)
