"""What the figures say: their labels, scales, legends and limits (a referee's findings).

Drawn from the thinned real run in tests/fixtures/runs/ (200 draws) or from small synthetic
draws, so no fit is needed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.legend import Legend

from analyses.inference.hypotheses import Thresholds
from analyses.inference.intervals import interval
from analyses.report import figures, views
from analyses.report.drawing import FigureInputs
from analyses.report.symbols import SYMBOLS, figure_label
from models.forms.counts import count_datum

FIXTURE = Path(__file__).parent / "fixtures" / "runs" / "20261202-070414-primary-74c6bf"


@pytest.fixture(scope="module")
def inputs() -> FigureInputs:
    return FigureInputs.from_folder(FIXTURE, Thresholds())


def _all_titles(figure: Figure) -> str:
    """Every title of the figure and its panels, as one text."""
    texts = [figure._suptitle.get_text() if figure._suptitle else ""]
    texts += [ax.get_title() for ax in figure.axes]
    return "\n".join(texts)


@pytest.mark.parametrize(
    ("outcome", "datum"),
    [
        ("depression remission on MADRS (definition and time point not reachable)", "remitters"),
        ("response: HAM-D17 reduced by at least 50% on post-infusion day 1", "responders"),
        ("Remission (MADRS 10 or less), i.e. a sustained response", "remitters"),
        ("simulated", "participants with the outcome"),
    ],
)
def test_a_count_is_named_by_its_items_outcome(outcome, datum):
    assert count_datum(outcome) == f"{datum} (count)"


def test_the_shipped_counts_are_labelled_by_their_outcomes():
    """Yoon 2025 counts remissions: its panels must not say responders."""
    from models.blockade import build_blockade_model
    from models.evidence import load_evidence
    from models.forms.base import datum_of
    from models.priors import load_priors

    evidence = load_evidence().resolve()
    model = build_blockade_model(evidence, load_priors("neutral", evidence.literature))
    datum = {rv.name: datum_of(rv) for rv in model.observed_RVs}
    yoon2025 = {d for name, d in datum.items() if name.startswith("yoon2025")}
    williams = {d for name, d in datum.items() if name.startswith("williams2018")}
    assert yoon2025 == {"remitters (count)"}
    assert williams == {"responders (count)"}


def test_count_panels_have_integer_ticks():
    rng = np.random.default_rng(0)
    observed = xr.Dataset({"s__counted": ("one", [4])})
    draws = rng.binomial(9, 0.4, size=(1, 400, 1))
    pred = xr.Dataset({"s__counted": (("chain", "draw", "one"), draws)})
    idata = xr.DataTree.from_dict({"observed_data": observed, "prior_predictive": pred})
    fig = figures.predictive_checks(idata, "prior_predictive", "check")
    ticks = fig.axes[0].get_xticks()
    assert len(ticks) >= 2
    assert np.allclose(ticks, np.round(ticks)), ticks


def test_the_forest_labels_its_reference_lines_by_what_they_are(inputs):
    fig = figures.forest(inputs.idata, inputs.labels, inputs.estimates, inputs.thresholds)
    axes = [*fig.axes, *(child for ax in fig.axes for child in ax.child_axes)]  # the top axis
    labels = {t.get_text() for ax in axes for t in ax.get_xticklabels() if t.get_text()}
    assert {"no blockade", "Q = 0.2", "P = 0.5", "total blockade"} <= labels
    assert not labels & {"none", "permissive", "primary"}  # regions are not points on a row


def test_none_and_other_are_drawn_differently(inputs):
    fig = figures.thresholds_curve(inputs.grid, inputs.thresholds)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    none, other = lines["none"], lines["other"]
    assert none.get_linestyle() != other.get_linestyle()
    assert none.get_marker() != other.get_marker()


def test_the_cross_check_names_its_quantity(inputs):
    fig = figures.cross_check_figure(inputs.idata, inputs.cross)
    assert "blockade fraction" in fig.axes[0].get_xlabel()


def test_power_scaling_shows_the_tables_quantities_and_states_its_interval(inputs):
    import pandas as pd

    table = pd.read_csv(FIXTURE / "psense.csv")
    assert set(table.parameter) <= set(views.POWER_SCALED)
    fig = views.power_scaling(inputs.idata)
    titles = _all_titles(fig)
    for name in table.parameter:
        assert figure_label(name) in titles, name
    assert f"{interval().percent} equal-tailed" in titles


def test_the_power_scaling_bars_are_the_reports_interval(inputs):
    """The black (unscaled) bar of a panel spans the run's interval of the draws."""
    fig = views.power_scaling(inputs.idata)
    draws = inputs.idata["posterior"]["beta_acute"].values.ravel()
    lo, hi = np.quantile(draws, interval().quantiles)
    ax = next(a for a in fig.axes if a.get_title().startswith(figure_label("beta_acute")))
    spans = [
        np.sort(np.asarray(line.get_xdata(), float))[[0, -1]]
        for line in ax.get_lines()
        if len(line.get_xdata()) == 2
    ]
    assert any(np.allclose(span, (lo, hi), atol=0.02) for span in spans), (spans, lo, hi)


def test_the_rank_plot_has_a_y_scale_and_a_chain_legend(inputs):
    fig = views.rank_plot(inputs.idata)
    legends = fig.findobj(Legend)
    assert any(legend.get_title().get_text() == "chain" for legend in legends)
    chains = inputs.idata["posterior"].sizes["chain"]
    (legend,) = [lg for lg in legends if lg.get_title().get_text() == "chain"]
    assert len(legend.get_texts()) == chains
    for ax in fig.axes:
        assert ax.yaxis.get_visible() and len(ax.get_yticks()) > 1
    assert any(ax.get_ylabel() for ax in fig.axes)


def test_the_pair_plot_points_are_small_and_see_through(inputs):
    fig = views.pair_plot(inputs.idata)
    points = [c for ax in fig.axes for c in ax.collections if len(c.get_offsets())]
    assert points
    for collection in points:
        assert collection.get_alpha() <= 0.3
        assert np.all(collection.get_sizes() <= 5)


def _uniform_prior_run() -> xr.DataTree:
    """A run whose one free parameter, rho, has a uniform(0.3, 0.8) prior and posterior."""
    rng = np.random.default_rng(1)
    spec = {"dist": "uniform", "lower": 0.3, "upper": 0.8}

    def group(n_chain: int) -> xr.Dataset:
        draws = rng.uniform(0.3, 0.8, size=(n_chain, 500))
        return xr.Dataset({"within_subject_correlation": (("chain", "draw"), draws)})

    dt = xr.DataTree.from_dict(
        {"posterior": group(2), "prior": group(1), "log_prior": group(2)},
    )
    dt.attrs["priors"] = json.dumps({"slots": {"within_subject_correlation": spec}})
    return dt


def test_a_uniform_prior_is_drawn_flat_with_its_edges():
    fig = views.prior_posterior_all(_uniform_prior_run())
    (ax,) = [a for a in fig.axes if a.get_lines()]
    flat = []
    for line in ax.get_lines():
        x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        inside = (x > 0.3) & (x < 0.8)
        if np.allclose(y[inside], 2.0):
            flat.append((x, y))
    assert len(flat) == 1, "the prior is the exact density 1 / (0.8 - 0.3), flat"
    x, y = flat[0]
    assert x.min() == pytest.approx(0.3) and x.max() == pytest.approx(0.8)
    assert y[0] == 0 and y[-1] == 0  # it drops to 0 at its bounds
    assert ax.get_ylim()[1] > 2.0


def test_without_recorded_priors_the_prior_stays_a_kde(inputs):
    """An older run (no ``priors`` attribute) is drawn as before, from the prior draws."""
    assert "priors" not in inputs.idata.attrs
    fig = views.prior_posterior_all(inputs.idata)
    assert fig.axes


def test_the_reliability_figure_shows_a_point_at_1_whole_and_says_what_the_counts_are():
    from analyses.validation.calibration import reliability_figure

    bins = [
        {"forecasts": 320, "mean_stated": 0.03, "observed": 0.03},
        {"forecasts": 3, "mean_stated": 0.94, "observed": 1.0},
    ]
    fig = reliability_figure({"bins": bins, "brier": 0.5, "brier_prior": 0.7})
    ax = fig.axes[0]
    assert ax.get_ylim()[1] > 1.0 and ax.get_xlim()[1] > 1.0
    assert ax.get_ylim()[0] < 0.0 and ax.get_xlim()[0] < 0.0
    assert "forecasts" in ax.get_title()


def test_every_free_parameter_of_the_shipped_model_has_a_symbol():
    """The figures write each quantity as docs/science.md does, never as its code name."""
    from models.blockade import build_blockade_model
    from models.evidence import load_evidence
    from models.priors import load_priors

    evidence = load_evidence().resolve()
    model = build_blockade_model(evidence, load_priors("neutral", evidence.literature))
    named = {rv.name for rv in model.free_RVs} | {d.name for d in model.deterministics}
    assert named - set(SYMBOLS) == set()


def test_the_views_name_studies_and_write_symbols(inputs):
    """Panels say "Williams 2018" and the symbol, not williams2018 and z_beta."""
    names = inputs.labels.names
    fig = views.prior_posterior_all(inputs.idata, names)
    titles = _all_titles(fig)
    assert "Williams 2018" in titles and figure_label("z_beta") in titles
    for variable in inputs.idata["posterior"].data_vars:
        assert f"\n{variable}" not in f"\n{titles}", variable  # no title starts with a name
    for study in names:
        assert study not in titles, study
