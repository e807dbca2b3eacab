"""The pure parts of the conflict check's calibration (`make validate` runs the simulations)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analyses.validation.conflict_calibration import randomised_pit, summarise
from analyses.validation.sbc import DESIGN


def test_the_randomised_pit_breaks_ties_by_its_uniform():
    replicates = np.array([0, 1, 1, 2, 3], dtype=float)
    assert randomised_pit(replicates, 1.0, 0.0) == pytest.approx(0.2)
    assert randomised_pit(replicates, 1.0, 1.0) == pytest.approx(0.6)
    assert randomised_pit(replicates, 1.0, 0.5) == pytest.approx(0.4)
    assert randomised_pit(replicates, 5.0, 0.3) == 1.0
    assert randomised_pit(replicates, -1.0, 0.9) == 0.0


def test_the_randomised_pit_of_a_discrete_statistic_is_uniform_when_it_should_be():
    """Binomial data against replicates from the same binomial: uniform despite the ties."""
    rng = np.random.default_rng(1)
    replicates = rng.binomial(5, 0.3, size=4000)
    pits = [randomised_pit(replicates, rng.binomial(5, 0.3), rng.uniform()) for _ in range(2000)]
    assert stats.kstest(pits, "uniform").pvalue > 0.01
    # Against replicates of another rate it is not.
    shifted = [randomised_pit(replicates, rng.binomial(5, 0.6), rng.uniform()) for _ in range(500)]
    assert stats.kstest(shifted, "uniform").pvalue < 1e-6


def _records(pits: np.ndarray, outside: bool = False) -> list[dict]:
    rows = []
    for i, pit in enumerate(pits):
        p = 2 * min(pit, 1 - pit)
        low, high = (p + 0.1, p + 0.2) if outside and i == 0 else (p, p)
        study = {
            "certified": True,
            "statistic": "s",
            "pit": float(pit),
            "mid_p": p,
            "p_low": low,
            "p_high": high,
        }
        rows.append({"simulation": i, "studies": {e.study_id: study for e in DESIGN}})
    return rows


def test_the_summary_passes_uniform_pits_and_fails_others():
    uniform = np.random.default_rng(2).uniform(size=200)
    summary = summarise(_records(uniform))
    assert all(s["passed"] for s in summary.values())
    assert all(sum(s["bins"]) == 200 for s in summary.values())
    rate = summary[DESIGN[0].study_id]["rejection_rate"]["0.05"]
    assert rate == pytest.approx(np.mean(2 * np.minimum(uniform, 1 - uniform) < 0.05))
    # PITs piled in the middle: what a fit that kept the left-out study's data would give.
    central = 0.5 + (uniform - 0.5) * 0.4
    assert not any(s["passed"] for s in summarise(_records(central)).values())
    # A p at the simulated counts outside the range the check reports.
    failed = summarise(_records(uniform, outside=True))
    assert all(s["mid_p_outside_range"] == 1 and not s["passed"] for s in failed.values())


def test_a_two_item_studys_pit_is_the_study_p_randomised():
    """At u = 1/2 it is the study p the report shows; u spreads it over the ties only; and
    for two count items drawn as their replicates are (exchangeable: fresh replicates each
    trial), it is uniform. Each replicate's p taken among the other replicates alone (the code
    until 2026-12-04) gave KS p 2.7e-9 on these trials, with a mean p of 0.539."""
    from analyses.suite.conflict_replicates import study_p
    from analyses.validation.conflict_items import study_pit

    rng = np.random.default_rng(4)
    pits = []
    for _ in range(TWO_ITEM_TRIALS):
        shared = rng.binomial(1, 0.5, size=401)  # the two items share a study parameter
        a, b = (rng.binomial(6, 0.3 + 0.4 * shared) for _ in range(2))
        replicated = [a[:400].reshape(4, -1), b[:400].reshape(4, -1)]
        observed = [float(a[400]), float(b[400])]
        low, high = study_pit(replicated, observed, 0.0), study_pit(replicated, observed, 1.0)
        mid = study_p(replicated, [np.array([o]) for o in observed])[0]
        assert low <= study_pit(replicated, observed, 0.5) == mid <= high
        pits.append(study_pit(replicated, observed, rng.uniform()))
    assert stats.kstest(pits, "uniform").pvalue > 0.01


# Trials of the two-item PIT: 1500 give the KS test power against the old construction's
# error (KS p 2.7e-9 at this size) while a correct PIT fails at 0.01 once in a hundred seeds.
TWO_ITEM_TRIALS = 1500
