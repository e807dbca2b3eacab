"""Slow statistical validation run by `make validate`: SBC, calibration, and their Dask plumbing."""

# The sections of validation/results.json, in the order `make validate` runs them. Each has its
# own seed, so one section can be rerun alone (`--only NAME`) and match a full run.
SECTIONS = (
    "exact_vs_mcmc",
    "sbc_meta_regression",
    "recovery_blockade",
    "shipped_analysis",
    "reweighting",
    "sbc_blockade",
    # Last, so the sections before them keep their seeds (task i always gets seed i).
    "design_determinism",
    "union_log_density",
    "conflict_calibration",
    "conflict_items",
)


def record_path():
    """Where `make validate` keeps its record (in the project folder)."""
    from models.paths import ROOT

    return ROOT / "validation" / "results.json"


def record_summary() -> dict | None:
    """What a run's report says about the validation record: its headline numbers, or None.

    Read at run time and stored in the run's manifest, so the report (built from the run
    folder alone) can show it, and later changes to the record do not rewrite old reports.
    """
    import json

    path = record_path()
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    out = {"record": str(path), "created": record.get("created"), "passed": record.get("passed")}
    out |= _sections_made(record)
    sbc = record.get("sbc_blockade")
    if isinstance(sbc, dict) and "parameters" in sbc and "calibration" in sbc:
        out["sbc_blockade"] = {
            "simulations": sbc.get("simulations"),
            "min_ks_p": min(v["ks_p"] for v in sbc["parameters"].values()),
            "brier": sbc["calibration"]["brier"],
            "brier_prior": sbc["calibration"]["brier_prior"],
            "passed": sbc.get("passed"),
        }
    shipped = record.get("shipped_analysis")
    if isinstance(shipped, dict) and "fits" in shipped:
        out["shipped_analysis"] = {
            "refits": shipped.get("refits"),
            "uncertified": [f["scenario"] for f in shipped["fits"] if not f["certified"]],
        }
    conflict = record.get("conflict_calibration")
    if isinstance(conflict, dict) and "studies" in conflict:
        studies = conflict["studies"].values()
        out["conflict_calibration"] = {
            "simulations": conflict.get("simulations"),
            "min_ks_p": min(s["ks_p"] for s in studies),
            "rejection_rate_05": max(s["rejection_rate"]["0.05"] for s in studies),
            "passed": conflict.get("passed"),
        }
    return out


def _sections_made(record: dict) -> dict:
    """When, and from which commits, the record's sections were made (each is rerun alone,
    with ``--only``, when what it checks changes), and which ran on uncommitted code."""
    made = [(name, record[name]) for name in SECTIONS if isinstance(record.get(name), dict)]
    dates = sorted(str(r["created"]) for _, r in made if r.get("created"))
    codes = [r.get("code") for _, r in made if isinstance(r.get("code"), dict)]
    if not dates:
        return {}
    return {
        "sections_oldest": dates[0],
        "sections_newest": dates[-1],
        "section_commits": len({c.get("commit") for c in codes if c.get("commit")}),
        "sections_uncommitted": [
            name for name, r in made if isinstance(r.get("code"), dict) and r["code"].get("dirty")
        ],
    }
