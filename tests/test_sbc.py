"""The blockade-model SBC's parts: the design, the data it writes, the summaries, the cluster.

The SBC itself (200 simulations) runs in `make validate`; tests/test_validation_record.py
checks its record.
"""

from __future__ import annotations

import numpy as np
import pytest

from analyses.inference.hypotheses import HYPOTHESES
from analyses.validation import calibration, sbc
from analyses.validation.cluster import dask_client, map_tasks, task_seeds


@pytest.mark.parametrize("n", [5, 10, 12, 37])
def test_bands_partition_the_counts_and_contain_each(n):
    seen = set()
    for count in range(n + 1):
        q = sbc._banded(count, n)
        lower, upper = (
            (q["value"], q["value"]) if q["value"] is not None else (q["lower"], q["upper"])
        )
        assert lower <= count <= upper <= n
        seen.add((lower, upper))
    covered = sorted(x for lo, hi in seen for x in range(lo, hi + 1))
    assert covered == list(range(n + 1))  # every count in exactly one band


def test_simulated_observations_become_study_files_the_model_reads():
    """A prior-predictive draw written as files: each form's numbers land where the form reads
    them, and the attenuation keeps the design's standard error."""
    from models.blockade import build_blockade_model

    draws = sbc.prior_draws(2, seed=3)
    studies = sbc.with_observations(sbc.template_studies(), draws[0], banded=True)
    evidence, priors = sbc._evidence(studies)
    model = build_blockade_model(evidence, priors)
    observed = {rv.name for rv in model.observed_RVs}
    assert {"crossover12__outcome", "singlearm5__outcome", "attenuation__outcome"} <= observed
    attenuation = evidence.study("attenuation").evidence[0]
    assert abs(attenuation.attenuation.value / attenuation.value.value) == pytest.approx(
        sbc.ATTENUATION_SE
    )
    pair = evidence.study("crossover12").evidence[0]
    assert [pair.responders_placebo.value, pair.responders_naltrexone.value] == [
        int(x) for x in draws[0]["crossover12__outcome"]
    ]


def test_task_seeds_do_not_depend_on_how_many_are_asked_for():
    assert task_seeds(7, 5)[:3] == task_seeds(7, 3)
    assert len(set(task_seeds(7, 100))) == 100


def _noisy_mean(i: int, seed: int) -> float:
    return float(np.random.default_rng(seed).normal(size=100).mean() + i)


def test_results_do_not_depend_on_the_number_of_workers():
    args = list(enumerate(task_seeds(11, 6)))
    results = {}
    for workers in (1, 2):
        with dask_client(workers=workers) as client:
            results[workers] = map_tasks(_noisy_mean, args, client, say=lambda _: None)
    assert results[1] == results[2] == [_noisy_mean(i, s) for i, s in args]


def test_the_local_workers_log_nothing_while_the_cluster_closes(monkeypatch):
    """Their log is silenced once the tasks are done, before the scheduler closes."""
    import logging

    from analyses.validation import cluster

    real, levels = cluster.quiet_workers, []
    monkeypatch.setattr(cluster, "quiet_workers", lambda client: levels.append(real(client)))
    with dask_client(workers=1) as client:
        assert map_tasks(_noisy_mean, [(0, 1)], client, say=lambda _: None)
        assert levels == []
    assert levels == [[logging.CRITICAL]]


def _records(n: int, seed: int, calibrated: bool) -> list[dict]:
    """Synthetic SBC records: uniform ranks and honest probabilities, or neither."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        probs = rng.dirichlet(np.ones(len(HYPOTHESES)))
        truth = rng.choice(HYPOTHESES, p=probs) if calibrated else HYPOTHESES[0]
        ranks = rng.integers(0, sbc.RANK_DRAWS + 1, len(sbc.PARAMETERS))
        if not calibrated:
            ranks = np.minimum(ranks, sbc.RANK_DRAWS // 4)  # the truth always sits low
        out.append(
            {
                "simulation": i,
                "ranks": dict(zip(sbc.PARAMETERS, map(int, ranks), strict=True)),
                "true_hypothesis": str(truth),
                "posterior_prob": dict(zip(HYPOTHESES, map(float, probs), strict=True)),
                "prior_prob": dict.fromkeys(HYPOTHESES, 1 / len(HYPOTHESES)),
            }
        )
    return out


def test_the_summaries_tell_a_calibrated_model_from_a_broken_one():
    good = calibration.rank_summary(_records(400, 1, True), seed=2)
    bad = calibration.rank_summary(_records(400, 1, False), seed=2)
    assert all(v["passed"] for v in good.values())
    assert not any(v["passed"] for v in bad.values())
    honest = calibration.hypothesis_calibration(_records(2000, 3, True))
    for b in honest["bins"]:
        if b["forecasts"] >= 200:
            assert abs(b["observed"] - b["mean_stated"]) < 0.1, b
    assert honest["brier"] < honest["brier_prior"]


def test_brier_score_by_hand():
    record = {
        "ranks": dict.fromkeys(sbc.PARAMETERS, 0),
        "true_hypothesis": "permissive",
        "posterior_prob": {"primary": 0.2, "permissive": 0.7, "none": 0.1, "other": 0.0},
        "prior_prob": dict.fromkeys(HYPOTHESES, 0.25),
    }
    result = calibration.hypothesis_calibration([record])
    assert result["brier"] == pytest.approx(0.2**2 + 0.3**2 + 0.1**2)
    assert result["brier_prior"] == pytest.approx(3 * 0.25**2 + 0.75**2)
