"""docs/outputs.md is the codebook: every column of every table the toolkit writes is in it.

The run folder's tables are checked against it in tests/test_sensitivity.py (on the small real
run), the design tables in tests/test_design.py and meta's in tests/test_meta.py; all use
:func:`undocumented` from here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

CODEBOOK = Path(__file__).resolve().parents[1] / "docs" / "outputs.md"
PLACEHOLDERS = {
    "hypothesis": "(?:primary|permissive|none|other)",
    "interval": r"eti\d+(?:_\d+)?",
    "column": ".+",
}


def codebook() -> dict[str, list[re.Pattern]]:
    """Per table file (as its section names it), the column patterns the codebook lists."""
    tables: dict[str, list[re.Pattern]] = {}
    current: list[str] = []
    for line in CODEBOOK.read_text().splitlines():
        if line.startswith("### "):
            title = line[4:].strip()
            current = [title] if "(" in title else re.findall(r"[\w.]+\.csv", title)
            for name in current:
                tables.setdefault(name, [])
        elif line.startswith("| `") and current:
            name = line.split("`")[1]
            for table in current:
                tables[table].append(_pattern(name))
    return tables


def _pattern(name: str) -> re.Pattern:
    parts = re.split(r"(<\w+>)", name)
    regex = "".join(
        PLACEHOLDERS.get(p[1:-1], r"[\w.]+") if p.startswith("<") else re.escape(p) for p in parts
    )
    return re.compile(f"^{regex}$")


def undocumented(table: pd.DataFrame | Path, section: str) -> list[str]:
    """The columns of a table (or a CSV file) that its codebook section does not list."""
    frame = pd.read_csv(table, nrows=1) if isinstance(table, Path) else table
    patterns = codebook()[section]
    return [c for c in frame.columns if not any(p.match(str(c)) for p in patterns)]


def test_the_codebook_has_a_section_for_every_table():
    found = set(codebook())
    run_tables = {
        "hypotheses.csv",
        "bayes_factors.csv",
        "summary.csv",
        "thresholds.csv",
        "assay_sensitivity.csv",
        "beta_estimates.csv",
        "cross_check.csv",
        "evidence.csv",
        "numbers.csv",
        "sensitivity.csv",
        "cumulative.csv",
        "psense.csv",
        "psense_studies.csv",
        "conflict.csv",
    }
    design = {"design.csv", "assurance.csv", "assurance_thresholds.csv", "assurance_by_truth.csv"}
    assert run_tables | design | {"summary.csv (meta)"} <= found


def test_placeholders_match_what_they_stand_for_and_nothing_else():
    table = pd.DataFrame(
        columns=["p_primary", "p_primary_mcse", "beta_acute_eti95_lb", "p_maybe", "extra"]
    )
    assert undocumented(table, "sensitivity.csv") == ["p_maybe", "extra"]
    assert undocumented(pd.DataFrame(columns=["bf_vs_none"]), "hypotheses.csv") == []


def test_a_run_folder_without_a_fit_is_documented(tmp_path):
    """The tables `run --quick` writes, checked without fitting: evidence and numbers."""
    from models.evidence import load_evidence
    from models.evidence.tables import quantities_table, studies_table

    evidence = load_evidence()
    assert undocumented(studies_table(evidence), "evidence.csv") == []
    assert undocumented(quantities_table(evidence), "numbers.csv") == []
