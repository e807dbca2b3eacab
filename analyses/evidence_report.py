"""The evidence table a run prints first: what goes in, and what is left out and why."""

from __future__ import annotations

from models.evidence.load import Evidence
from models.evidence.tables import studies_table


def evidence_lines(evidence: Evidence) -> list[str]:
    """Plain-text evidence table: one line per study, then the exclusions with reasons."""
    table = studies_table(evidence)
    lines = [
        f"{'study':<14}{'design':<13}{'regimen':<10}{'naltrexone':<17}{'n':>4}  evidence",
    ]
    for row in table[table.status == "included"].itertuples():
        n = "?" if row.analysed is None else f"{row.analysed:.0f}"
        lines.append(
            f"{row.study:<14}{row.design:<13}{row.regimen:<10}{row.naltrexone:<17}{n:>4}  "
            f"{row.evidence}"
        )
    for row in table[table.status != "included"].itertuples():
        lines.append(f"{row.study:<14}{row.status}: {row.reason}")
    return lines
