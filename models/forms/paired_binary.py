"""Paired binary: responders under each condition in the same participants (a crossover).

The 2x2 table of (response under placebo, response under naltrexone) comes from a bivariate
probit with within-subject correlation ``rho``; when only the margins are reported, the
likelihood sums over every table with those margins (:func:`models.likelihoods.paired_binary_logp`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pymc as pm

from models.forms.base import (
    Estimate,
    ItemContext,
    Need,
    SimulatedItem,
    Statistic,
    StudyDraw,
    describe,
    ketamine_effect_moments,
    num,
    probit_and_se,
    ratio,
    simulated,
    value_or_lower,
)
from models.forms.counts import count_datum
from models.likelihoods import paired_binary_logp, paired_binary_random

if TYPE_CHECKING:
    from collections.abc import Mapping

    from models.evidence.schema import PairedBinary, Quantity, StudyFile
    from models.priors import PriorSpec

KINDS = ("paired_binary",)


def essential(item: PairedBinary) -> list[Quantity]:
    """The pairs and both margins; ``both_responded`` is optional."""
    return [item.pairs, item.responders_placebo, item.responders_naltrexone]


def needs(study: StudyFile, item: PairedBinary) -> frozenset[Need]:
    """A response probit for ketamine alone, and the correlation of the two periods."""
    return frozenset({"response_probit", "within_subject_correlation"})


def add_likelihood(ctx: ItemContext) -> None:
    """The observed margins ``[responders_placebo, responders_naltrexone]``."""
    item = ctx.item
    probit = ctx.response_probits()
    n = int(num(item.pairs))
    both = num(item.both_responded)
    rv = pm.CustomDist(
        ctx.name,
        probit["ketamine_placebo"],
        probit["ketamine_naltrexone"],
        ctx.rho,
        logp=paired_binary_logp(n, None if both is None else int(both)),
        random=paired_binary_random(n),
        signature="(),(),()->(2)",
        dims=ctx.period_dim(),
        observed=ctx.observe(
            [num(item.responders_placebo), num(item.responders_naltrexone)], dims=ctx.period_dim()
        ),
    )
    describe(rv, count_datum(item.outcome))


def estimate(study: StudyFile, item: PairedBinary, priors: PriorSpec) -> Estimate:
    """Probit contrast of the two margins over the ketamine effect; pairing ignored.

    Ignoring the pairing overstates the contrast's SE, which is the conservative direction.
    """
    delta, sd_delta, against = ketamine_effect_moments(study, priors)
    n = value_or_lower(item.pairs)
    zp, sp = probit_and_se(value_or_lower(item.responders_placebo), n)
    zn, sn = probit_and_se(value_or_lower(item.responders_naltrexone), n)
    est, se = ratio(zp - zn, math.hypot(sp, sn), delta, sd_delta)
    return est, se, f"probit contrast {zp - zn:.2f} / ketamine effect {against}{delta:.2f}"


def attenuation_statistic(
    name: str, item: PairedBinary, values: Mapping[str, np.ndarray]
) -> Statistic:
    """Responders under ketamine + placebo minus those under ketamine + naltrexone."""
    pairs = np.asarray(values[name], dtype=float)
    return Statistic(pairs[..., 0] - pairs[..., 1], "responders lost under naltrexone (of pairs)")


def simulate(draw: StudyDraw) -> SimulatedItem:
    """A crossover counting responders (latent improvement above 0) in each period."""
    eta = draw.response_probit
    latent = draw.latent_pairs(eta, eta - draw.removed)
    responded = latent > 0
    fields = {
        "kind": draw.kind,
        "pairs": simulated(draw.n),
        "responders_placebo": simulated(int(responded[:, 0].sum())),
        "responders_naltrexone": simulated(int(responded[:, 1].sum())),
    }
    return SimulatedItem("crossover", fields)
