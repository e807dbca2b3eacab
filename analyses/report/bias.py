"""The report's risk-of-bias table: what the study files record, domain by domain, unrated.

A rating (RoB 2's "low", "some concerns", "high") is a reviewer's judgement on signalling
questions the reachable sources mostly do not answer (no included study's full paper was
reachable). So the table gives the facts a rater would start from, and says which of them the
model acts on and which it does not.
"""

from __future__ import annotations

import pandas as pd

from analyses.report.markdown import markdown_table

# How the study files' statuses of a number read in the table, in this order.
NUMBER_STATUSES = ("reported", "secondary", "derived", "not_reported")


def counted_once(numbers: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``numbers.csv`` a count of a study's numbers takes: a disputed number once,
    as the reading its study file makes the default (the table and the caveats agree)."""
    default = numbers.get("default", pd.Series(index=numbers.index, dtype=object))
    return numbers[~default.astype(str).isin(["False", "false"])]


def bias_table(evidence: pd.DataFrame, numbers: pd.DataFrame) -> pd.DataFrame:
    """One row per included study: design, randomisation and blinding, completeness, sources.

    ``evidence`` and ``numbers`` are a run's ``evidence.csv`` and ``numbers.csv``.
    """
    included = evidence[evidence["status"] == "included"]
    counts = counted_once(numbers).groupby(["study", "status"]).size()
    rows = []
    for _, s in included.iterrows():
        rows.append(
            {
                "study": s["label"],
                "design": _design(s),
                "between periods": _washout(s, numbers),
                "randomisation and blinding": s["blinding"],
                "analysed of enrolled": _completeness(s),
                "stopped early": "yes" if s["stopped_early"] in (True, "yes") else "no",
                "sources": s["sources"],
                "numbers (a disputed one once): "
                + " / ".join(x.replace("_", " ") for x in NUMBER_STATUSES): " / ".join(
                    str(counts.get((s["study"], status), 0)) for status in NUMBER_STATUSES
                ),
            }
        )
    return pd.DataFrame(rows)


def study_brief(s: pd.Series) -> str:
    """A study in a few words a reader can weigh it by: design, size, blinding, rating time.

    ``s`` is the study's row of ``evidence.csv``.
    """
    words = [_design(s)]
    if pd.notna(s.get("analysed")):
        words.append(f"{float(s['analysed']):.0f} analysed")
    if isinstance(s.get("blinding"), str) and s["blinding"]:
        words.append(s["blinding"])
    if s.get("stopped_early") in (True, "yes", "True"):
        words.append("stopped early")
    if pd.notna(s.get("timepoint_hours")):
        words.append(f"rated at {float(s['timepoint_hours']):g} h")
    return ", ".join(words)


def _design(s: pd.Series) -> str:
    comparator = s.get("comparator", "none")
    if s["design"] == "single_arm":
        return "single arm, no control"
    if comparator in ("saline", "midazolam"):
        return f"{s['design']}, {comparator} control arm"
    return f"{s['design']}, no arm without ketamine"


def _washout(s: pd.Series, numbers: pd.DataFrame) -> str:
    """A crossover's interval between its periods (carry-over is the bias it guards against),
    with the status of the number where it is not the paper's own."""
    if s["design"] != "crossover":
        return "not a crossover"
    days = s.get("washout_days")
    if days is None or pd.isna(days):
        return "not reported"
    row = numbers[(numbers["study"] == s["study"]) & (numbers["field"] == "design.washout_days")]
    status = row["status"].iloc[0] if len(row) else "reported"
    return f"{days:.0f} days" + ("" if status == "reported" else f" ({status})")


def _completeness(s: pd.Series) -> str:
    analysed, enrolled, planned = (s.get(k) for k in ("analysed", "enrolled", "planned"))
    if pd.isna(analysed):
        return "not reported" + _registry(s, enrolled)
    text = f"{analysed:.0f}"
    if not pd.isna(enrolled):
        share = f" ({analysed / enrolled:.0%})" if enrolled > 0 else ""
        text += f" of {enrolled:.0f}{share}"
    if not pd.isna(planned):
        text += f"; {planned:.0f} planned"
    return text + _registry(s, enrolled)


def _registry(s: pd.Series, enrolled) -> str:
    """The registry's enrolment where it differs from the study's (absent in older runs)."""
    registry = s.get("registry_enrolled")
    if registry is None or pd.isna(registry) or registry == enrolled:
        return ""
    return f"; the registry: {registry:.0f} enrolled"


def _source_list(evidence: pd.DataFrame) -> str:
    """Each included study's sources as its file describes them (empty for older runs)."""
    if "source_descriptions" not in evidence:
        return ""
    included = evidence[evidence["status"] == "included"]
    lines = [
        f"- {r['label']}: " + "; ".join(str(r["source_descriptions"]).split(" | "))
        for _, r in included.iterrows()
    ]
    return "**Sources**, as each study file describes them:\n\n" + "\n".join(lines) + "\n\n"


def bias_section(evidence: pd.DataFrame, numbers: pd.DataFrame, options: dict) -> str:
    """The subsection, or nothing for a run made before ``evidence.csv`` had the columns."""
    if not {"blinding", "enrolled", "planned", "sources"} <= set(evidence.columns):
        # A run made before these columns (its folder re-rendered).
        return ""
    table = bias_table(evidence, numbers)
    if table.empty:
        return ""
    bias = (
        "a bias term for a trial stopped early, whose size is borrowed from trials of other "
        "questions"
        if options.get("early_stopping_bias")
        else "nothing for a trial stopped early (this run's `early_stopping_bias` is off)"
    )
    return (
        "### Risk of bias: what the study files record\n\n"
        + markdown_table(table)
        + "\n\n"
        + _source_list(evidence)
        + "The toolkit does not rate risk of bias. RoB 2 [@sterne2019rob2] asks about five "
        "domains: the randomisation, deviations from the intended interventions, missing "
        "outcome data, the measurement of the outcome and the selection of the reported "
        "result (a crossover adds a domain for period and carry-over effects, and a "
        "non-randomised study such as a single arm needs ROBINS-I [@sterne2016robinsi] "
        "instead). Most of the signalling questions need a study's full paper or protocol, and "
        "the sources listed above are what was reachable. The table gives the facts a rater "
        f"would start from. The model acts on some of them: {bias}; the study's own design in "
        "its likelihood (a crossover's paired outcomes, a single arm's external prior for "
        "ketamine alone); and a disputed number's readings, each a scenario of the robustness "
        "suite. It does not act "
        "on the others: participants enrolled but not analysed are assumed missing at random, "
        "an open-label rating is taken at face value, and an analysis chosen after the fact "
        "(the study notes above say where one may have been) is not corrected for.\n"
    )
