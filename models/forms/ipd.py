"""Individual participant data: each participant's raw-scale improvement, from a CSV.

A change is ``sd * (latent mean of its condition) + sd * noise``, with the outcome SD ``sd``
its own parameter. In a paired (crossover) item each participant's two periods are bivariate
normal with correlation ``rho``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from models.forms.base import PERIODS as PAIR
from models.forms.base import (
    RAW_SD,
    SEP,
    ItemContext,
    Need,
    SimulatedItem,
    Statistic,
    StudyDraw,
    describe,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from models.evidence.schema import IndividualData, Quantity, StudyFile
    from models.priors import PriorSpec

KINDS = ("ipd",)


def essential(item: IndividualData) -> list[Quantity]:
    """None: the loader has already checked the CSV's columns and values."""
    return []


def needs(study: StudyFile, item: IndividualData) -> frozenset[Need]:
    """The non-specific improvement and the rows, and rho for a paired item."""
    out: set[Need] = {"nonspecific_improvement", "individual_data"}
    if item.paired:
        out.add("within_subject_correlation")
    return frozenset(out)


def add_likelihood(ctx: ItemContext) -> None:
    """Individual changes on the raw scale: y = sd * (latent mean) + sd * noise."""
    frame, mean, rho = ctx.ipd, ctx.latent_means(), ctx.rho
    y = frame["change"].to_numpy(dtype=float)
    # A weakly informative, data-scaled prior for the outcome SD (as Bambi auto-scales).
    sd = pm.HalfNormal(f"{ctx.name}{SEP}sd", sigma=2.0 * float(np.std(y)) + 1e-9)
    if ctx.item.paired:
        wide = frame.pivot(index="participant", columns="condition", values="change")
        wide = wide[list(PAIR)].dropna()
        mu = sd * pt.stack([mean[c] for c in PAIR])
        cov = sd**2 * pt.stack([pt.stack([1.0, rho]), pt.stack([rho, 1.0])])
        participants = f"{ctx.name}{SEP}participant"
        pm.modelcontext(None).add_coord(participants, [str(p) for p in wide.index])
        dims = (participants, ctx.period_dim())
        rv = pm.MvNormal(ctx.name, mu=mu, cov=cov, observed=wide.to_numpy(), dims=dims)
    else:
        levels = sorted(set(frame["condition"]))
        idx = np.array([levels.index(c) for c in frame["condition"]])
        mu = pt.stack([mean[c] for c in levels])[idx] * sd
        rows = f"{ctx.name}{SEP}row"
        pm.modelcontext(None).add_coord(rows, [str(p) for p in frame["participant"]])
        rv = pm.Normal(ctx.name, mu=mu, sigma=sd, observed=y, dims=rows)
    describe(rv, "change (raw scale)")


def estimate(study: StudyFile, item: IndividualData, priors: PriorSpec) -> None:
    """None: the closed-form table leaves IPD out (its summary would be an arm-means item)."""
    return None


def attenuation_statistic(
    name: str, item: IndividualData, values: Mapping[str, np.ndarray]
) -> Statistic | None:
    """Paired rows: the mean over participants of the change under ketamine + placebo minus
    under ketamine + naltrexone. None for unpaired rows (their conditions are in the rows)."""
    if not item.paired:
        return None
    rows = np.asarray(values[name], dtype=float)
    return Statistic((rows[..., 0] - rows[..., 1]).mean(axis=-1), "mean change lost (raw scale)")


def simulate(draw: StudyDraw) -> SimulatedItem:
    """A parallel trial with a no-ketamine control arm, one row per participant."""
    means = {
        "ketamine_placebo": draw.nonspecific + draw.delta,
        "ketamine_naltrexone": draw.nonspecific + draw.delta - draw.removed,
        "control": draw.nonspecific,
    }
    rows = [
        {
            "participant": f"{c}_{i:03d}",
            "condition": c,
            "change": RAW_SD * (mu + draw.rng.standard_normal()),
        }
        for c, mu in means.items()
        for i in range(draw.n)
    ]
    fields = {
        "kind": draw.kind,
        "scale": "MADRS",
        "paired": False,
        "file": f"{draw.study_id}_ipd.csv",
        "status": "derived",
        "source": "simulation",
        "note": "simulated individual participant data",
    }
    return SimulatedItem("parallel", fields, pd.DataFrame(rows).round({"change": 3}))
