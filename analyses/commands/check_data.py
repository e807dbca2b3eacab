"""`python -m analyses check-data [PATH ...]`: validate study files, one line per study."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from models.evidence.load import check_paths
from models.evidence.problems import InputError


def run(paths: Sequence[Path]) -> int:
    """Check the files; print one line per valid study; raise InputError listing problems."""
    studies, literature, problems = check_paths(list(paths) or None)
    if problems:
        raise InputError(problems)
    for s in sorted(studies, key=lambda s: (s.citation.year, s.id)):
        used = "included" if s.status == "included" else s.status
        print(f"{s.id:<14} {s.design.type:<13} {s.naltrexone.regimen:<10} {used}")
    if literature is not None:
        print(f"{'literature':<14} {len(literature.inputs)} inputs")
    print(f"ok: {len(studies)} studies valid", file=sys.stderr)
    return 0
