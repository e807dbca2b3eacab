"""The per-study conflict check: the left-out study's prediction, z and p."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from analyses.report.conflict import conflict_text
from analyses.suite.conflict import conflict_table, left_out_prediction


def _posterior(draws: dict[str, np.ndarray]) -> xr.Dataset:
    studies = list(draws)
    values = np.stack([draws[s] for s in studies], axis=-1).reshape(4, -1, len(studies))
    return xr.Dataset({"beta_study": (("chain", "draw", "study"), values)}, {"study": studies})


def test_the_left_out_study_is_the_one_missing_from_the_scenario():
    rng = np.random.default_rng(1)
    post = _posterior({"a": rng.normal(0.5, 0.4, 4000), "b": rng.normal(0, 1, 4000)})
    found = left_out_prediction(post, ("b",))
    assert found["left_out"] == "a"
    assert found["left_out_beta_mean"] == pytest.approx(0.5, abs=0.03)
    assert found["left_out_beta_sd"] == pytest.approx(0.4, abs=0.02)
    assert found["left_out_beta_eti95_lb"] < found["left_out_beta_median"]
    assert left_out_prediction(post, pd.DataFrame()) == {}  # every study in
    assert left_out_prediction(post, ("a", "b")) == {}  # none left out
    assert left_out_prediction(post, ()) == {}  # two left out: not a leave-one-out
    assert left_out_prediction(xr.Dataset(), ("b",)) == {}  # a model without beta_study


def _tables(
    estimate: float,
    se: float,
    mean: float,
    sd: float,
    certified: bool = True,
    p: tuple[float, float] = (0.5, 0.5),
):
    check = {
        "left_out_check_item": "response",
        "left_out_check_statistic": "responders lost under naltrexone (of pairs)",
        "left_out_check_observed_low": 7.0,
        "left_out_check_observed_high": 7.0,
        "left_out_check_replicated_median": 2.0,
        "left_out_check_replicated_eti95_lb": -4.0,
        "left_out_check_replicated_eti95_ub": 8.0,
        "left_out_check_p": p[0],
        "left_out_check_p_high": p[1],
    }
    sensitivity = pd.DataFrame(
        {
            "scenario": ["primary", "leave out a", "twin"],
            "left_out": [np.nan, "a", "a"],
            "certified": [True, certified, certified],
            "left_out_beta_mean": [np.nan, mean, mean],
            "left_out_beta_sd": [np.nan, sd, sd],
            "left_out_beta_median": [np.nan, mean, mean],
            "left_out_beta_eti95_lb": [np.nan, mean - 2 * sd, mean - 2 * sd],
            "left_out_beta_eti95_ub": [np.nan, mean + 2 * sd, mean + 2 * sd],
            **{k: [np.nan, v, v] for k, v in check.items()},
        }
    )
    estimates = pd.DataFrame(
        {
            "study": ["a", "c"],
            "estimate": [estimate, 0.1],
            "se": [se, 0.2],
            "method": ["probit contrast (lower bounds)", "x"],
        }
    )
    return sensitivity, estimates


@pytest.mark.parametrize("estimate", [1.6, -0.5])  # above and below the prediction
def test_z_and_p_combine_both_uncertainties(estimate):
    table = conflict_table(*_tables(estimate=estimate, se=0.72, mean=0.56, sd=0.41))
    assert list(table["study"]) == ["a"]  # c was never left out; the twin counted once
    z = (estimate - 0.56) / np.sqrt(0.72**2 + 0.41**2)
    assert table["z"].iloc[0] == pytest.approx(z)
    assert table["p_normal"].iloc[0] == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert 0 < table["p_normal"].iloc[0] < 1
    assert table["p"].iloc[0] == 0.5  # the replicated check's, carried from the refit's row


def test_the_replicated_check_is_the_verdict_and_a_range_of_p_is_read_both_ways():
    # Far apart on the beta scale, but the replicated data agree: no flag.
    agree = conflict_text(
        conflict_table(*_tables(3.0, 0.3, 0.0, 0.3, p=(0.4, 0.4))), pd.DataFrame()
    )
    assert "No study of the 1 checked" in agree
    assert "| +7 | median +2 (95% interval -4 to +8) | 0.40 |" in agree
    every = conflict_text(
        conflict_table(*_tables(0.5, 0.5, 0.5, 0.3, p=(0.01, 0.03))), pd.DataFrame()
    )
    assert "**a** (p = 0.03) at every reading" in every
    assert "| 0.01 to 0.03 |" in every
    some = conflict_text(
        conflict_table(*_tables(0.5, 0.5, 0.5, 0.3, p=(0.01, 0.3))), pd.DataFrame()
    )
    assert "**a** (p = 0.01 to 0.3) at some readings only" in some


def test_a_study_the_refit_could_not_replicate_is_checked_on_the_beta_scale_only():
    sensitivity, estimates = _tables(3.0, 0.3, 0.0, 0.3, p=(np.nan, np.nan))
    sensitivity["left_out_check_statistic"] = np.nan
    sensitivity["left_out_check_note"] = ["", "no item of a has a statistic to replicate", ""]
    text = conflict_text(conflict_table(sensitivity, estimates), pd.DataFrame())
    assert "not checked: no item of a has a statistic to replicate" in text
    assert "Checked on the β scale only, with no replicated data: a (p = " in text


def test_a_run_made_before_the_replicated_check_still_reads():
    """Its conflict.csv had only the normal approximation, in a column named p."""
    table = conflict_table(*_tables(3.0, 0.3, 0.0, 0.3))
    old = table.drop(columns=["p", "p_high", "p_normal", "check_note"]).assign(p=table["p_normal"])
    old = old.drop(columns=[c for c in old if c.startswith(("replicated", "observed"))])
    text = conflict_text(old.drop(columns=["statistic", "item"]), pd.DataFrame())
    assert "Checked on the β scale only" in text and "| — | — | — |" in text


def test_a_run_without_leave_one_out_rows_has_an_empty_table_and_no_section():
    sensitivity, estimates = _tables(1.0, 0.5, 0.5, 0.3)
    empty = conflict_table(sensitivity.drop(columns=["left_out"]), estimates)
    assert empty.empty and "p" in empty.columns
    assert conflict_text(empty, pd.DataFrame()) == ""  # a quick run: no suite
    no_loo = sensitivity[~sensitivity.scenario.str.startswith("leave out")]
    assert conflict_text(empty, no_loo) == ""  # a suite without leave-one-out scenarios
    # A run made before the check: no conflict.csv, so no columns at all.
    assert conflict_text(pd.DataFrame(), sensitivity.drop(columns=["left_out"])) == ""


def test_leave_out_refits_without_a_prediction_say_so():
    """The suite's fallback fits each scenario's own model, which lacks the left-out study."""
    sensitivity, estimates = _tables(1.0, 0.5, 0.5, 0.3)
    sensitivity = sensitivity.drop(columns=[c for c in sensitivity if c.startswith("left_out")])
    text = conflict_text(conflict_table(sensitivity, estimates), sensitivity)
    assert "Not available in this run" in text


def test_the_section_names_a_study_that_disagrees_and_only_then():
    far = conflict_text(
        conflict_table(*_tables(3.0, 0.3, 0.0, 0.3, p=(0.01, 0.01))), pd.DataFrame()
    )
    assert "**a** (p = 0.01) at every reading" in far and "lie further" in far
    near = conflict_text(conflict_table(*_tables(0.6, 0.5, 0.5, 0.3)), pd.DataFrame())
    assert "No study of the 1 checked" in near and "**a**" not in near
    assert "[@marshall2007]" in near
    assert "For a the closed form reads reported bounds" in near


def test_an_uncertified_leave_out_refit_is_marked():
    text = conflict_text(conflict_table(*_tables(0.6, 0.5, 0.5, 0.3, False)), pd.DataFrame())
    assert "| a (NOT CERTIFIED) |" in text


def test_a_study_without_a_finite_p_is_not_a_verdict():
    table = conflict_table(*_tables(0.6, float("nan"), 0.5, 0.3, p=(np.nan, np.nan)))
    assert "No study could be checked" in conflict_text(table, pd.DataFrame())


def test_a_studys_other_readings_are_stated_beside_the_verdict():
    sensitivity, estimates = _tables(0.5, 0.5, 0.5, 0.3, p=(0.08, 0.08))
    sensitivity["left_out_check_other_readings"] = ["", "responders = one: p 0.16", ""]
    table = conflict_table(sensitivity, estimates)
    assert table["other_readings"].iloc[0] == "responders = one: p 0.16"
    text = conflict_text(table, pd.DataFrame())
    assert "at their other readings, against the same replicates" in text
    assert "a: responders = one: p 0.16." in text
    # A run made before the column: no such sentence.
    older = conflict_table(*_tables(0.5, 0.5, 0.5, 0.3))
    assert "other readings" not in conflict_text(older, pd.DataFrame())


def test_a_studys_items_are_stated_beside_the_verdict():
    sensitivity, estimates = _tables(0.5, 0.5, 0.5, 0.3, p=(0.08, 0.08))
    items = "response (responders lost): p 0.05, change (t statistic): p 0.40"
    sensitivity["left_out_check_items"] = ["", items, ""]
    table = conflict_table(sensitivity, estimates)
    assert table["items"].iloc[0] == items
    text = conflict_text(table, pd.DataFrame())
    assert "checked on all of them together" in text
    assert f"a: {items}." in text
    # A run whose studies report one item each: no such sentence, also once the empty column
    # has been written to conflict.csv and read back (as floats).
    plain = conflict_table(*_tables(0.5, 0.5, 0.5, 0.3))
    assert "several outcomes" not in conflict_text(plain, pd.DataFrame())
    read_back = plain.assign(items=np.nan, other_readings=np.nan)
    assert "several outcomes" not in conflict_text(read_back, pd.DataFrame())
