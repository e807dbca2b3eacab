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

RAW_SD = 8.0  # outcome SD in scale points, about that of MADRS around an infusion (Lii 2023)


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


def _q(value, note: str = "simulated") -> dict:
    return {
        "value": value,
        "status": "derived",
        "source": "simulation",
        "derivation": "simulated by models.simulate",
        "note": note,
    }


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
        "ketamine": {"route": "iv", "dose_mg_per_kg": _q(0.5), "infusions": _q(1)},
        "naltrexone": {
            "route": route,
            "dose_mg": _q(dose),
            "regimen": regimen,
            "hours_before_first_infusion": {
                **_q(None),
                "value": None,
                "lower": hours,
                "upper": hours,
            },
        },
        "outcome": {"scale": "MADRS", "timepoint": "24 h", "timepoint_hours": _q(24.0)},
        "sample": {"analysed": _q(n)},
        "covariates": {"alcohol_use_disorder": 0.0},
        "sources": {
            "simulation": {
                "url": f"simulated://models.simulate/{study_id}?seed={seed}",
                "description": "Simulated study (not real data)",
            }
        },
        "evidence": [],
    }


def _latent_pairs(rng, n, mean_placebo, mean_naltrexone, rho) -> np.ndarray:
    cov = [[1.0, rho], [rho, 1.0]]
    return rng.multivariate_normal([mean_placebo, mean_naltrexone], cov, size=n)


def simulate_study(
    kind: str,
    study_id: str,
    regimen: str,
    truth: Truth,
    n: int,
    seed: int,
    year: int = 2030,
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
    rng = np.random.default_rng(seed)
    beta = truth.beta(regimen) + truth.tau_beta * rng.standard_normal()
    delta = truth.ketamine_effect + truth.tau_ketamine * rng.standard_normal()
    rho = truth.within_subject_correlation
    removed = beta * delta
    m = truth.nonspecific_improvement
    eta = truth.response_probit
    item: dict = {"id": "outcome", "outcome": "simulated", "timepoint_hours": _q(24.0)}
    ipd = None

    if kind == "paired_binary":
        design = "crossover"
        latent = _latent_pairs(rng, n, eta, eta - removed, rho)
        responded = latent > 0
        item |= {
            "kind": kind,
            "pairs": _q(n),
            "responders_placebo": _q(int(responded[:, 0].sum())),
            "responders_naltrexone": _q(int(responded[:, 1].sum())),
        }
    elif kind == "contrast_statistic":
        design = "crossover"
        latent = _latent_pairs(rng, n, m + delta, m + delta - removed, rho)
        diff = latent[:, 0] - latent[:, 1]
        t = diff.mean() / (diff.std(ddof=1) / np.sqrt(n))
        item |= {
            "kind": kind,
            "statistic": "t",
            "value": _q(round(float(t), 3)),
            "df": _q(n - 1),
            "participants": _q(n),
            "attenuation": _q(round(float(diff.mean() / latent[:, 0].mean()), 3)),
        }
    elif kind in ("arm_counts", "single_arm_binary"):
        design = "parallel" if kind == "arm_counts" else "single_arm"
        probit = {
            "ketamine_placebo": eta,
            "ketamine_naltrexone": eta - removed,
            "control": eta - delta,
        }
        conditions = list(probit) if kind == "arm_counts" else ["ketamine_naltrexone"]
        counts = {c: int((rng.standard_normal(n) + probit[c] > 0).sum()) for c in conditions}
        if kind == "arm_counts":
            item |= {
                "kind": kind,
                "arms": [
                    {"condition": c, "label": c.replace("_", " + "), "n": _q(n), "events": _q(k)}
                    for c, k in counts.items()
                ],
            }
        else:
            item |= {
                "kind": kind,
                "condition": "ketamine_naltrexone",
                "n": _q(n),
                "events": _q(counts["ketamine_naltrexone"]),
            }
    elif kind == "arm_means":
        design = "crossover"
        latent = _latent_pairs(rng, n, m + delta, m + delta - removed, rho) * RAW_SD
        item |= {
            "kind": kind,
            "scale": "MADRS",
            "paired": True,
            "arms": [
                {
                    "condition": c,
                    "label": c.replace("_", " + "),
                    "n": _q(n),
                    "mean_change": _q(round(float(latent[:, j].mean()), 3)),
                    "sd_change": _q(round(float(latent[:, j].std(ddof=1)), 3)),
                }
                for j, c in enumerate(("ketamine_placebo", "ketamine_naltrexone"))
            ],
        }
    else:  # ipd: a parallel trial with a no-ketamine control arm
        design = "parallel"
        means = {
            "ketamine_placebo": m + delta,
            "ketamine_naltrexone": m + delta - removed,
            "control": m,
        }
        rows = [
            {
                "participant": f"{c[:3]}{i:03d}",
                "condition": c,
                "change": RAW_SD * (mu + rng.standard_normal()),
            }
            for c, mu in means.items()
            for i in range(n)
        ]
        ipd = pd.DataFrame(rows).round({"change": 3})
        item |= {
            "kind": "ipd",
            "scale": "MADRS",
            "paired": False,
            "file": f"{study_id}_ipd.csv",
            "status": "derived",
            "source": "simulation",
            "note": "simulated individual participant data",
        }
    study = _base(study_id, design, regimen, n, year, seed)
    study["evidence"] = [item]
    return study, ipd, float(beta)


def write_study(study: dict, folder: Path, ipd: pd.DataFrame | None = None) -> Path:
    """Write a simulated study (and its IPD CSV) as a study file; never overwrites."""
    folder = Path(folder)
    path = folder / f"{study['id']}.toml"
    with path.open("xb") as handle:
        tomli_w.dump(_drop_none(study), handle)
    if ipd is not None:
        ipd.to_csv(folder / study["evidence"][0]["file"], index=False)
    return path


def _drop_none(node):
    """TOML has no null: drop None values (absent fields mean 'not given')."""
    if isinstance(node, dict):
        return {k: _drop_none(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_drop_none(x) for x in node]
    return node
