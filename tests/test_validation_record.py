"""Cheap checks of the recorded slow validation (validation/results.json, from `make validate`).

A record nobody checks is decoration: this test fails when the record is missing, was made in
quick mode, was made with other package versions than the lock pins, or misses a threshold.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analyses.commands.validate import (
    AGREEMENT_Z,
    COVERAGE_NOMINAL,
    REWEIGHT_MAX_Z,
    SBC_MIN_P,
    section_seeds,
    sections_run,
    verdict,
)
from analyses.suite.reweight import K_HAT_MAX
from analyses.validation import SECTIONS, calibration, sbc

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "validation" / "results.json"


@pytest.fixture(scope="module")
def record():
    assert RECORD.exists(), "no validation record: run `make validate`"
    return json.loads(RECORD.read_text())


def lock_versions() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip()] = version.strip()
    return pins


def test_record_is_a_full_run_with_the_locked_packages(record):
    assert record["quick"] is False, "the record is from a quick smoke run: run `make validate`"
    pins = lock_versions()
    for name in ("pymc", "pytensor", "nutpie", "arviz", "numpy", "scipy"):
        assert record["package_versions"][name] == pins[name], f"{name}: rerun `make validate`"


def test_every_cell_is_present(record):
    assert len(record["exact_vs_mcmc"]["cases"]) >= 12
    assert set(record["sbc_meta_regression"]["parameters"]) == {"mu", "tau", "coef_m"}
    assert record["sbc_meta_regression"]["simulations"] >= 300
    cells = record["recovery_blockade"]["cells"]
    truths = {(c["truth_acute"], c["truth_sustained"]) for c in cells}
    assert len(truths) >= 4
    assert {c["parameter"] for c in cells} == {"beta_acute", "beta_sustained"}


def test_thresholds_are_met(record):
    agreement = record["exact_vs_mcmc"]
    assert agreement["max_discrepancy_mcse"] < AGREEMENT_Z
    assert all(case["certified"] for case in agreement["cases"])
    for name, result in record["sbc_meta_regression"]["parameters"].items():
        assert result["ks_p"] > SBC_MIN_P, name
        assert sum(result["bins"]) == record["sbc_meta_regression"]["simulations"]
    recovery = record["recovery_blockade"]
    low, high = recovery["coverage_band"]
    assert low <= recovery["coverage90"] <= high
    assert low < COVERAGE_NOMINAL < high
    assert record["passed"] is True


def test_the_shipped_analysis_was_certified_everywhere(record):
    """The full `make analysis` run on today's data: every fit certified, <= 2 compiles."""
    from models.evidence import load_evidence

    shipped = record["shipped_analysis"]
    # The primary analysis reads every dispute its default way (analyses/primary.toml).
    today = load_evidence().resolve().data_hash
    assert shipped["data_hash"] == today, "the data changed: run `make validate`"
    uncertified = [f["scenario"] for f in shipped["fits"] if not f["certified"]]
    assert not uncertified, uncertified  # zero divergences everywhere, half-Cauchy included
    assert shipped["refits"] + shipped["reweighted"] >= 30
    assert shipped["compiles"] <= 2
    assert shipped["threshold_rows"] == 8
    assert shipped["cumulative_added"] == ["williams2018", "yoon2019", "jelen2025 yoon2025"]
    assert all(shipped["report_sections"].values()), shipped["report_sections"]
    twins = {f["scenario"]: f["same_fit_as"] for f in shipped["fits"]}
    assert twins["single-arm evidence excluded"] == "leave out yoon2019"
    assert shipped["passed"]


def test_reweighted_scenarios_agree_with_their_refits(record):
    """A prior-only scenario reweighted from the primary posterior matches its own refit."""
    result = record["reweighting"]
    assert result["scenarios"] >= 1 and result["passed"]
    assert len(result["cases"]) == 4 * result["scenarios"]  # every hypothesis of each
    for case in result["cases"]:
        assert case["pareto_k"] < K_HAT_MAX, case["scenario"]
        assert case["refit_certified"], case["scenario"]
        assert abs(case["z"]) < REWEIGHT_MAX_Z, case
    # Every scenario the shipped run reweighted has been checked against its refit. Not the
    # converse: a k-hat near 0.7 moves across it between runs on different CPUs (0.60 in the
    # reweighting record, 0.70 in a shipped run of 2026-12-04, which then refitted it).
    validated = {c["scenario"] for c in result["cases"]}
    fits = record["shipped_analysis"]["fits"]
    reweighted = {f["scenario"] for f in fits if f["method"] == "reweighted"}
    assert reweighted, "the shipped run reweighted nothing"
    assert reweighted <= validated, reweighted - validated


def test_the_blockade_model_is_calibrated(record):
    """SBC of the blockade model on designs like the evidence, and calibrated P(hypothesis)."""
    result = record["sbc_blockade"]
    assert result["simulations"] >= 200
    assert len(result["records"]) == result["simulations"]
    assert set(result["parameters"]) == set(sbc.PARAMETERS)
    for name, p in result["parameters"].items():
        assert p["ks_p"] > calibration.SBC_MIN_P, name
        assert sum(p["bins"]) == result["simulations"]
    kinds = {e["kind"] for e in result["design"]}
    assert kinds == {"paired_binary", "single_arm_binary", "arm_counts", "contrast_statistic"}
    hypotheses = result["calibration"]
    assert sum(b["forecasts"] for b in hypotheses["bins"]) == 4 * result["simulations"]
    assert hypotheses["brier"] < hypotheses["brier_prior"]
    for figure in result["figures"]:
        assert (RECORD.parent / figure).stat().st_size > 0
    assert result["passed"]


def test_the_design_tables_do_not_depend_on_the_number_of_workers(record):
    """The design analysis (Dask tasks) gave the same design.csv with one and two workers."""
    check = record["design_determinism"]
    assert check["workers"] == [1, 2]
    assert check["rows"] == check["simulations"] >= 2
    assert check["sha256"]["1"] == check["sha256"]["2"]
    assert check["identical"] and check["passed"]


def test_a_validations_verdict_and_exit_code():
    """A failed section fails the command; a record missing sections it did not run does not."""
    full = {n: {"passed": True} for n in SECTIONS} | {"passed": True}
    assert verdict(full, sections_run()) == ("PASSED", 0)
    partial = {"reweighting": {"passed": True}, "passed": False}
    text, code = verdict(partial, sections_run(["reweighting"]))
    assert code == 0 and text.startswith("PASSED the sections run; INCOMPLETE")
    assert "sbc_blockade" in text and "reweighting" not in text.split("without")[1]
    failed = full | {"sbc_blockade": {"passed": False}, "passed": False}
    assert verdict(failed, sections_run()) == ("FAILED: sbc_blockade", 1)
    assert verdict(failed, sections_run(["sbc_blockade"])) == ("FAILED: sbc_blockade", 1)


def test_every_scenario_had_its_own_log_density_in_its_suite_model(record):
    """Every scenario the suite refits today was checked against its own model's log density."""
    from analyses.inference.config import load_config
    from analyses.suite.scenarios import build_scenarios, refitted
    from analyses.validation.union_density import LOGP_ATOL
    from models.evidence import load_evidence
    from models.priors import load_priors

    result = record["union_log_density"]
    config, _ = load_config()
    base = load_evidence()
    priors = load_priors(config.analysis.priors, base.literature)
    today = [s.name for s in refitted(build_scenarios(base, config, priors))]
    checked = [case["scenario"] for case in result["cases"]]
    assert checked == today, "the suite's scenarios changed: run `make validate`"
    assert result["scenarios"] == len(today) >= 30
    for case in result["cases"]:
        assert case["abs_diff"] < LOGP_ATOL, case
        assert abs(case["union"] - case["own"]) == case["abs_diff"], case
    assert result["threshold"] == LOGP_ATOL and result["passed"]


def test_the_conflict_check_is_calibrated_under_the_model(record):
    """Each left-out study's PIT among its replicates was uniform for data from the model."""
    from analyses.validation import conflict_calibration

    result = record["conflict_calibration"]
    assert result["simulations"] >= 200
    assert len(result["records"]) == result["simulations"]
    assert set(result["studies"]) == {e.study_id for e in sbc.DESIGN}
    for name, study in result["studies"].items():
        assert study["ks_p"] > conflict_calibration.SBC_MIN_P, name
        assert sum(study["bins"]) == result["simulations"], name
        assert study["mid_p_outside_range"] == 0, name
    # The banded trial's p is a range whenever a band holds more than one count.
    banded = [r["studies"]["banded3arm"] for r in result["records"]]
    assert any(r["p_high"] > r["p_low"] for r in banded)
    for figure in result["figures"]:
        assert (RECORD.parent / figure).stat().st_size > 0
    assert result["passed"]


def test_the_conflict_check_of_a_study_with_two_items_is_calibrated(record):
    """Each item's PIT and the study's (its smallest item p among the replicates') were
    uniform for data from the model, each at the rule's Bonferroni level, on the seed fixed
    with the rule; the naive smallest item p fell below 0.05 more often than the study p."""
    from analyses.validation import conflict_items

    result = record["conflict_items"]
    assert result["simulations"] >= 400
    assert len(result["records"]) == result["simulations"]
    assert set(result["ks_p"]) == {*conflict_items.ITEMS, "study"}
    assert result["tested"] == list(conflict_items.TESTED)
    assert conflict_items.PER_TEST_P == pytest.approx(conflict_items.SBC_MIN_P / 3)
    for name in conflict_items.TESTED:
        assert result["ks_p"][name] > conflict_items.PER_TEST_P, name
    section_seed = section_seeds()["conflict_items"]
    assert result["seed"] == conflict_items.confirmation_seed(section_seed)
    # New draws: none of the run's seeds (its prior draws' and each simulation's) is among
    # the seeds the runs before the rule drew from the section's own sequence (400 and 1300
    # simulations at most).
    from analyses.validation.cluster import task_seeds

    earlier = set(task_seeds(section_seed, 1301))
    assert not earlier & set(task_seeds(result["seed"], result["simulations"] + 1))
    assert not result["code"]["dirty"]  # the record ran on committed code
    for name, p in result["ks_p"].items():
        assert 0.0 <= p <= 1.0, name
        assert sum(result["bins"][name]) == result["simulations"], name
    # The study's p is never below its smallest item p, and its own PIT was taken at it.
    for r in result["records"]:
        assert r["study_p"] >= r["naive_p"] - 1e-12
        assert set(r["items"]) == set(conflict_items.ITEMS)
    rates = result["rejection_rate"]
    assert rates["naive_smallest_item_p"]["0.05"] > rates["study_p"]["0.05"]
    for figure in result["figures"]:
        assert (RECORD.parent / figure).stat().st_size > 0
    assert result["passed"]


def test_the_report_states_the_conflict_checks_calibration(tmp_path, monkeypatch):
    """The record's headline for the conflict check reaches the report's validation section."""
    from types import SimpleNamespace

    import analyses.validation as validation
    from analyses.report.sections import validation_section

    studies = {
        "a": {"ks_p": 0.31, "rejection_rate": {"0.05": 0.04}},
        "b": {"ks_p": 0.12, "rejection_rate": {"0.05": 0.065}},
    }
    saved = {
        "created": "2026-12-04T00:00:00Z",
        "passed": True,
        "conflict_calibration": {"simulations": 200, "studies": studies, "passed": True},
    }
    path = tmp_path / "results.json"
    path.write_text(json.dumps(saved))
    monkeypatch.setattr(validation, "record_path", lambda: path)
    summary = validation.record_summary()
    assert summary["conflict_calibration"] == {
        "simulations": 200,
        "min_ks_p": 0.12,
        "rejection_rate_05": 0.065,
        "passed": True,
    }
    run = SimpleNamespace(manifest={"validation": summary}, figure=lambda name: tmp_path / name)
    text = validation_section(SimpleNamespace(run=run))
    assert "was uniform (smallest p-value 0.12)" in text
    assert "at most 6.5% of the simulations" in text
    summary["conflict_calibration"]["passed"] = False
    assert "was NOT uniform" in validation_section(SimpleNamespace(run=run))


def test_the_report_says_when_and_from_which_commits_the_record_was_made():
    from analyses.report.sections import _sections_made

    one = {"sections_oldest": "2026-12-04T10:00:00Z", "sections_newest": "2026-12-04T11:00:00Z"}
    text = _sections_made(one | {"section_commits": 1, "sections_uncommitted": []})
    assert "made on 2026-12-04, from one commit" in text and "uncommitted" not in text
    two = one | {"sections_oldest": "2026-12-03T10:00:00Z", "section_commits": 3}
    text = _sections_made(two | {"sections_uncommitted": ["conflict_items"]})
    assert "between 2026-12-03 and 2026-12-04, from 3 commits" in text
    assert text.endswith("made from uncommitted code: conflict_items.")
    assert _sections_made({}) == ""
