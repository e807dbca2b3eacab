"""One model for every scenario: with a scenario's data it is that scenario's own model.

The suite compiles one model whose data say which studies and readings are in, which prior
parameters apply and which nuisances are fixed (``build_variants_model``). Two checks that it
is the model each scenario claims to be: its log density equals the scenario's own model's at
random points (exactly, up to the prior-only terms of parameters the scenario does not have),
and a masked refit agrees with a rebuilt model to Monte Carlo error.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest

from analyses.inference.config import load_config
from analyses.inference.sampling import SamplerSettings, compile_model, sample_compiled
from analyses.suite.scenarios import build_scenarios, refitted
from analyses.suite.worker import variant_for
from models.blockade import Variant, build_blockade_model, build_variants_model
from models.evidence import load_evidence
from models.priors import load_priors
from models.switchboard import VariantsDiffer
from tests.conftest import UNREWRITTEN

# Two evaluations of one log density in float64: observed differences are below 1e-8 (the
# paired-binary quadrature sums 120 nodes in a different order when rho is data).
LOGP_ATOL = 1e-6
# Posterior means of one model sampled twice (4 x 1000 draws each, ESS >= 1000 for the beta
# means) differ by about sqrt(2) x SD / sqrt(ESS) ~ 0.045 x SD; 4 such standard errors is
# 0.18 SD, and a masked term that failed to cancel moves beta_acute by more than 1 SD.
MEAN_TOL_SDS = 0.18


@pytest.fixture(scope="module")
def suite():
    config, _ = load_config()
    base = load_evidence()
    priors = load_priors(config.analysis.priors, base.literature)
    scenarios = refitted(build_scenarios(base, config, priors))
    variants = [variant_for(base, s) for s in scenarios]
    model, data = build_variants_model(variants)
    return scenarios, variants, model, data


def _point(model, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {k: v + 0.3 * rng.standard_normal(np.shape(v)) for k, v in model.initial_point().items()}


def _twin(union, rv_name: str):
    """The union's variable for a scenario's free variable (``__free`` where some fix it)."""
    rv = union[rv_name]
    return rv if rv in union.free_RVs else union[f"{rv_name}__free"]


def _labels(model, rv_name: str) -> list | None:
    dims = model.named_vars_to_dims.get(rv_name)
    return list(model.coords[dims[0]]) if dims else None


def _union_point(union, start: dict, own, point: dict) -> tuple[dict, dict]:
    """The union's point holding the scenario's values, and which elements are shared.

    ``start`` is the union's initial point, computed once: it compiles a function (0.15 s).
    """
    upoint, shared = dict(start), {}
    for value in own.value_vars:
        rv = own.values_to_rvs[value]
        twin = _twin(union, rv.name)
        name = union.rvs_to_values[twin].name
        mine, theirs = _labels(own, rv.name), _labels(union, twin.name)
        idx = ... if mine is None else np.array([theirs.index(x) for x in mine])
        upoint[name] = np.array(upoint[name], dtype=float)
        upoint[name][idx] = point[value.name]
        shared[name] = idx
    return upoint, shared


def test_every_scenario_has_its_own_models_log_density(suite):
    scenarios, variants, union, data = suite
    # One logp call for every term: one call per variable rebuilt the model's graph 30 times.
    free = [union.values_to_rvs[v] for v in union.value_vars]
    factors = union.logp(vars=[*free, *union.observed_RVs, *union.potentials], sum=False)
    per_var, others = factors[: len(free)], factors[len(free) :]
    rest = pt.add(*[pt.sum(f) for f in others])
    terms = union.compile_fn(
        [*per_var, rest], inputs=union.value_vars, mode=UNREWRITTEN, point_fn=False
    )
    start = union.initial_point()
    for scenario, variant, d in zip(scenarios, variants, data, strict=True):
        own = build_blockade_model(variant.evidence, variant.priors, variant.options)
        point = _point(own, seed=len(scenario.name))
        want = own.compile_fn(own.logp(), mode=UNREWRITTEN)(point)
        upoint, shared = _union_point(union, start, own, point)
        with union:
            pm.set_data(d)
        values = terms(*[upoint[v.name] for v in union.value_vars])
        got = values[-1] + sum(
            np.sum(np.asarray(lp)[shared[v.name]])
            for v, lp in zip(union.value_vars, values[:-1], strict=False)
            if v.name in shared
        )
        assert got == pytest.approx(want, abs=LOGP_ATOL), scenario.name


@pytest.mark.fit
def test_a_masked_refit_agrees_with_the_rebuilt_model():
    config, _ = load_config()
    base = load_evidence()
    evidence = base.resolve()
    priors = load_priors(config.analysis.priors, base.literature)
    kept = [s.id for s in evidence.included if s.id != "jelen2025"]
    without = evidence.subset(kept + [s.id for s in evidence.studies if s.status != "included"])
    union, data = build_variants_model([Variant(evidence, priors), Variant(without, priors)])
    settings = SamplerSettings(seed=11)
    masked = sample_compiled(compile_model(union), data[1], settings)["posterior"]
    alone = compile_model(build_blockade_model(without, priors))
    rebuilt = sample_compiled(alone, {}, settings)["posterior"]
    assert "jelen2025" in masked["beta_study"].coords["study"].values
    for name in ("beta_acute", "beta_sustained", "tau_beta"):
        a, b = masked[name].values.ravel(), rebuilt[name].values.ravel()
        assert abs(a.mean() - b.mean()) < MEAN_TOL_SDS * b.std(), (name, a.mean(), b.mean())


def test_what_data_cannot_hold_is_refused():
    base = load_evidence()
    evidence = base.resolve()
    neutral = load_priors("neutral", base.literature)
    wide = neutral.to_dict()
    wide["slots"] = {**wide["slots"], "tau_beta": {"dist": "uniform", "lower": 0, "upper": 2}}
    from analyses.suite.scenarios import _spec

    with pytest.raises(VariantsDiffer, match="tau_beta"):
        build_variants_model([Variant(evidence, neutral), Variant(evidence, _spec(wide))])
