"""The report's per-study conflict check: each study against what the others predict for it."""

from __future__ import annotations

import pandas as pd

from analyses.inference.intervals import interval
from analyses.report.markdown import markdown_table

# Below this two-sided p the report names a study as disagreeing with the others: the usual
# 5%, with the number of studies checked stated beside it (one p-value each, no correction).
FLAG_P = 0.05
TITLE = "## Does any study disagree with the others?\n\n"


def conflict_text(conflict: pd.DataFrame, sensitivity: pd.DataFrame) -> str:
    """The section from a run's ``conflict.csv`` and ``sensitivity.csv``.

    Nothing for a run without the file (a quick run, a run made before the check) or without
    leave-one-out scenarios; a line saying why when its refits recorded no prediction (each
    was fitted as a model without its study: the suite's fallback).
    """
    if conflict.empty:
        names = sensitivity.get("scenario", pd.Series(dtype=str)).astype(str)
        if len(conflict.columns) == 0 or not names.str.startswith("leave out ").any():
            return ""
        return TITLE + (
            "Not available in this run: its leave-one-out scenarios were fitted as models "
            "without the left-out study, so no prediction of that study's β was recorded.\n"
        )
    return TITLE + markdown_table(_table(conflict)) + "\n\n" + _words(conflict) + "\n"


def _table(conflict: pd.DataFrame) -> pd.DataFrame:
    ci = interval()
    lb, ub = (f"predicted_{c}" for c in ci.columns)
    certified = conflict.get("certified", pd.Series(True, conflict.index)).astype(bool)
    return pd.DataFrame(
        {
            "study": [
                s if c else f"{s} (NOT CERTIFIED)"
                for s, c in zip(conflict["study"], certified, strict=True)
            ],
            "its own estimate ± SE (closed form)": [
                f"{e:+.2f} ± {s:.2f}" for e, s in zip(conflict.estimate, conflict.se, strict=True)
            ],
            "predicted by the others": [
                ci.describe("median", r["predicted_median"], r[lb], r[ub])
                for _, r in conflict.iterrows()
            ],
            "z": conflict["z"].map("{:+.2f}".format),
            "p": conflict["p"].map("{:.2f}".format),
        }
    )


def _words(conflict: pd.DataFrame) -> str:
    method = conflict.get("method", pd.Series("", index=conflict.index)).astype(str)
    bounds = conflict.loc[method.str.contains("bounds"), "study"]
    return (
        "Each study's blockade fraction as the other studies and the model predict it (its "
        "leave-one-out refit, where the study's own term is off: its regimen's pooled β plus "
        "the between-study spread) against the study's own closed-form estimate (the "
        "cross-check's, a normal approximation to its likelihood). p is two-sided, from z = "
        "(estimate − predicted mean) / √(predicted SD² + SE²), a cross-validatory conflict "
        "check [@marshall2007]; the table shows the prediction's median and interval, z uses "
        "its mean and SD. The closed form's SE leaves out some of what the model carries (the "
        "study-level spread of ketamine's effect, the non-specific share, the early-stopping "
        "factor's own uncertainty), so it is too small and the check errs towards flagging. "
        + (
            f"For {', '.join(bounds)} the closed form reads reported bounds at their lower ends, "
            "a rough stand-in for the likelihood. "
            if len(bounds)
            else ""
        )
        + _verdict(conflict)
    )


def _verdict(conflict: pd.DataFrame) -> str:
    checked = conflict.dropna(subset=["p"])
    if checked.empty:
        return "No study could be checked (no p-value was finite)."
    flagged = checked[checked["p"] < FLAG_P]
    n = len(checked)
    if len(flagged):
        names = ", ".join(f"**{r.study}** (p = {r.p:.2g})" for r in flagged.itertuples())
        verb = "lies" if len(flagged) == 1 else "lie"
        return (
            f"Of {n} studies checked, {names} {verb} further from the others' prediction than "
            "their uncertainty allows at the 5% level (one test per study, no correction): "
            "read the pooled β of that regimen with it in mind, and its leave-out scenario in "
            "the robustness table above."
        )
    low = checked.loc[checked["p"].idxmin()]
    return (
        f"No study of the {n} checked lies further from the others' prediction than their "
        f"combined uncertainty allows at the 5% level (the smallest p is {low.p:.2f}, "
        f"{low.study}). A study whose regimen has few other studies is predicted mostly by the "
        "prior, so the check can find only a gross disagreement."
    )
