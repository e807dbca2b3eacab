"""Importing the toolkit changes no global state: a notebook's backend and logging stay its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, logging, pkgutil, importlib, warnings
import matplotlib, pymc, nutpie, arviz  # the libraries' own import-time effects come first
import models, analyses

def state():
    names = ["", "pymc", "pytensor", "arviz", "arviz_stats", "nutpie", "matplotlib", "numba"]
    return {
        "backend": matplotlib.rcParams._get_backend_or_none(),
        "levels": {n: logging.getLogger(n).level for n in names},
        "filters": len(warnings.filters),
    }

before = state()
for package in (models, analyses):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
print(json.dumps({"before": before, "after": state()}))
"""


def test_importing_every_module_leaves_backend_logging_and_warnings_alone():
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["after"] == seen["before"]
