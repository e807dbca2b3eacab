"""Interrupts: a signal is recorded even when a library swallows it, and nothing is published."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import weakref

import pytest

from analyses.inference import compiled, signals
from analyses.inference.provenance import staged_directory
from tests.conftest import ROOT, private_project


def test_a_swallowed_signal_is_still_seen():
    with signals.recorded_signals():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # the handler runs here
        except KeyboardInterrupt:
            pass  # what nutpie, numba or PyMC may do with it
        with pytest.raises(signals.Interrupted) as caught:
            signals.check()
    assert caught.value.exit_code == 143
    assert signals.received() is None  # the record ends with the block
    signals.check()  # nothing recorded outside it


def test_no_publication_after_a_signal(tmp_path):
    def refuse():
        raise signals.Interrupted(signal.SIGHUP)

    with pytest.raises(signals.Interrupted), staged_directory(tmp_path / "run", refuse) as stage:
        (stage / "report.md").write_text("complete")
    assert list(tmp_path.iterdir()) == []  # no run, no partial folder


@pytest.mark.fit
def test_sigterm_during_a_run_writes_nothing(tmp_path):
    _, results, config = private_project(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "analyses", "run", "--quick", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Wait until the fit has started (compiling or sampling), then stop it.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "[2/5]" not in proc.stdout.readline():
        pass
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "nothing was written" in err and "Traceback" not in err
    assert not results.exists() or list(results.iterdir()) == []


def test_our_own_interrupt_inside_a_callback_prints_no_traceback(capsys):
    """A ctypes callback (as numba uses) cannot propagate an interrupt: Python reports it as
    'Exception ignored ... Traceback'. Ours is recorded already, so the report is noise."""
    import ctypes

    def callback():
        raise KeyboardInterrupt

    with signals.recorded_signals():
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        except KeyboardInterrupt:
            pass
        ctypes.CFUNCTYPE(None)(callback)()  # swallowed by ctypes, passed to unraisablehook
    assert "Traceback" not in capsys.readouterr().err


def test_an_interrupt_that_a_callback_swallowed_is_delivered_again():
    """A signal landing in a weakref callback (the collector runs them, as during a compile)
    cannot propagate; the run must still stop now, not at its next check, 44 s later once."""

    class Target:
        pass

    def callback(_):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)  # the handler raises here, inside the callback: the exception is lost

    with signals.recorded_signals(), pytest.raises(KeyboardInterrupt):
        target = Target()
        ref = weakref.ref(target, callback)
        del target  # the callback runs now
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.01)
    assert ref() is None


def _swallowing(real, signum: int):
    """``real``, after a signal that the library swallows (as nutpie, numba and PyMC do)."""

    def wrapper(*args, **kwargs):
        try:
            os.kill(os.getpid(), signum)
            time.sleep(1)  # the handler runs here and raises KeyboardInterrupt
        except KeyboardInterrupt:
            pass
        return real(*args, **kwargs)

    return wrapper


def _stage(name: str):
    """(module, attribute) that runs during the named stage of a run."""
    import nutpie

    from analyses.commands import run as run_module
    from analyses.inference import fit, sampling

    return {
        "compiling": (sampling, "compile_model"),
        "sampling": (nutpie, "sample"),
        "predictive draws": (fit, "add_posterior_predictive"),
        "writing": (run_module, "write_report"),
    }[name]


@pytest.mark.fit
@pytest.mark.parametrize(
    ("stage", "signum"),
    [
        ("compiling", signal.SIGINT),
        ("sampling", signal.SIGTERM),
        ("predictive draws", signal.SIGHUP),
        ("writing", signal.SIGINT),
    ],
)
def test_a_swallowed_signal_at_any_stage_of_a_real_run_publishes_nothing(
    tmp_path, monkeypatch, stage, signum
):
    """A real `run --quick` (one study, to keep it short) with a signal at one stage."""
    import json

    from analyses.commands import run as run_module

    studies, results, config = private_project(tmp_path)
    for path in studies.glob("*.toml"):
        if path.stem != "jelen2025":
            path.unlink()
    earlier = results / "20260101-000000-primary-000000"
    earlier.mkdir(parents=True)
    record = {"run_id": earlier.name, "created": "2026-01-01T00:00:00Z", "headline": {}}
    (earlier / "manifest.json").write_text(json.dumps(record))
    (results / "latest").symlink_to(earlier.name)
    module, name = _stage(stage)
    monkeypatch.setattr(module, name, _swallowing(getattr(module, name), signum))
    # A fit reuses this process's compiled model of the same structure: forget them where
    # the stage under test is the compile, so the run compiles whichever tests ran before.
    # The other stages reuse one (5-10 s less each).
    if stage == "compiling":
        compiled.clear()
    with signals.recorded_signals(), pytest.raises(signals.Interrupted) as caught:
        run_module.run(config, quick=True, say=lambda _: None, studies_dir=studies)
    assert caught.value.signum == signum
    assert sorted(p.name for p in results.iterdir()) == [earlier.name, "latest"]
    assert (results / "latest").resolve() == earlier.resolve()


def _sigint_is_ignored(answer) -> None:
    answer.put(signal.getsignal(signal.SIGINT) == signal.SIG_IGN)


def test_helpers_start_with_ctrl_c_already_ignored():
    """A helper ignores Ctrl-C from its start (before its imports), and ours is kept."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    answer = context.Queue()
    ours = signal.getsignal(signal.SIGINT)
    process = context.Process(target=_sigint_is_ignored, args=(answer,))
    signals.start_ignoring_interrupts(process)
    try:
        assert answer.get(timeout=60) is True
    finally:
        process.join(timeout=60)
    assert signal.getsignal(signal.SIGINT) is ours


def _wait_for_a_job(jobs, answer) -> None:
    answer.put(os.getpid())
    try:
        signals.get_while_parent_lives(jobs)
        answer.put("got a job")
    except signals.Orphaned:
        answer.put("orphaned")


def _main_process(jobs, answer) -> None:
    import multiprocessing

    helper = multiprocessing.get_context("spawn").Process(
        target=_wait_for_a_job, args=(jobs, answer)
    )
    helper.start()
    time.sleep(600)  # killed by the test long before


def test_a_helper_whose_main_process_is_killed_outright_stops_waiting():
    """SIGKILL leaves no chance to stop the helpers: a helper waiting for work must notice."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    jobs, answer = context.Queue(), context.Queue()
    main = context.Process(target=_main_process, args=(jobs, answer))
    main.start()
    helper_pid = answer.get(timeout=60)
    try:
        os.kill(main.pid, signal.SIGKILL)
        main.join(timeout=60)
        assert answer.get(timeout=60) == "orphaned"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(helper_pid, signal.SIGKILL)
