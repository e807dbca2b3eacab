"""Per-study blockade-fraction estimates with standard errors, for the transparent cross-check.

Each estimate is a closed-form reading of one evidence item, with the nuisance quantities set
to the centre of their prior (and their prior SD carried into the SE by the delta method).
They are deliberately simple, so that anyone can redo them by hand; the full model
(:mod:`models.blockade`) is the analysis, and this table is what it should broadly agree with.

For a ratio estimate beta = c / d with independent errors,
``SE^2 = (SE_c / d)^2 + (c * SD_d / d^2)^2``.

Each form of evidence has its own closed form: the ``estimate`` of its module in
:mod:`models.forms` (a form without one, such as IPD, is left out). With the early-stopping
term on, a stopped-early study's estimate is divided by exp(mu) of the literature
exaggeration factor (SE likewise).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from models.blockade import ModelOptions, modelled_studies
from models.evidence.load import Evidence
from models.evidence.schema import StudyFile
from models.evidence.validate import usable
from models.forms import form_of
from models.forms.base import Estimate, moments
from models.priors import PriorSpec


def study_estimates(study: StudyFile, priors: PriorSpec) -> list[Estimate]:
    """(estimate, SE, how) for each usable item of a study whose form has a closed form."""
    found = []
    for item in study.evidence:
        if usable(item):
            estimate = form_of(item.kind).estimate(study, item, priors)
            if estimate is not None:
                found.append(estimate)
    return found


def beta_estimates(
    evidence: Evidence, priors: PriorSpec, options: ModelOptions | None = None
) -> pd.DataFrame:
    """One row per study the model uses: study, estimate, se, acute (1/0), regimen, method.

    A study with several usable items contributes their inverse-variance average. Items whose
    form has no closed form (IPD) are skipped. The model's ``options`` (default: the defaults)
    apply as in the model: the studies it uses (``include_single_arm``), the early-stopping
    factor (``early_stopping_bias``), and ketamine's own effect (``ketamine_effect``: against
    midazolam for a midazolam-controlled study, unless ``"pooled"``).
    """
    options = options or ModelOptions()
    if options.ketamine_effect == "pooled":
        priors = priors.with_slots(priors.name, ketamine_effect_midazolam=priors["ketamine_effect"])
    log_k, _ = moments(priors["early_stop_log_exaggeration"])
    rows = []
    for s in modelled_studies(evidence, options):
        found = study_estimates(s, priors)
        if not found:
            continue
        w = np.array([1 / se**2 for _, se, _ in found])
        est = float(np.sum(w * [e for e, _, _ in found]) / w.sum())
        se = float(w.sum() ** -0.5)
        how = "; ".join(h for _, _, h in found)
        if options.early_stopping_bias and s.design.stopped_early:
            k = math.exp(log_k)
            est, se = est / k, se / k
            how += f"; divided by early-stopping factor {k:.2f}"
        rows.append(
            {
                "study": s.id,
                "estimate": est,
                "se": se,
                "acute": 1.0 if s.naltrexone.regimen == "acute" else 0.0,
                "regimen": s.naltrexone.regimen,
                "method": how,
            }
        )
    return pd.DataFrame(rows)
