"""Shared test helpers."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from analyses.inference import compile_flags

# The flags the command line uses, so tests compile (and sample) as a user's run does.
compile_flags.apply()

# For a log density evaluated at a point or two, as the run's own: rewriting the graph costs
# more than it saves (31 scenarios' own log densities took 85 s with FAST_COMPILE's rewrites,
# on 2026-12-02).
from analyses.inference.log_density import UNREWRITTEN  # noqa: E402, F401  (after the flags)

ROOT = Path(__file__).resolve().parents[1]


# Workers for `--numprocesses=auto`: one per core, at most this many. Each imports PyMC and
# runs fits that start processes of their own, and a fit samples on two threads, so more
# workers than cores only queue (on this 2-core machine, 2).
MAX_WORKERS = 4


def pytest_xdist_auto_num_workers(config) -> int:
    """How many workers ``--numprocesses=auto`` starts (pytest-xdist's hook)."""
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


# The test files that hold real runs and fits, slowest first (one worker's seconds, AMD
# EPYC, 2026-12-03: about 100, 55, 49, 39, 34, 33, 24 and 24). pytest-xdist hands a worker
# the next file when it is nearly done (`--no-loadscope-reorder` keeps this order; by default
# it orders files by their number of tests, which put these last and left one worker
# finishing 22 s after the other). Longest first balances the two. Other files follow in
# their usual order.
SLOWEST_FIRST = (
    "test_run.py",
    "test_sensitivity.py",
    "test_variants.py",
    "test_compiled.py",
    "test_blockade_model.py",
    "test_signals.py",
    "test_design.py",
    "test_drawing.py",
)


def pytest_collection_modifyitems(config, items) -> None:
    """Put the files of :data:`SLOWEST_FIRST` first, in that order (a stable sort)."""
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def private_project(base: Path) -> tuple[Path, Path, Path]:
    """A copy of the study files and a configuration writing into ``base/results``.

    Runs in tests never touch the repository's data/ or results/.

    Returns
    -------
    studies, results, config : Path
    """
    studies = base / "studies"
    shutil.copytree(ROOT / "data" / "studies", studies)
    results = base / "results"
    config = base / "config.toml"
    config.write_text(
        (ROOT / "analyses" / "primary.toml").read_text()
        + f'\n[output]\nresults_dir = "{results}"\n'
    )
    return studies, results, config


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """One simulated study per form of evidence, through the loader; and the neutral priors."""
    from models.evidence import load_evidence
    from models.priors import load_priors
    from models.simulate import Truth, simulate_study, write_study
    from tests.test_forms import SCHEMA_KINDS, SIM_N

    folder = tmp_path_factory.mktemp("forms")
    for i, kind in enumerate(SCHEMA_KINDS):
        study, ipd, _ = simulate_study(kind, f"form{i}", "acute", Truth(), SIM_N, seed=i)
        write_study(study, folder, ipd)
    evidence = load_evidence(folder).resolve()
    return evidence, load_priors("neutral", evidence.literature)
