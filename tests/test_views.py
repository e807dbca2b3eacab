"""The standard ArviZ views and the rank test the report states in words."""

from __future__ import annotations

import numpy as np
import xarray as xr

from analyses.report.views import RANK_TEST_ALPHA, rank_test


def _tree(shift: float) -> xr.DataTree:
    rng = np.random.default_rng(0)
    draws = rng.standard_normal((4, 1000))
    draws[0] += shift  # one chain off to the side
    post = xr.Dataset(
        {name: (("chain", "draw"), draws) for name in ("beta_acute", "tau_beta")},
        coords={"chain": range(4), "draw": range(1000)},
    )
    return xr.DataTree.from_dict({"posterior": post})


def test_the_rank_test_flags_a_chain_that_saw_another_distribution():
    assert all(p < RANK_TEST_ALPHA for p in rank_test(_tree(0.5)).values())


def test_the_rank_test_passes_chains_that_agree():
    found = rank_test(_tree(0.0))
    assert set(found) == {"beta_acute", "tau_beta"}
    assert all(p > RANK_TEST_ALPHA for p in found.values())
