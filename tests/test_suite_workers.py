"""The suite's worker processes: started early, stopped on failure, failures named."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyses.inference.config import load_config
from analyses.suite import SuiteFailed
from analyses.suite.runner import SuiteRun
from models.evidence import load_evidence
from models.priors import load_priors


@pytest.fixture(scope="module")
def inputs():
    config, _ = load_config()
    base = load_evidence()
    return base, config, load_priors(config.analysis.priors, base.literature)


def quiet(_: str) -> None:
    pass


def test_leaving_the_block_stops_every_worker(inputs):
    # A primary fit that fails (or a signal) leaves the block while the workers compile.
    suite = SuiteRun(*inputs, say=quiet)
    with pytest.raises(RuntimeError, match="primary fit failed"), suite:
        workers = list(suite._processes)
        assert workers and all(w.is_alive() for w in workers)
        raise RuntimeError("the primary fit failed")
    assert not any(w.is_alive() for w in workers)


def test_the_refits_sample_at_the_suites_own_target_acceptance(inputs):
    base, config, priors = inputs
    mine = config.model_copy(
        update={"sensitivity": config.sensitivity.model_copy(update={"target_accept": 0.97})}
    )
    settings = SuiteRun(base, mine, priors, say=quiet).common["settings"]
    assert settings["target_accept"] == 0.97
    assert {k: v for k, v in settings.items() if k != "target_accept"} == {
        k: v for k, v in config.sampler.to_dict().items() if k != "target_accept"
    }


def test_the_scenarios_that_need_the_primary_wait_for_it(inputs):
    suite = SuiteRun(*inputs, say=quiet)
    early = [i for i in suite.unique if not suite._candidate(i)]
    names = {suite.fitted[i].name for i in suite.unique if i not in early}
    assert "priors: sceptical" in names  # prior-only: reweighted, if PSIS allows
    assert "leave out jelen2025" not in names


def test_a_failing_worker_stops_the_suite_with_its_error(inputs, tmp_path):
    with SuiteRun(*inputs, say=quiet, one_model=False) as suite:
        suite._start()
        suite._spawn([{"studies_dir": str(tmp_path / "nowhere")}])
        with pytest.raises(SuiteFailed, match="worker failed"):
            suite._collect(1)


def test_a_worker_that_dies_is_noticed(inputs):
    with SuiteRun(*inputs, say=quiet, one_model=False) as suite:
        suite._start()
        suite._spawn([{"studies_dir": None}])
        suite._processes[0].terminate()
        suite._processes[0].join()
        with pytest.raises(SuiteFailed, match="exit code"):
            suite._collect(1)


def test_ctrl_c_is_left_to_the_main_process(inputs):
    # Ctrl-C reaches every process of the group; the worker ignores it (no traceback of its
    # own) and the main process, which records it, terminates the worker on the way out.
    import os
    import signal
    import time

    status = Path("/proc/self/status")
    if not status.exists():
        pytest.skip("needs /proc to see when the worker ignores SIGINT")
    with SuiteRun(*inputs, say=quiet) as suite:
        worker = suite._processes[0]
        deadline = time.monotonic() + 120
        while not _ignores_sigint(worker.pid) and time.monotonic() < deadline:
            time.sleep(0.1)  # the worker is still starting (it ignores SIGINT from then on)
        os.kill(worker.pid, signal.SIGINT)
        time.sleep(1)
        assert worker.is_alive()
    assert not worker.is_alive()


def _ignores_sigint(pid: int) -> bool:
    """Whether the process's ignored-signal mask (Linux /proc) holds SIGINT."""
    import signal

    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGINT - 1) & 1)
    return False


def test_only_the_timing_moderator_compiles_a_model_of_its_own(inputs):
    """Every shipped scenario is data of one model, but for the moderator switch (which adds
    each study's place in its hours interval, a cost every refit would otherwise carry)."""
    from analyses.suite.worker import model_groups

    suite = SuiteRun(*inputs, say=quiet, one_model=True)
    groups = model_groups(suite.fitted)
    own = [[suite.fitted[i].name for i in members] for members in groups if len(members) == 1]
    assert len(groups) == 2 and own == [["timing moderator: log_hours"]]
    assert suite.unique is not None  # each group is one model: no fallback


def test_a_worker_compiles_each_model_once_when_first_needed(monkeypatch):
    """Each scenario meets its own group's model and its own data; a model's first row says
    it compiled, and no model compiles twice."""
    from analyses.suite import worker

    compiles = []
    monkeypatch.setattr(
        "models.blockade.build_variants_model",
        lambda chosen: (tuple(chosen), [f"data of {v}" for v in chosen]),
    )
    monkeypatch.setattr(
        "analyses.inference.sampling.compile_model",
        lambda model: compiles.append(model) or ("compiled", model),
    )
    models = worker._Models(["a", "b", "c", "d"], [[0, 2, 3], [1]])
    models.compile_largest()
    assert compiles == [("a", "c", "d")]
    assert models.of(1) == (("compiled", ("b",)), "data of b", True)
    assert models.of(0) == (("compiled", ("a", "c", "d")), "data of a", True)
    assert models.of(3) == (("compiled", ("a", "c", "d")), "data of d", False)
    assert models.of(1)[2] is False
    assert compiles == [("a", "c", "d"), ("b",)]
