"""The report's per-study conflict check: each study against what the others predict for it."""

from __future__ import annotations

import numpy as np
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
            "without the left-out study, so no prediction of that study was recorded.\n"
        )
    conflict = _current(conflict)
    return TITLE + markdown_table(_table(conflict)) + "\n\n" + _words(conflict) + "\n"


def _current(conflict: pd.DataFrame) -> pd.DataFrame:
    """A run made before the replicated-data check had only the normal approximation's p."""
    if "p_normal" in conflict:
        return conflict
    old = conflict.rename(columns={"p": "p_normal"})
    return old.assign(p=np.nan, p_high=np.nan, statistic="", check_note="")


def _table(conflict: pd.DataFrame) -> pd.DataFrame:
    certified = conflict.get("certified", pd.Series(True, conflict.index)).astype(bool)
    rows = [_row(r, c) for (_, r), c in zip(conflict.iterrows(), certified, strict=True)]
    return pd.DataFrame(rows)


def _row(r: pd.Series, certified: bool) -> dict:
    ci = interval()
    lb, ub = ci.columns
    predicted = (r["predicted_median"], r[f"predicted_{lb}"], r[f"predicted_{ub}"])
    digits = 0 if _whole(r, lb, ub) else 2
    return {
        "study": r["study"] if certified else f"{r['study']} (NOT CERTIFIED)",
        "statistic (larger: more removed)": _statistic(r),
        "observed": _span(
            r.get("observed_low"), r.get("observed_high"), f"{{:+.{digits}f}}".format
        ),
        "replicated from the others": _replicated(r, lb, ub, digits),
        "p": _span(r["p"], r.get("p_high"), "{:.2f}".format),
        "β predicted by the others": ci.describe("median", *predicted),
        "its own β (closed form)": (
            "—" if pd.isna(r["estimate"]) else f"{r['estimate']:+.2f} ± {r['se']:.2f}"
        ),
        "p, normal approximation": _p(r["p_normal"]),
    }


def _statistic(row: pd.Series) -> str:
    label = row.get("statistic")
    if isinstance(label, str) and label:
        return label
    note = row.get("check_note")
    return f"not checked: {note}" if isinstance(note, str) and note else "not checked"


def _p(x: float) -> str:
    return "—" if pd.isna(x) else f"{x:.2f}"


def _span(low, high, fmt) -> str:
    """One value, or 'a to b' for a range; a dash for none."""
    if low is None or pd.isna(low):
        return "—"
    if high is None or pd.isna(high) or fmt(high) == fmt(low):
        return fmt(low)
    return f"{fmt(low)} to {fmt(high)}"


def _replicated(row: pd.Series, lb: str, ub: str, digits: int) -> str:
    median = row.get("replicated_median")
    if median is None or pd.isna(median):
        return "—"
    bounds = row[f"replicated_{lb}"], row[f"replicated_{ub}"]
    return interval().describe("median", median, *bounds, digits=digits)


def _whole(row: pd.Series, lb: str, ub: str) -> bool:
    """Whether the statistic is a count: every number of the row's check a whole number."""
    names = ["observed_low", "observed_high", "replicated_median"]
    values = [row.get(n) for n in [*names, f"replicated_{lb}", f"replicated_{ub}"]]
    return all(v is not None and pd.notna(v) and float(v).is_integer() for v in values)


def _words(conflict: pd.DataFrame) -> str:
    return (
        "Each left-out study's data against the data it would have if it agreed with the others "
        "and the model. In the study's leave-one-out refit its own term is off, so its β and "
        "ketamine effect are drawn from their pooled values and between-study spreads, its "
        "nuisances from their priors, and the rest from the posterior given the other studies; "
        "at each draw its data are replicated from its own likelihood and summarised by one "
        "statistic, oriented so that larger means naltrexone removed more. p is the two-sided "
        "mid-p of the observed statistic among the replicates (one per posterior draw), a "
        "mixed-predictive cross-validatory check [@marshall2007]; where a number is known only "
        "as a range, p runs over every reading the range allows. The last three columns make "
        "the same comparison on the β scale with the study's closed-form estimate, a normal "
        "approximation that leaves out some of what the model carries (the study-level spread "
        "of ketamine's effect, the non-specific share, the early-stopping factor's "
        "uncertainty) and, for a crossover, the pairing: where the two differ, the replicated "
        "check is the model's own. "
        + _lower_ends(conflict)
        + _verdict(conflict)
        + _other_readings(conflict)
        + _items(conflict)
    )


def _items(conflict: pd.DataFrame) -> str:
    """Each item's own p, for the studies checked on several items."""
    return _listed(
        conflict,
        "items",
        " A study reporting several outcomes is checked on all of them together. Its p asks "
        "how often a study replicated from the others would have an outcome as far out as "
        "its most discrepant one, so reporting more outcomes does not by itself make a study "
        "look discrepant, and one outcome's own p below 0.05 need not flag its study; the "
        "table shows that most discrepant outcome. Each outcome's own p: ",
    )


def _listed(conflict: pd.DataFrame, column: str, opening: str) -> str:
    """``opening`` and ``study: text`` for each study whose text column is not empty; or "".

    A column of conflict.csv that is empty in every row reads back as floats (NaN).
    """
    found = conflict.get(column, pd.Series("", index=conflict.index)).astype(object)
    texts = found.where(found.notna(), "").astype(str)
    listed = [f"{s}: {t}" for s, t in zip(conflict["study"], texts, strict=True) if t]
    return opening + "; ".join(listed) + "." if listed else ""


def _other_readings(conflict: pd.DataFrame) -> str:
    """The p of each study at the other readings of its disputed numbers, if it has any."""
    return _listed(
        conflict,
        "other_readings",
        " The table reads each study's disputed numbers as the analysis does; at their other "
        "readings, against the same replicates (the left-out refit does not see them), ",
    )


def _lower_ends(conflict: pd.DataFrame) -> str:
    method = conflict.get("method", pd.Series("", index=conflict.index)).fillna("").astype(str)
    bounds = conflict.loc[method.str.contains("bounds"), "study"]
    if not len(bounds):
        return ""
    return (
        f"For {', '.join(bounds)} the closed form reads reported bounds at their lower ends, "
        "a rough stand-in for the likelihood. "
    )


def _verdict(conflict: pd.DataFrame) -> str:
    on_data = conflict.dropna(subset=["p"])
    normal_only = conflict[conflict["p"].isna() & conflict["p_normal"].notna()]
    if on_data.empty and normal_only.empty:
        return "No study could be checked (no p-value was finite)."
    high = on_data["p_high"].fillna(on_data["p"])
    every = on_data[high < FLAG_P]
    some = on_data[(on_data["p"] < FLAG_P) & (high >= FLAG_P)]
    words = [_flags(on_data, every, some)] if len(on_data) else []
    if len(normal_only):
        names = ", ".join(f"{r.study} (p = {r.p_normal:.2g})" for r in normal_only.itertuples())
        words.append(f"Checked on the β scale only, with no replicated data: {names}.")
    return " ".join(words)


def _flags(on_data: pd.DataFrame, every: pd.DataFrame, some: pd.DataFrame) -> str:
    n = len(on_data)
    if len(every) or len(some):
        parts = []
        if len(every):
            names = ", ".join(f"**{r.study}** (p = {r.p_high:.2g})" for r in every.itertuples())
            parts.append(f"{names} at every reading of its numbers")
        if len(some):
            names = ", ".join(
                f"**{r.study}** (p = {r.p:.2g} to {r.p_high:.2g})" for r in some.itertuples()
            )
            parts.append(f"{names} at some readings only")
        return (
            f"Of {n} studies checked, these lie further from the others' prediction than the "
            "model allows at the 5% level (one test per study, no correction): "
            f"{'; '.join(parts)}. "
            "Read the pooled β of that regimen with it in mind, and the study's leave-out "
            "scenario in the robustness table above."
        )
    low = on_data.loc[on_data["p"].idxmin()]
    return (
        f"No study of the {n} checked lies further from the others' prediction than the model "
        f"allows at the 5% level (the smallest p is {low.p:.2f}, {low.study}). A study whose "
        "regimen has few other studies is predicted mostly by the prior, so the check can find "
        "only a gross disagreement."
    )
