"""Markdown tables for the report: one helper every section module shares."""

from __future__ import annotations

import pandas as pd


def markdown_table(frame: pd.DataFrame) -> str:
    """A frame as a Markdown table, its column names as the header."""
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(_cell(row[c]) for c in cols) + " |")
    return "\n".join(lines)


def _cell(value) -> str:
    """A table cell: a study file's free text may hold a '|' or a line break, either of which
    would end the cell or the row."""
    return " ".join(str(value).replace("|", "/").split())
