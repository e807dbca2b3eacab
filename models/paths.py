"""Where the project folder is: the one home of every path the toolkit reads or writes by default.

The project folder holds ``data/``, ``docs/``, ``results/`` and ``validation/``. It is, in order:

1. the folder named by the environment variable ``KETAMINE_OPIOID_PROJECT``;
2. the source checkout this code runs from (an editable install or ``python -m analyses``);
3. the current working directory (a package installed from a wheel carries no ``data/``).
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ENV = "KETAMINE_OPIOID_PROJECT"


def project_root() -> Path:
    """The project folder (see the module docstring for the order it is looked for in)."""
    named = os.environ.get(PROJECT_ENV)
    if named:
        return Path(named).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "data" / "studies").is_dir():
        return checkout
    return Path.cwd()


ROOT = project_root()
DATA_DIR = ROOT / "data"
STUDIES_DIR = DATA_DIR / "studies"
LITERATURE_FILE = DATA_DIR / "literature" / "inputs.toml"
DOCS_DIR = ROOT / "docs"
