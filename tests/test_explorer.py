"""The explorer: its marimo app runs headless, every cell, on a small stored run folder.

The fixture (tests/fixtures/runs/, written by tests/fixtures/make_runs.py) is two real run
folders with their draws thinned to 2 chains x 100 draws.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from analyses import explorer
from analyses.explorer import RunView, at_thresholds

ROOT = Path(__file__).resolve().parents[1]
RUNS = sorted((ROOT / "tests" / "fixtures" / "runs").iterdir())
EARLIER, LATER = RUNS[0], RUNS[-1]


@pytest.fixture(scope="module")
def later() -> RunView:
    return RunView.open(LATER)


def test_every_cell_of_the_app_runs_headless(monkeypatch):
    monkeypatch.setenv("EXPLORE_RUN", str(LATER))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    spec = importlib.util.spec_from_file_location("explore", ROOT / "notebooks" / "explore.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    outputs, defs = module.app.run()  # a cell that raises would raise here
    assert len(outputs) == len(list(module.app._cell_manager.valid_cell_ids()))
    assert defs["run"].path == LATER
    assert defs["previous"].path == EARLIER
    assert set(defs["tables"]) == {"hypotheses", "bayes_factors"}


def test_moving_a_threshold_rereads_the_draws(later):
    at_half = at_thresholds(later, 0.5, 0.2)["hypotheses"].set_index("hypothesis")
    higher = at_thresholds(later, 0.7, 0.2)["hypotheses"].set_index("hypothesis")
    assert at_half["posterior_prob"].sum() == pytest.approx(1.0)
    # A higher bar for 'primary' can only shrink its region, so its probability cannot rise.
    assert higher.loc["primary", "posterior_prob"] < at_half.loc["primary", "posterior_prob"]
    assert higher.loc["primary", "prior_prob"] < at_half.loc["primary", "prior_prob"]
    post = later.idata["posterior"]
    both = (post["beta_acute"].values >= 0.7) & (post["beta_sustained"].values >= 0.7)
    assert higher.loc["primary", "posterior_prob"] == pytest.approx(both.mean())


def test_overlapping_thresholds_are_refused(later):
    with pytest.raises(ValueError, match="must not exceed"):
        at_thresholds(later, 0.3, 0.4)


def test_scenarios_are_picked_by_label_where_the_table_has_them(later):
    """The stored run predates labels, so its names are offered; a labelled table offers
    labels, each mapped to its key."""
    table = later.table("sensitivity")
    assert "label" not in table
    choices = explorer.scenario_choices(table)
    assert choices["leave out jelen2025"] == "leave out jelen2025" and "primary" not in choices
    labelled = table.assign(label=[f"shown {s}" for s in table["scenario"]])
    assert explorer.scenario_choices(labelled)["shown leave out jelen2025"] == "leave out jelen2025"
    assert explorer.scenario_choices(None) == {}


def test_scenario_rows_sit_beside_the_primary(later):
    rows = explorer.scenario_rows(later, "leave out jelen2025")
    # The stored run predates labels: its scenario's name heads the column.
    assert list(rows.columns) == ["Main analysis", "leave out jelen2025"]
    assert 0 <= float(rows.loc["p_primary", "leave out jelen2025"]) <= 1


def test_the_previous_run_is_overlaid(later):
    previous = later.previous()
    assert previous is not None and previous.path == EARLIER
    fig = explorer.overlay(later, previous)
    assert [len(ax.get_lines()) for ax in fig.axes] == [2, 2]
    assert RunView.open(EARLIER).previous() is None


def test_every_figure_redraws_from_the_files(later):
    from analyses.report import figures, robustness, views

    labels = explorer.study_labels(later)
    assert set(labels.names) >= {"williams2018", "jelen2025"}
    drawn = [
        figures.forest(later.idata, labels, later.table("beta_estimates"), later.thresholds),
        robustness.sensitivity_forest(later.table("sensitivity")),
        robustness.cumulative_forest(later.table("cumulative")),
        *(view(later.idata) for view in views.VIEWS.values()),
    ]
    assert all(fig.axes for fig in drawn)


def test_a_folder_that_is_not_a_run_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"posterior\.nc"):
        RunView.open(tmp_path)


def test_the_pair_plot_titles_give_the_drawn_correlation(later):
    from analyses.report import views

    fig = views.pair_plot(later.idata)
    post = later.idata["posterior"]
    r = np.corrcoef(post["beta_acute"].values.ravel(), post["tau_beta"].values.ravel())[0, 1]
    assert f"correlation {r:+.2f}" in [ax.get_title() for ax in fig.axes]
