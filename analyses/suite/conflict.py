"""Does any study disagree with the others? A cross-validatory conflict check per study.

Marshall & Spiegelhalter (2007) compare two independent sources of evidence on a study's
parameter: its prediction from the rest of the data (the "predictive prior") and the study's
own likelihood. Here the parameter is the study's blockade fraction β_s:

- the prediction is the leave-one-out refit's β_s. The left-out study's term is switched off
  but its β_s stays in the model, drawn from its regimen's pooled β and the between-study
  spread, so its posterior is exactly the prediction from the other studies and the prior;
- the study's own evidence is its closed-form estimate and standard error (the cross-check's
  ``beta_estimates.csv``), a normal approximation to its likelihood for β_s. That SE leaves out
  some of what the model carries (the study-level spread of ketamine's effect, the non-specific
  share, the early-stopping factor's own uncertainty), so it is too small and the check errs
  towards flagging.

Both are summarised by a mean and an SD, and the two-sided p-value is that of
``z = (estimate - predicted mean) / sqrt(predicted SD^2 + SE^2)``. A small p flags a study the
others and the model cannot account for. With two studies per regimen, each prediction rests
on one other study and the prior, so the check can only find a gross disagreement.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from analyses.inference.intervals import interval

# The columns a leave-one-out row adds to sensitivity.csv (docs/outputs.md).
PREFIX = "left_out_beta"


def left_out_prediction(post, studies: tuple[str, ...] | None) -> dict:
    """The left-out study's β as the refit predicts it, for a scenario leaving out one study.

    ``post`` is the refit's posterior; ``studies`` the scenario's studies (None: all). Returns
    ``{}`` unless exactly one study of the model's ``beta_study`` is not among them.
    """
    if studies is None or "beta_study" not in post:
        return {}
    beta = post["beta_study"]
    left = [s for s in beta.coords["study"].values if s not in set(studies)]
    if len(left) != 1:
        return {}
    draws = beta.sel(study=left[0]).values.ravel()
    ci = interval()
    bounds = ci.bounds(draws)
    return {
        "left_out": str(left[0]),
        f"{PREFIX}_mean": float(np.mean(draws)),
        f"{PREFIX}_sd": float(np.std(draws)),
        f"{PREFIX}_median": float(np.median(draws)),
        **{f"{PREFIX}_{c}": float(b) for c, b in zip(ci.columns, bounds, strict=True)},
    }


def conflict_table(sensitivity: pd.DataFrame, estimates: pd.DataFrame) -> pd.DataFrame:
    """One row per left-out study with a closed-form estimate: the prediction, z and p.

    ``sensitivity`` is the suite's table, ``estimates`` the cross-check's per-study estimates.
    Empty when the suite left no single study out.
    """
    lb, ub = interval().columns
    columns = ["study", "estimate", "se", "method", "predicted_mean", "predicted_sd"]
    columns += ["predicted_median", f"predicted_{lb}", f"predicted_{ub}", "certified", "z", "p"]
    if "left_out" not in sensitivity or estimates.empty:
        return pd.DataFrame(columns=columns)
    left = sensitivity["left_out"]
    rows = sensitivity[left.notna() & (left.astype(str) != "")]
    rows = rows.drop_duplicates("left_out").set_index("left_out")
    found = estimates.set_index("study")
    out = []
    for study in (s for s in found.index if s in rows.index):
        r, e = rows.loc[study], found.loc[study]
        z = (e["estimate"] - r[f"{PREFIX}_mean"]) / np.hypot(r[f"{PREFIX}_sd"], e["se"])
        out.append(
            {
                "study": study,
                "estimate": e["estimate"],
                "se": e["se"],
                "method": e.get("method", ""),
                "predicted_mean": r[f"{PREFIX}_mean"],
                "predicted_sd": r[f"{PREFIX}_sd"],
                "predicted_median": r[f"{PREFIX}_median"],
                f"predicted_{lb}": r[f"{PREFIX}_{lb}"],
                f"predicted_{ub}": r[f"{PREFIX}_{ub}"],
                "certified": bool(r.get("certified", True)),
                "z": z,
                "p": 2 * stats.norm.sf(abs(z)),
            }
        )
    return pd.DataFrame(out, columns=columns)
