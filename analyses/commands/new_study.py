"""`python -m analyses new-study ID`: write a commented template for a new study file.

Every number in the template is the string "TODO", which check-data rejects with a message
naming the field, so a half-filled file can never enter an analysis by accident.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from models.evidence.load import STUDIES_DIR
from models.evidence.problems import InputError, Problem

TEMPLATE = """\
# {id}: replace every "TODO", then run `python -m analyses check-data data/studies/{id}.toml`.
# Every number is a table with its provenance:
#   value (or lower/upper for a range or a bound), status = reported | secondary | derived |
#   not_reported, source = a key of [sources], where = place in the source (optional),
#   derivation = the arithmetic (required when derived), note = a short note in your words.
# A number the sources disagree on becomes a dispute: see data/studies/williams2018.toml.
schema_version = 1
id = "{id}"
label = "TODO"                        # how tables and plots name the study, e.g. "Smith 2027"
status = "included"                   # included | excluded | registered
# exclusion_reason = "TODO"           # required when status is excluded or registered

[citation]
authors = "TODO"
year = "TODO"                         # an integer: orders the cumulative analysis
title = "TODO"
journal = "TODO"
doi = "TODO"
registry = "TODO"                     # e.g. NCT01234567

[design]
type = "TODO"                         # crossover | parallel | single_arm | observational
population = "TODO"
blinding = "TODO"
stopped_early = false                 # true if halted at an interim analysis for benefit

[ketamine]
route = "iv"

[ketamine.dose_mg_per_kg]
value = "TODO"
status = "reported"
source = "paper"
note = "TODO"

[ketamine.infusions]
value = "TODO"
status = "reported"
source = "paper"
note = "TODO"

[naltrexone]
route = "TODO"                        # oral | im_depot
regimen = "TODO"                      # acute (a dose shortly before) | sustained (days before)

[naltrexone.dose_mg]
value = "TODO"
status = "reported"
source = "paper"
note = "TODO"

[naltrexone.hours_before_first_infusion]
lower = "TODO"                        # hours from the naltrexone dose to the first infusion
upper = "TODO"
status = "reported"
source = "paper"
note = "TODO"

[outcome]
scale = "TODO"                        # HAM-D17 | HAM-D6 | MADRS | BDI-II | QIDS-SR | C-SSRS
timepoint = "TODO"                    # e.g. "24 h after the first infusion"

[outcome.timepoint_hours]
value = "TODO"
status = "reported"
source = "paper"
note = "TODO"

[sample.enrolled]
value = "TODO"
status = "reported"
source = "paper"
note = "TODO"

[sample.analysed]
value = "TODO"
status = "reported"
source = "paper"
note = "TODO"

[covariates]
# Every included study gives the same covariates (check-data enforces it).
alcohol_use_disorder = "TODO"         # 1.0 if the population has alcohol use disorder, else 0.0

[sources.paper]
url = "TODO"
doi = "TODO"
description = "TODO"

# ---- evidence: one [[evidence]] table per result the study reports -------------------------
# kind = paired_binary      crossover responders: pairs, responders_placebo,
#                           responders_naltrexone, optional both_responded
# kind = contrast_statistic statistic = "F" | "t" | "z", value, df_numerator, df,
#                           participants, optional p_value and attenuation (0.28 for 28%)
# kind = arm_counts         [[evidence.arms]] with condition, label, n, events (events may
#                           be a bound: lower/upper)
# kind = single_arm_binary  condition = "ketamine_naltrexone", n, events
# kind = arm_means          scale, paired, [[evidence.arms]] with condition, label, n,
#                           mean_change, sd_change (improvement: positive = better), optional
#                           within_subject_correlation for a crossover
# kind = ipd                scale, paired, file = "{id}_ipd.csv" beside this file with columns
#                           participant, condition, change; plus status, source, note
# conditions: ketamine_placebo | ketamine_naltrexone | control (no ketamine)

[[evidence]]
kind = "arm_means"
id = "TODO"                           # lower case, e.g. "madrs_day1"
outcome = "TODO"
scale = "TODO"
paired = "TODO"                       # true for a crossover, false for parallel arms

[evidence.timepoint_hours]
value = "TODO"
status = "reported"
source = "paper"
note = "TODO"

[[evidence.arms]]
condition = "ketamine_placebo"
label = "TODO"

[evidence.arms.n]
value = "TODO"
status = "reported"
source = "paper"
note = "TODO"

[evidence.arms.mean_change]
value = "TODO"
status = "reported"
source = "paper"
note = "TODO"

[evidence.arms.sd_change]
value = "TODO"
status = "reported"
source = "paper"
note = "TODO"

[[evidence.arms]]
condition = "ketamine_naltrexone"
label = "TODO"

[evidence.arms.n]
value = "TODO"
status = "reported"
source = "paper"
note = "TODO"

[evidence.arms.mean_change]
value = "TODO"
status = "reported"
source = "paper"
note = "TODO"

[evidence.arms.sd_change]
value = "TODO"
status = "reported"
source = "paper"
note = "TODO"
"""


def write_template(study_id: str, folder: Path | None = None) -> int:
    """Write ``<folder>/<study_id>.toml``; refuse to overwrite an existing file."""
    folder = Path(folder or STUDIES_DIR)
    path = folder / f"{study_id}.toml"
    if not re.fullmatch(r"[a-z][a-z0-9_]*", study_id):
        raise InputError(
            [
                Problem(
                    str(path),
                    study_id,
                    "id",
                    repr(study_id),
                    "lower-case letters, digits and _, starting with a letter",
                )
            ]
        )
    if path.exists():
        raise InputError(
            [
                Problem(
                    str(path),
                    study_id,
                    "",
                    "an existing file",
                    "a new study id: new-study never overwrites",
                )
            ]
        )
    folder.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as handle:  # "x": fail rather than overwrite a race
        handle.write(TEMPLATE.format(id=study_id))
    print(f"wrote {path}: replace every TODO, then run `python -m analyses check-data {path}`")
    example = "data/studies/williams2018.toml"
    print(f"For numbers the sources disagree on, see the [disputes] of {example}", file=sys.stderr)
    return 0
