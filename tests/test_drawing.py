"""A run's figures on two cores: the helper draws its share, and its failure stops the run.

Drawn from the thinned real run in tests/fixtures/runs/ (200 draws), copied to a private
folder, so no fit is needed.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

from analyses.inference.hypotheses import Thresholds
from analyses.report import FiguresFailed
from analyses.report.drawing import HELPER_SHARE, FigureHelper, FigureInputs, drawers
from analyses.report.folder import RunFolder

FIXTURE = Path(__file__).parent / "fixtures" / "runs" / "20261202-070414-primary-74c6bf"


@pytest.fixture
def run(tmp_path) -> tuple[RunFolder, FigureInputs]:
    """A private copy of a run folder, its figures not drawn yet, and its figure inputs."""
    path = tmp_path / "run"
    shutil.copytree(FIXTURE, path)
    folder = RunFolder(path)
    folder.figures_dir.mkdir()
    return folder, FigureInputs.from_folder(path, Thresholds())


def test_the_helper_has_a_share_and_not_all_of_it(run):
    # That the two processes draw every figure between them is checked by every quick run
    # in the tests (tests/test_run.py: every output is written).
    _, inputs = run
    assert set(HELPER_SHARE) < set(drawers(inputs))


def test_a_failing_helper_stops_the_drawing_with_its_error(run):
    folder, inputs = run
    folder.posterior_file.unlink()  # the helper reads the draws from the folder
    with FigureHelper() as helper, pytest.raises(FiguresFailed, match="posterior"):
        helper.draw(inputs, folder)


def test_a_helper_that_dies_is_noticed(run):
    folder, inputs = run
    with FigureHelper() as helper:
        os.kill(helper._process.pid, signal.SIGKILL)
        with pytest.raises(FiguresFailed, match="died"):
            helper.draw(inputs, folder)
