"""The report's per-study conflict check: each study against what the others predict for it."""

from __future__ import annotations

import pandas as pd

from analyses.inference.intervals import interval
from analyses.report.sections import markdown_table

# Below this two-sided p the report names a study as disagreeing with the others: the usual
# 5%, with the number of studies checked stated beside it (four p-values, no correction).
FLAG_P = 0.05


def conflict_section(conflict: pd.DataFrame) -> str:
    """The subsection from a run's ``conflict.csv`` (nothing when the run has none)."""
    if conflict.empty:
        return ""
    ci = interval()
    lb, ub = (f"predicted_{c}" for c in ci.columns)
    table = pd.DataFrame(
        {
            "study": conflict["study"],
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
    return (
        "## Does any study disagree with the others?\n\n"
        + markdown_table(table)
        + "\n\nEach study's blockade fraction as the other studies and the model predict it "
        "(its leave-one-out refit, where the study's own term is off: its regimen's pooled β "
        "plus the between-study spread) against the study's own closed-form estimate (the "
        "cross-check's, a normal approximation to its likelihood). p is two-sided, from z = "
        "(estimate − predicted mean) / √(predicted SD² + SE²), a cross-validatory conflict "
        "check [@marshall2007]. The closed form fixes what it does not estimate (ketamine's "
        "effect, the specific share) at its prior mean, so its SE understates the study's "
        "uncertainty and the check errs towards flagging. " + _verdict(conflict) + "\n"
    )


def _verdict(conflict: pd.DataFrame) -> str:
    flagged = conflict[conflict["p"] < FLAG_P]
    n = len(conflict)
    if len(flagged):
        names = ", ".join(f"**{r.study}** (p = {r.p:.2g})" for r in flagged.itertuples())
        return (
            f"Of {n} studies, {names} lie further from the others' prediction than their "
            "uncertainty allows at the 5% level: read the pooled β of that regimen with it in "
            "mind, and its leave-out scenario in the robustness table above."
        )
    low = conflict.loc[conflict["p"].idxmin()]
    return (
        f"No study of the {n} lies further from the others' prediction than their combined "
        f"uncertainty allows at the 5% level (the smallest p is {low.p:.2f}, {low.study}). "
        "A study whose regimen has few other studies is predicted mostly by the prior, so the "
        "check can find only a gross disagreement."
    )
