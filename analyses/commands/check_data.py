"""`python -m analyses check-data [PATH ...] [--config FILE]`: validate before fitting.

With no paths, runs every check `run` makes before it fits (:mod:`analyses.commands.preflight`):
the study files and literature inputs, the configuration, every prior set, the covariates, the
model's starting point and the results folder. With paths, checks those study files alone.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from models.evidence.load import check_paths
from models.evidence.problems import InputError


def run(paths: Sequence[Path], config: Path | None = None) -> int:
    """Check the inputs; print one line per valid study; raise InputError listing problems."""
    if paths and config is not None:
        from models.evidence.problems import Problem

        problem = Problem("check-data", "-", "", "both PATHs and --config", "one or the other")
        raise InputError([problem])
    studies, literature, problems = check_paths(list(paths) or None)
    if problems:
        raise InputError(problems)
    if not paths:
        from analyses.commands.preflight import preflight

        inputs = preflight(config, None)
    for s in sorted(studies, key=lambda s: (s.citation.year, s.id)):
        used = "included" if s.status == "included" else s.status
        print(f"{s.id:<14} {s.design.type:<13} {s.naltrexone.regimen:<10} {used}")
    if literature is not None:
        print(f"{'literature':<14} {len(literature.inputs)} inputs")
    if paths:
        print(f"ok: {len(studies)} studies valid (these files only)", file=sys.stderr)
    else:
        print(
            f"ok: {len(studies)} studies valid; {inputs.label}, its prior sets, the model's "
            f"starting point and {inputs.root} checked: `run` will not stop before fitting",
            file=sys.stderr,
        )
    return 0
