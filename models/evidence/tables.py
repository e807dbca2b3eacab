"""Tidy pandas views of the evidence base, for reports and for users at a prompt."""

from __future__ import annotations

import pandas as pd

from models.evidence.load import Evidence
from models.evidence.validate import usable, walk_quantities


def _value(q) -> float | None:
    return None if q is None or isinstance(q, dict) else getattr(q, "value", None)


def studies_table(evidence: Evidence) -> pd.DataFrame:
    """One row per study: id, label, year, design, regimen, status, reason, evidence forms."""
    rows = []
    for s in evidence.studies:
        hours = s.naltrexone.hours_before_first_infusion
        lower = getattr(hours, "lower", None)
        upper = getattr(hours, "upper", None)
        rows.append(
            {
                "study": s.id,
                "label": s.label,
                "year": s.citation.year,
                "design": s.design.type,
                "population": s.design.population,
                "regimen": s.naltrexone.regimen,
                "naltrexone_route": s.naltrexone.route,
                "naltrexone_dose_mg": _value(s.naltrexone.dose_mg),  # empty when not reported
                "hours_before_lower": lower,
                "hours_before_upper": upper,
                "scale": s.outcome.scale,
                "timepoint": s.outcome.timepoint,
                "timepoint_hours": _value(s.outcome.timepoint_hours),
                "infusions": _value(s.ketamine.infusions),
                "analysed": _value(s.sample.analysed),
                "enrolled": _value(s.sample.enrolled),
                "planned": _value(s.sample.planned),
                "registry_enrolled": _value(s.sample.registry_enrolled),
                "blinding": s.design.blinding,
                "comparator": s.design.comparator,
                "washout_days": _value(s.design.washout_days),
                "stopped_early": s.design.stopped_early,
                "sources": ", ".join(s.sources),
                # " | " between entries: a description may hold commas or semicolons.
                "source_descriptions": " | ".join(
                    f"{key}: {source.description}" for key, source in s.sources.items()
                ),
                "status": s.status,
                "reason": s.exclusion_reason or "",
                "evidence": ", ".join(item.kind for item in s.evidence if usable(item)),
                "doi": s.citation.doi,
                "registry": s.citation.registry,
                "note": s.design.note or "",
                **{f"covariate_{k}": v for k, v in s.covariates.items()},
            }
        )
    return pd.DataFrame(rows)


def quantities_table(evidence: Evidence) -> pd.DataFrame:
    """One row per number (per reading, for disputed numbers), with its provenance."""
    rows = []
    for s in evidence.studies:
        for path, _, q, disputed, _ in walk_quantities(s):
            reading = None
            if disputed is not None:
                reading = path[path.rindex("[") + 1 : -1]
            source = s.sources.get(q.source) if q.source else None
            rows.append(
                {
                    "study": s.id,
                    "field": path,
                    "field_base": path[: path.rindex("[")] if disputed is not None else path,
                    "dispute": disputed.dispute if disputed is not None else None,
                    "reading": reading,
                    "default": (
                        reading == s.disputes[disputed.dispute].default
                        if disputed is not None
                        else None
                    ),
                    "value": q.value,
                    "lower": q.lower,
                    "upper": q.upper,
                    "status": q.status,
                    "source": source.url if source else None,
                    "where": q.where,
                    "derivation": q.derivation,
                    "note": q.note,
                }
            )
    return pd.DataFrame(rows)


def literature_table(evidence: Evidence) -> pd.DataFrame:
    """One row per literature input, with its provenance."""
    lit = evidence.literature
    return pd.DataFrame(
        [
            {
                "input": name,
                "value": q.value,
                "lower": q.lower,
                "upper": q.upper,
                "ci95": q.ci95,
                "unit": q.unit,
                "status": q.status,
                "source": lit.sources[q.source].url if q.source else None,
                "derivation": q.derivation,
                "note": q.note,
            }
            for name, q in lit.inputs.items()
        ]
    )
