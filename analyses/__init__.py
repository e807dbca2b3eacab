"""Command-line analyses: `ketamine-opioid --help` (or `python -m analyses --help`) lists them."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "ketamine-opioid-reanalysis"


def _version() -> str:
    # pyproject.toml is the one home of the version: installed, it is read from the package's
    # metadata; run from a checkout that was never installed, from pyproject.toml itself.
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]


__version__ = _version()
