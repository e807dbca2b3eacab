"""The credible interval is one setting: changing it changes every summary, table and figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from analyses.inference import intervals
from analyses.inference.fit import parameter_summary
from analyses.inference.hypotheses import Thresholds
from analyses.report.figures import joint
from analyses.suite.scenarios import Scenario
from analyses.suite.table import scenario_row


@pytest.fixture
def eighty(monkeypatch):
    monkeypatch.setattr(intervals, "CI_PROB", 0.8)


def _tree() -> xr.DataTree:
    rng = np.random.default_rng(0)
    post = xr.Dataset(
        {
            name: (("chain", "draw"), rng.normal(0.5, 0.3, (2, 200)))
            for name in ("beta_acute", "beta_sustained", "delta_timing")
        }
    )
    return xr.DataTree.from_dict({"/posterior": post})


def test_the_setting_reaches_summaries_tables_and_figures(eighty):
    tree = _tree()
    assert {"eti80_lb", "eti80_ub"} <= set(parameter_summary(tree).columns)
    draws = {k: tree["posterior"][k].values.ravel() for k in ("beta_acute", "delta_timing")}
    hyp = pd.DataFrame(
        {
            "hypothesis": ["primary", "permissive", "none", "other"],
            "posterior_prob": [0.25] * 4,
            "posterior_prob_mcse": [0.01] * 4,
            "prior_prob": [0.25] * 4,
            "bf_vs_primary": [1.0] * 4,
        }
    )
    row = scenario_row(Scenario("s", "c", {}, {}), hyp, draws, True, [])
    assert "beta_acute_eti80_lb" in row and "beta_acute_eti95_lb" not in row
    assert intervals.interval().describe("mean", 0.1, -0.2, 0.4).startswith("mean +0.10 (80%")
    table = hyp.assign(posterior_prob_mcse=0.0)
    fig = joint(tree, table, Thresholds())
    assert "80% of draws" in fig.get_suptitle()  # the joint figure titles the whole figure
