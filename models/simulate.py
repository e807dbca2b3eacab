"""Seeded simulation of studies of every evidence form, from a known truth.

Simulated studies are real study files (dicts in the TOML schema, writable with
:func:`write_study`), so they go through the same loader and checks as published ones. They
serve parameter recovery, simulation-based validation, and the "append a study" test.

The generative process is individual-level, not the model's own likelihood: participants'
latent improvements are simulated and then summarised the way a paper would (counts,
a paired t and a percentage attenuation, arm means and SDs, or the raw rows). Recovery
therefore also tests the approximations the likelihoods make.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import tomli_w

from models.evidence.schema import EVIDENCE_KINDS
from models.forms import form_of
from models.forms.base import StudyDraw, simulated


@dataclass(frozen=True)
class Truth:
    """The parameters a simulation draws from (latent standardized scale)."""

    beta_acute: float = 0.6
    beta_sustained: float = 0.1
    tau_beta: float = 0.0
    ketamine_effect: float = 0.9
    tau_ketamine: float = 0.0
    within_subject_correlation: float = 0.5
    response_probit: float = -0.2
    # Non-specific improvement chosen so the specific share delta / (m + delta) is 0.47, the
    # literature centre of that nuisance's prior.
    nonspecific_improvement: float = 1.0

    def beta(self, regimen: str) -> float:
        return self.beta_acute if regimen == "acute" else self.beta_sustained


def _base(study_id: str, design: str, regimen: str, n: int, year: int, seed: int) -> dict:
    route, dose, hours = ("oral", 50.0, 0.75) if regimen == "acute" else ("im_depot", 380.0, 96.0)
    return {
        "schema_version": 1,
        "id": study_id,
        "label": f"Simulated {study_id}",
        "status": "included",
        "citation": {"authors": "simulation", "year": year, "title": f"simulated ({design})"},
        "design": {
            "type": design,
            "population": "simulated participants",
            "blinding": "simulated",
            "stopped_early": False,
        },
        "ketamine": {"route": "iv", "dose_mg_per_kg": simulated(0.5), "infusions": simulated(1)},
        "naltrexone": {
            "route": route,
            "dose_mg": simulated(dose),
            "regimen": regimen,
            "hours_before_first_infusion": {
                **simulated(None),
                "value": None,
                "lower": hours,
                "upper": hours,
            },
        },
        "outcome": {"scale": "MADRS", "timepoint": "24 h", "timepoint_hours": simulated(24.0)},
        "sample": {"analysed": simulated(n)},
        "covariates": {"alcohol_use_disorder": 0.0},
        "sources": {
            "simulation": {
                "url": f"simulated://models.simulate/{study_id}?seed={seed}",
                "description": "Simulated study (not real data)",
            }
        },
        "evidence": [],
    }


# Simulated studies are dated after every real one (the latest is 2025), so a cumulative
# analysis adds them last, and within the year range check-data accepts.
SIMULATED_YEAR = 2026


def simulate_study(
    kind: str,
    study_id: str,
    regimen: str,
    truth: Truth,
    n: int,
    seed: int,
    year: int = SIMULATED_YEAR,
) -> tuple[dict, pd.DataFrame | None, float]:
    """Simulate one study reporting one form of evidence.

    Parameters
    ----------
    kind : str
        One of :data:`models.evidence.schema.EVIDENCE_KINDS`.
    study_id, regimen : str
        Study id and naltrexone regimen ("acute" or "sustained").
    truth : Truth
        Parameters to simulate from; study-level beta and delta are drawn with
        ``tau_beta`` and ``tau_ketamine``.
    n : int
        Participants (per arm for parallel designs).
    seed : int
        Seed of the study's own random generator.
    year : int
        Publication year (orders cumulative analyses).

    Returns
    -------
    study : dict
        The study in the file schema.
    ipd : DataFrame or None
        Individual rows, for ``kind == "ipd"``.
    beta_study : float
        The study's true blockade fraction.
    """
    if kind not in EVIDENCE_KINDS:
        raise ValueError(f"kind {kind!r} not in {EVIDENCE_KINDS}")
    draw = _draw_study(kind, study_id, regimen, truth, n, seed)
    reported = form_of(kind).simulate(draw)
    item = {"id": "outcome", "outcome": "simulated", "timepoint_hours": simulated(24.0)}
    study = _base(study_id, reported.design, regimen, n, year, seed)
    study["evidence"] = [item | reported.fields]
    return study, reported.ipd, float(draw.beta)


def _draw_study(
    kind: str, study_id: str, regimen: str, truth: Truth, n: int, seed: int
) -> StudyDraw:
    """The study's own generator, and its beta and delta drawn from it (in that order)."""
    rng = np.random.default_rng(seed)
    beta = truth.beta(regimen) + truth.tau_beta * rng.standard_normal()
    delta = truth.ketamine_effect + truth.tau_ketamine * rng.standard_normal()
    return StudyDraw(
        kind=kind,
        study_id=study_id,
        n=n,
        beta=beta,
        delta=delta,
        rho=truth.within_subject_correlation,
        nonspecific=truth.nonspecific_improvement,
        response_probit=truth.response_probit,
        rng=rng,
    )


def write_study(study: dict, folder: Path, ipd: pd.DataFrame | None = None) -> Path:
    """Write a simulated study (and its IPD CSV) as a study file; never overwrites."""
    folder = Path(folder)
    path = folder / f"{study['id']}.toml"
    with path.open("xb") as handle:
        tomli_w.dump(_drop_none(study), handle)
    if ipd is not None:
        ipd.to_csv(folder / study["evidence"][0]["file"], index=False)
    return path


def load_simulated(studies: list[dict]):
    """The evidence of simulated study files (written to a scratch folder, read, resolved)."""
    import tempfile

    from models.evidence import load_evidence

    with tempfile.TemporaryDirectory() as folder:
        for study in studies:
            write_study(study, Path(folder))
        return load_evidence(Path(folder)).resolve()


def _drop_none(node):
    """TOML has no null: drop None values (absent fields mean 'not given')."""
    if isinstance(node, dict):
        return {k: _drop_none(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_drop_none(x) for x in node]
    return node
