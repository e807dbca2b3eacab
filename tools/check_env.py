"""Check that the running environment is the locked one: the conda route of `make`.

Usage: python tools/check_env.py

A conda user creates the environment from environment.yml, activates it, and runs `make`;
`make` then uses that environment instead of building .venv, after this check. It exits 1,
naming every difference, if the interpreter is not the Python of .python-version, a package
of requirements.lock is missing or at another version, or the toolkit itself is not
installed from this checkout. It never changes the environment.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==(\S+)$")


def lock_pins(lock: Path) -> dict[str, str]:
    """Package name -> exact version, from a lock file."""
    pins = {}
    for line in lock.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def differences(lock: Path = ROOT / "requirements.lock") -> list[str]:
    """Every way the running environment differs from the lock (empty if none)."""
    problems = []
    want = (ROOT / ".python-version").read_text().strip()
    have = f"{sys.version_info.major}.{sys.version_info.minor}"
    if have != want:
        problems.append(f"Python is {have} ({sys.executable}); .python-version asks for {want}")
    for name, version in lock_pins(lock).items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name}: not installed; the lock pins {version}")
            continue
        if installed != version:
            problems.append(f"{name}: {installed} installed; the lock pins {version}")
    try:
        import analyses
    except ImportError:
        problems.append("the toolkit is not installed (pip install --no-deps -e .)")
    else:
        if Path(analyses.__file__).resolve().parent.parent != ROOT:
            problems.append(f"the toolkit is installed from {analyses.__file__}, not {ROOT}")
    return problems


def main() -> int:
    problems = differences()
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        print(
            "The active conda environment does not match requirements.lock. Recreate it "
            "(conda env remove -n ketamine-opioid; conda env create -f environment.yml), or "
            "deactivate it and let make build .venv.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
