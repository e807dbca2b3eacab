"""The package installs as a new user would install it, and gives the `ketamine-opioid` command.

The fresh venv borrows the locked dependencies from the project's own environment (a .pth
file), so the test checks the project's build system, package list and entry point without
downloading or reinstalling numpy, PyMC and the rest.
"""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

from analyses import __version__

ROOT = Path(__file__).resolve().parents[1]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
# Only what a build reads: the wheel must come out of these alone.
BUILD_INPUTS = ("pyproject.toml", "README.md", "models", "analyses")


def _source_copy(dest: Path) -> Path:
    """A copy of the build inputs, so building never writes into the repository."""
    dest.mkdir()
    for name in BUILD_INPUTS:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def _fresh_venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=True).create(path)
    lib = next(path.glob("lib/python3.*/site-packages"))
    (lib / "locked_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return path / "bin"


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def test_version_comes_from_pyproject():
    assert __version__ == VERSION


def test_editable_install_gives_a_working_console_script(tmp_path):
    source = _source_copy(tmp_path / "src")
    bin_dir = _fresh_venv(tmp_path / "venv")
    pip = (bin_dir / "python", "-m", "pip", "install", "--quiet", "--no-deps")
    done = _run(*pip, "--no-build-isolation", "--no-index", "-e", source, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # From another folder, so nothing is found by accident on the working directory.
    version = _run(bin_dir / "ketamine-opioid", "--version", cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"ketamine-opioid {VERSION}"
    helped = _run(bin_dir / "ketamine-opioid", "--help", cwd=tmp_path)
    for command in ("run", "check-data", "new-study", "meta", "report", "validate", "bench"):
        assert command in helped.stdout


def test_wheel_holds_the_code_and_its_data_files_only(tmp_path):
    source = _source_copy(tmp_path / "src")
    done = _run(
        sys.executable,
        *("-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index"),
        *("-w", tmp_path / "dist", source),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"models", "analyses"}
    for needed in (
        "analyses/primary.toml",
        "analyses/priors/neutral.toml",
        "analyses/templates/new_study.toml",
        "models/evidence/schema.py",
    ):
        assert needed in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert (
        "ketamine-opioid = analyses.cli:entry" in zipfile.ZipFile(wheel).read(entry_points).decode()
    )
