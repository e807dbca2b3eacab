"""Does any study disagree with the others? A cross-validatory conflict check per study.

Marshall & Spiegelhalter (2007) compare a study's evidence with its prediction from the rest
of the data. In each leave-one-out refit the left-out study's term is switched off but its
parameters stay in the model, so their posterior is exactly that prediction. Two checks:

- **on the data** (the main one, :mod:`analyses.suite.conflict_replicates`): the study's data
  replicated from the refit, against its observed data, one summary statistic per study;
- **on the β scale** (the older, approximate one): the refit's β_s against the study's
  closed-form estimate and SE (the cross-check's ``beta_estimates.csv``), a normal
  approximation to its likelihood for β_s, with two-sided p from ``z = (estimate - predicted
  mean) / sqrt(predicted SD^2 + SE^2)``. That SE leaves out some of what the model carries
  (the study-level spread of ketamine's effect, the non-specific share, the early-stopping
  factor's uncertainty) and, for a crossover, ignores the pairing; the two can disagree.

With two studies per regimen, each prediction rests on one other study and the prior, so
either check can find only a gross disagreement.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from analyses.inference.intervals import interval
from analyses.suite.conflict_replicates import PREFIX as REPLICATED_PREFIX

# The columns a leave-one-out row adds to sensitivity.csv (docs/outputs.md).
PREFIX = "left_out_beta"
CHECK = REPLICATED_PREFIX
_LB, _UB = interval().columns
# The replicated-data check's columns, as conflict.csv names them.
_CHECK_COLUMNS = (
    "item",
    "statistic",
    "observed_low",
    "observed_high",
    "replicated_median",
    f"replicated_{_LB}",
    f"replicated_{_UB}",
)
COLUMNS = [
    "study",
    *_CHECK_COLUMNS,
    "p",
    "p_high",
    "check_note",
    "other_readings",
    "items",
    "estimate",
    "se",
    "method",
    *(f"predicted_{c}" for c in ("mean", "sd", "median", _LB, _UB)),
    "certified",
    "z",
    "p_normal",
]


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
    """One row per left-out study: the check on replicated data, and on the β scale.

    ``sensitivity`` is the suite's table, ``estimates`` the cross-check's per-study estimates.
    ``p`` is the replicated-data check's (its smallest over the readings a range allows,
    ``p_high`` the largest; :mod:`analyses.suite.conflict_replicates`), ``p_normal`` the
    normal approximation's on the β scale. Empty when the suite left no single study out.
    """
    lb, ub = interval().columns
    if "left_out" not in sensitivity:
        return pd.DataFrame(columns=COLUMNS)
    left = sensitivity["left_out"]
    rows = sensitivity[left.notna() & (left.astype(str) != "")]
    rows = rows.drop_duplicates("left_out").set_index("left_out")
    found = estimates.set_index("study") if "study" in estimates else pd.DataFrame()
    order = [s for s in found.index if s in rows.index]
    order += [s for s in rows.index if s not in order]
    out = []
    for study in order:
        r = rows.loc[study]
        row = {"study": study, "certified": bool(r.get("certified", True))}
        row |= {c: r.get(f"{CHECK}_{c}", np.nan) for c in _CHECK_COLUMNS}
        row["p"], row["p_high"] = r.get(f"{CHECK}_p", np.nan), r.get(f"{CHECK}_p_high", np.nan)
        row["check_note"] = r.get(f"{CHECK}_note", "")
        row["other_readings"] = r.get(f"{CHECK}_other_readings", "")
        row["items"] = r.get(f"{CHECK}_items", "")
        row |= {f"predicted_{c}": r[f"{PREFIX}_{c}"] for c in ("mean", "sd", "median", lb, ub)}
        e = found.loc[study] if study in found.index else pd.Series(dtype=object)
        row |= {c: e.get(c, np.nan) for c in ("estimate", "se", "method")}
        z = (row["estimate"] - row["predicted_mean"]) / np.hypot(row["predicted_sd"], row["se"])
        row["z"], row["p_normal"] = z, 2 * stats.norm.sf(abs(z))
        out.append(row)
    return pd.DataFrame(out, columns=COLUMNS)
