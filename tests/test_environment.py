"""The environment: lock file, environment.yml and the interpreter agree."""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==(\S+)$")


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        m = PIN.match(line.strip())
        if m:
            pins[m.group(1).lower()] = m.group(2)
    return pins


def environment_pins() -> tuple[dict[str, str], list[str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = [], {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                if line == "-e .":  # the toolkit itself, from the checkout
                    continue
                m = PIN.match(line)
                assert m, f"environment.yml pip entry without an exact pin: {line!r}"
                pip[m.group(1).lower()] = m.group(2)
        else:
            conda.append(dep)
    return pip, conda


def test_environment_yml_matches_the_lock():
    pip, conda = environment_pins()
    assert pip == lock_pins()
    python = (ROOT / ".python-version").read_text().strip()
    assert f"python={python}" in conda


def test_lock_pins_the_decided_stack():
    pins = lock_pins()
    assert pins["pymc"].startswith("6.4.")
    assert pins["arviz"].startswith("1.3.")
    for name in ("arviz-base", "arviz-stats", "arviz-plots"):
        assert pins[name].startswith("1.3."), name
    for name in ("nutpie", "numpy", "pandas", "xarray", "h5netcdf", "h5py", "matplotlib"):
        assert name in pins, name


def test_running_interpreter_and_packages_match():
    python = (ROOT / ".python-version").read_text().strip()
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == python
    pins = lock_pins()
    for name in ("pymc", "arviz", "nutpie", "numpy", "xarray", "h5netcdf"):
        assert metadata.version(name) == pins[name], name


def test_environment_yml_installs_the_toolkit_itself():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(dep["pip"] for dep in env["dependencies"] if isinstance(dep, dict))
    assert "-e ." in pip  # so `make` inside the conda environment needs no second install


def test_the_conda_route_uses_the_environment_and_builds_no_venv():
    import subprocess

    env = {
        "CONDA_DEFAULT_ENV": "ketamine-opioid",
        "CONDA_PREFIX": "/opt/conda/envs/x",
        "PATH": "/usr/bin:/bin",
    }
    dry = subprocess.run(
        ["make", "-n", "analysis"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert dry.returncode == 0, dry.stderr
    assert "/opt/conda/envs/x/bin/python tools/check_env.py" in dry.stdout
    assert "/opt/conda/envs/x/bin/python -m analyses run" in dry.stdout
    assert "bootstrap" not in dry.stdout and ".venv" not in dry.stdout


def test_the_environment_check_passes_here_and_names_a_wrong_pin(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from check_env import differences
    finally:
        sys.path.remove(str(ROOT / "tools"))
    assert differences() == []
    lock = tmp_path / "requirements.lock"
    lock.write_text("numpy==0.0.1\nno-such-package-here==1.0\n")
    found = differences(lock)
    assert any(p.startswith("numpy: ") and "0.0.1" in p for p in found)
    assert any(p.startswith("no-such-package-here: not installed") for p in found)
