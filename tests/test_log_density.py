"""The vectorised log prior equals PyMC's ``compute_log_prior``, fallbacks included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pymc as pm
import pytest
import xarray as xr

from analyses.inference.log_density import log_prior
from analyses.report.folder import RunFolder
from models.blockade import build_blockade_model
from models.evidence import load_evidence
from models.priors import load_priors

# Two float64 evaluations of one density, the graph rewritten in one and not the other:
# 4e-15 observed on the primary model's 4000 draws (2026-12-03).
LOGP_ATOL = 1e-10
FIXTURE = Path(__file__).parent / "fixtures" / "runs" / "20261202-070414-primary-74c6bf"


def pymcs(posterior: xr.Dataset, model: pm.Model) -> xr.Dataset:
    tree = xr.DataTree.from_dict({"posterior": posterior})
    found = pm.stats.compute_log_prior(
        tree, model=model, extend_inferencedata=False, progressbar=False
    )
    return found["log_prior"].to_dataset() if isinstance(found, xr.DataTree) else found


def assert_same(got: xr.Dataset, want: xr.Dataset) -> None:
    assert set(got.data_vars) == set(want.data_vars)
    for name in want.data_vars:
        assert got[name].dims == want[name].dims, name
        for dim in got[name].dims:
            assert list(got[name][dim].values) == list(want[name][dim].values), (name, dim)
        np.testing.assert_allclose(got[name].values, want[name].values, atol=LOGP_ATOL)


@pytest.mark.parametrize("prior_set", ["neutral", "sceptical"])
def test_the_shipped_models_log_prior_equals_pymcs(prior_set):
    """The primary's draws (a thinned real run) under the model's own and another prior set."""
    base = load_evidence()
    model = build_blockade_model(base.resolve(), load_priors(prior_set, base.literature))
    posterior = RunFolder(FIXTURE).draws["posterior"].to_dataset()
    assert_same(log_prior(posterior, model), pymcs(posterior, model))


def _draws(**arrays) -> xr.Dataset:
    return xr.Dataset(
        {
            k: (("chain", "draw", *[f"{k}_dim_{i}" for i in range(v.ndim - 2)]), v)
            for k, v in arrays.items()
        },
        coords={"chain": [0, 1], "draw": np.arange(3)},
    )


def test_a_draw_outside_a_priors_support_is_minus_infinity_as_in_pymc():
    with pm.Model() as model:
        pm.Uniform("u", 0, 1)
        pm.HalfNormal("s", 1)
    posterior = _draws(u=np.array([[0.5, 0.2, 1.5], [0.1, 0.9, 0.3]]), s=np.ones((2, 3)))
    got = log_prior(posterior, model)
    assert np.isneginf(got["u"].values[0, 2])
    assert_same(got, pymcs(posterior, model))


def test_a_multivariate_prior_is_left_to_pymc():
    with pm.Model() as model:
        pm.Dirichlet("p", a=np.ones(3))
        pm.Normal("m", 0, 1)
    p = np.random.default_rng(1).dirichlet(np.ones(3), size=(2, 3))
    posterior = _draws(p=p, m=np.zeros((2, 3)))
    assert log_prior(posterior, model)["p"].shape == (2, 3)
    assert_same(log_prior(posterior, model), pymcs(posterior, model))
