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

# The template is a TOML file of its own (readable, and checked by the tests as TOML); its one
# placeholder is the study id, written "{id}".
TEMPLATE_FILE = Path(__file__).resolve().parent.parent / "templates" / "new_study.toml"


def template_text(study_id: str) -> str:
    """The new-study template with its id filled in."""
    return TEMPLATE_FILE.read_text(encoding="utf-8").replace("{id}", study_id)


def write_template(study_id: str, folder: Path | None = None) -> int:
    """Write ``<folder>/<study_id>.toml``; refuse to overwrite an existing file."""
    folder = Path(folder or STUDIES_DIR)
    path = folder / f"{study_id}.toml"

    def refuse(field: str, found: str, expected: str) -> InputError:
        # A refused id does not name a file: the message names the folder instead.
        where = str(folder) if field == "id" else str(path)
        return InputError([Problem(where, study_id[:40], field, found, expected)])

    if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", study_id):
        found = repr(study_id if len(study_id) <= 60 else study_id[:57] + "...")
        raise refuse("id", found, "lower-case letters, digits and _, starting with a letter, <= 40")
    if path.exists() or path.is_symlink():
        raise refuse("", "an existing file", "a new study id: new-study never overwrites")
    if folder.is_symlink() and not folder.exists():
        raise refuse("--dir", f"{folder}, a link to nothing", "a folder")
    if folder.exists() and not folder.is_dir():
        raise refuse("--dir", f"{folder}, a file", "a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as handle:  # "x": fail rather than overwrite a race
            handle.write(template_text(study_id))
    except OSError as err:
        found = f"{folder} ({err.strerror})"
        raise refuse("--dir", found, "a folder this user can write to") from None
    print(f"wrote {path}: replace every TODO, then run `python -m analyses check-data {path}`")
    example = "data/studies/williams2018.toml"
    print(f"For numbers the sources disagree on, see the [disputes] of {example}", file=sys.stderr)
    return 0
