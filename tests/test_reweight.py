"""Importance reweighting of the primary posterior (analyses.suite.reweight).

The weights are checked against exact answers on draws whose reweighted target is known:
draws from N(0, 1) reweighted by a N(mu, 1) / N(0, 1) prior ratio target N(mu, 1).
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from analyses.inference.hypotheses import weighted_probability
from analyses.inference.intervals import weighted_quantile
from analyses.suite.reweight import (
    K_HAT_MAX,
    changed_slots,
    log_ratio,
    psis_weights,
    slot_log_ratio,
)
from analyses.suite.scenarios import Scenario

# A reweighted estimate must fall within this many of its own Monte Carlo standard errors of
# the exact answer: a two-sided 4-sigma band fails by chance about once in 16 000 (and the
# draws are seeded, so each test is deterministic).
Z_BAND = 4.0


def _draws(seed: int = 1, chains: int = 4, draws: int = 1000) -> xr.DataArray:
    x = np.random.default_rng(seed).standard_normal((chains, draws))
    return xr.DataArray(x, dims=("chain", "draw"))


def _ratio(x: xr.DataArray, mu: float) -> xr.DataArray:
    return xr.DataArray(stats.norm.logpdf(x, mu) - stats.norm.logpdf(x, 0.0), dims=x.dims)


def test_weights_move_the_draws_to_the_new_prior():
    x = _draws()
    w = psis_weights(_ratio(x, 0.3))
    assert w.k_hat < K_HAT_MAX
    assert np.isclose(w.normalised.sum(), 1.0)
    mean = float(np.sum(w.normalised * x.values))
    mcse = np.sqrt(np.sum(w.normalised**2 * (x.values - mean) ** 2) / w.r_eff)
    assert abs(mean - 0.3) < Z_BAND * mcse  # the sign of the ratio matters: -0.3 would fail
    assert 0 < w.ess < x.size


def test_a_weighted_region_probability_and_its_error():
    x = _draws(2)
    w = psis_weights(_ratio(x, 0.3))
    region = weighted_probability(x.values > 0.5, w)
    exact = float(stats.norm.sf(0.5, 0.3))
    assert abs(region.prob - exact) < Z_BAND * region.mcse
    # The weights cost precision: the effective draws are fewer than the raw ones.
    assert region.n_eff < x.size and region.lower < region.prob < region.upper


def test_a_far_prior_is_flagged_by_k_hat():
    """A target 3 SD away leaves too few draws where it has its mass: refit, not reweight."""
    assert psis_weights(_ratio(_draws(3), 3.0)).k_hat >= K_HAT_MAX


def test_a_prior_that_never_enters_leaves_the_draws_as_they_are():
    x = _draws(4)
    w = psis_weights(xr.zeros_like(x))
    assert np.isnan(w.k_hat) and np.allclose(w.normalised, 1.0 / x.size)


def test_weighted_quantiles():
    x = _draws(5)
    equal = np.full(x.size, 1.0 / x.size)
    assert np.allclose(
        weighted_quantile(x.values, equal, [0.025, 0.5, 0.975]),
        np.quantile(x.values, [0.025, 0.5, 0.975], method="hazen"),
    )
    w = psis_weights(_ratio(x, 0.3))
    median = float(weighted_quantile(x.values, w.normalised, 0.5))
    # The median's MCSE is about 1.25 times the mean's (sqrt(pi / 2)); 0.05 is over Z_BAND of it
    # at this effective size (about 3000 draws: 1.25 / sqrt(3000) = 0.023).
    assert abs(median - 0.3) < 0.1


def test_log_ratio_sums_every_variable_over_its_own_dims():
    x = _draws(6)
    old = xr.Dataset({"a": x * 0, "b": xr.zeros_like(x).expand_dims(study=3)})
    new = xr.Dataset({"a": x, "b": xr.ones_like(x).expand_dims(study=3)})
    assert np.allclose(log_ratio(new, old), x + 3.0)
    assert log_ratio(new.drop_vars("b"), old) is None


def _uniform(lower: float, upper: float) -> dict:
    return {"dist": "uniform", "lower": lower, "upper": upper}


PRIMARY = Scenario(
    "primary",
    "",
    {"slots": {"tau_beta": {"dist": "halfnormal", "sigma": 0.2}, "rho": _uniform(0.0, 0.9)}},
    {"moderator": "regimen"},
    {},
)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {
                "priors": {
                    "slots": {
                        **PRIMARY.priors["slots"],
                        "tau_beta": {"dist": "halfcauchy", "beta": 0.2},
                    }
                }
            },
            {"tau_beta"},
        ),
        (  # a narrower range: the draws outside it get weight 0
            {"priors": {"slots": {**PRIMARY.priors["slots"], "rho": _uniform(0.3, 0.8)}}},
            {"rho"},
        ),
        (  # a wider range: the primary's draws never visit what it adds, so refit
            {"priors": {"slots": {**PRIMARY.priors["slots"], "rho": _uniform(0.0, 0.95)}}},
            None,
        ),
        (  # a positive family where the primary's prior was bounded: refit
            {
                "priors": {
                    "slots": {**PRIMARY.priors["slots"], "rho": {"dist": "halfnormal", "sigma": 1}}
                }
            },
            None,
        ),
        (
            {
                "priors": {
                    "slots": {**PRIMARY.priors["slots"], "rho": {"dist": "fixed", "value": 0.3}}
                }
            },
            None,
        ),  # fixing a nuisance changes what is sampled
        ({"readings": {"williams2018": {"x": "one"}}}, None),
        ({"studies": ("williams2018",)}, None),
        ({"options": {"moderator": "log_hours"}}, None),
        ({}, None),  # no change at all is not a reweighting
    ],
)
def test_only_a_change_of_free_priors_is_reweighted(change, expected):
    fields = {
        "name": "x",
        "change": "",
        "priors": PRIMARY.priors,
        "options": PRIMARY.options,
        "readings": PRIMARY.readings,
    }
    assert changed_slots(Scenario(**(fields | change)), PRIMARY) == expected


# The two routes' log ratios agree draw by draw to rounding (the largest spread seen was
# 2.4e-15) and may differ by a constant of at most 2e-9 (normalising constants, see below).
RATIO_ATOL = 1e-10
OFFSET_ATOL = 1e-6


@pytest.fixture(scope="module")
def shipped_candidates():
    """The shipped suite's prior-only scenarios, the primary model and draws of its priors."""
    import pymc as pm

    from analyses.api import load_inputs
    from analyses.suite.scenarios import build_scenarios, primary_scenario, refitted
    from models.blockade import build_blockade_model

    inputs = load_inputs()
    primary = primary_scenario(inputs.config, inputs.priors)
    scenarios = refitted(build_scenarios(inputs.base, inputs.config, inputs.priors))
    candidates = [sc for sc in scenarios if changed_slots(sc, primary) is not None]
    model = build_blockade_model(inputs.evidence, inputs.priors, inputs.options)
    with model:
        prior = pm.sample_prior_predictive(
            200, random_seed=5, compile_kwargs={"mode": "FAST_COMPILE"}
        )
    return inputs.base, primary, candidates, model, prior["prior"].to_dataset()


def test_the_slots_own_ratio_is_the_ratio_of_both_models_log_priors(shipped_candidates):
    from analyses.inference.log_density import log_prior
    from analyses.suite.worker import model_for

    base, primary, candidates, model, draws = shipped_candidates
    assert len(candidates) >= 5  # prior sets, tau_beta families, nuisance priors
    old = log_prior(draws, model)
    for sc in candidates:
        slots = changed_slots(sc, primary)
        fast = slot_log_ratio(draws, model, sc.priors["slots"], primary.priors["slots"], slots)
        general = log_ratio(log_prior(draws, model_for(base, sc)), old)
        assert fast is not None, sc.name
        # Equal up to a constant: scipy's and PyMC's normalising constants differ in the last
        # digits (1.9e-9 for a half-normal), which the normalised weights do not see.
        diff = (fast - general).values
        assert np.ptp(diff) < RATIO_ATOL and abs(diff.mean()) < OFFSET_ATOL, sc.name


def test_a_slot_that_is_not_a_free_variable_takes_the_general_route(shipped_candidates):
    _, primary, _, model, draws = shipped_candidates
    slots = primary.priors["slots"]
    assert slot_log_ratio(draws, model, slots, slots, {"beta_study"}) is None
