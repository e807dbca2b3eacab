"""Writing results: staged folders and atomic files follow the user's umask and never half-write."""

from __future__ import annotations

import os
import stat

import pytest

from analyses.inference.provenance import atomic_write_text, staged_directory


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_published_folder_and_files_follow_the_umask(tmp_path, umask_022):
    final = tmp_path / "run"
    with staged_directory(final) as stage:
        atomic_write_text(stage / "report.md", "text")
    assert _mode(final) == 0o755  # not mkdtemp's private 0o700
    assert _mode(final / "report.md") == 0o644


def test_failed_stage_publishes_nothing_and_leaves_no_partial(tmp_path):
    final = tmp_path / "run"
    with pytest.raises(RuntimeError), staged_directory(final) as stage:
        (stage / "half.csv").write_text("a,b\n")
        raise RuntimeError("the fit failed")
    assert list(tmp_path.iterdir()) == []


def test_failed_atomic_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "report.md"
    path.write_text("old")

    class Unwritable:
        def __str__(self):
            raise RuntimeError("render failed")

    with pytest.raises(TypeError):
        atomic_write_text(path, Unwritable())  # type: ignore[arg-type]
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]


def _git(root, *args):
    import subprocess

    who = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t"}
    env = {**os.environ, **who, "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=env)


def test_only_a_change_of_code_makes_the_code_dirty(tmp_path):
    from analyses.inference.provenance import code_version

    for path in ("models/m.py", "data/studies/s.toml", "validation/results.json"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("a\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "start")
    assert code_version(tmp_path)["dirty"] is False
    # A study edited, a validation rerun: data and records, recorded elsewhere.
    (tmp_path / "data/studies/s.toml").write_text("b\n")
    (tmp_path / "validation/results.json").write_text("b\n")
    assert code_version(tmp_path)["dirty"] is False
    (tmp_path / "models/m.py").write_text("b\n")
    assert code_version(tmp_path)["dirty"] is True
