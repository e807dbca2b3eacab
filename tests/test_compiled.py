"""One compiled model per structure: simulations swap their observations in as data."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytest

from analyses.inference import compiled
from analyses.validation import sbc
from models.blockade import ModelOptions, build_blockade_model


@pytest.fixture(scope="module")
def draws():
    return sbc.prior_draws(3, seed=5)


def _constant_model(draw):
    evidence, priors = sbc._evidence(sbc.with_observations(sbc.template_studies(), draw, True))
    return build_blockade_model(evidence, priors, ModelOptions())


def test_observations_as_data_leave_the_log_density_unchanged(draws):
    as_data, constant = sbc.simulation_model(draws[0]), _constant_model(draws[0])
    assert {v.name for v in as_data.data_vars} > {"crossover12__outcome__data"}
    point = constant.initial_point()
    rng = np.random.default_rng(0)
    for _ in range(3):
        moved = {k: v + 0.2 * rng.standard_normal(np.shape(v)) for k, v in point.items()}
        a = as_data.compile_logp(mode="FAST_COMPILE")(moved)
        b = constant.compile_logp(mode="FAST_COMPILE")(moved)
        assert np.isclose(a, b, rtol=1e-12, atol=0), (a, b)


def test_simulations_of_one_design_have_one_structure(draws):
    keys = {compiled.structure_key(sbc.simulation_model(d)) for d in draws}
    assert len(keys) == 1
    # Constants are part of the structure: the same observations held as constants differ.
    assert compiled.structure_key(_constant_model(draws[0])) != keys.pop()
    assert compiled.structure_key(_constant_model(draws[0])) != compiled.structure_key(
        _constant_model(draws[1])
    )


def _small_model(draw):
    """Two of the design's studies: every compile of a larger model only costs more."""
    studies = [s for s in sbc.template_studies() if s["id"] in ("singlearm5", "attenuation")]
    evidence, priors = sbc._evidence(sbc.with_observations(studies, draw, banded=True))
    return build_blockade_model(evidence, priors, ModelOptions(observations_as_data=True))


@pytest.mark.fit
def test_a_refit_with_swapped_data_equals_a_fresh_compile(draws):
    from analyses.inference.sampling import SamplerSettings, fit_with_gate

    settings = SamplerSettings(draws=200, tune=200, chains=2, seed=3)
    compiled.clear()
    _, fresh = compiled.compile_reusing(_small_model(draws[0]))
    assert fresh
    _, fresh = compiled.compile_reusing(_small_model(draws[1]))
    assert not fresh  # the second simulation swaps its data into the first's compile
    swapped = fit_with_gate(_small_model(draws[1]), settings, reuse=True)
    # The simulation studies read the posterior alone, from nutpie's record batches.
    bare = fit_with_gate(_small_model(draws[1]), settings, reuse=True, posterior_only=True)
    assert set(bare.idata.children) == {"posterior", "sample_stats"}
    assert bare.attempts == swapped.attempts
    compiled.clear()
    alone = fit_with_gate(_small_model(draws[1]), settings)
    for name in ("beta_acute", "tau_beta", "specific_share"):
        for fit in (swapped, bare):
            np.testing.assert_array_equal(
                fit.idata["posterior"][name].values, alone.idata["posterior"][name].values
            )
    observed = swapped.idata["observed_data"]["singlearm5__outcome"].values
    np.testing.assert_array_equal(observed, draws[1]["singlearm5__outcome"])


def test_models_that_start_elsewhere_do_not_share_a_compile():
    """Two prior sets for the same studies: same graph (the priors' locations are data), but
    different starting points, which nutpie's ``with_data`` would not swap in."""
    from models.evidence import load_evidence
    from models.priors import load_priors

    base = load_evidence()
    evidence = base.resolve()
    neutral = build_blockade_model(evidence, load_priors("neutral", base.literature))
    sceptical = build_blockade_model(evidence, load_priors("sceptical", base.literature))
    again = build_blockade_model(evidence, load_priors("neutral", base.literature))
    assert compiled.structure_key(neutral) == compiled.structure_key(again)
    assert compiled.structure_key(neutral) != compiled.structure_key(sceptical)


def _count_keys(monkeypatch) -> list:
    """Compiles stubbed out (a compiled model that takes any data); the models keyed, listed."""
    from analyses.inference import sampling

    keyed = []
    real_key = compiled.structure_key

    class Compiled:
        def with_data(self, **data):
            return self

    monkeypatch.setattr(sampling, "compile_model", lambda model: Compiled())
    monkeypatch.setattr(compiled, "structure_key", lambda m: keyed.append(m) or real_key(m))
    compiled.clear()
    return keyed


def test_the_first_compile_of_a_process_is_keyed_only_when_a_second_model_arrives(
    draws, monkeypatch
):
    """A command-line run fits one model per process: it should not pay for a key (~1 s)."""
    keyed = _count_keys(monkeypatch)
    try:
        first, second = _small_model(draws[0]), _small_model(draws[1])
        _, fresh = compiled.compile_reusing(first)
        assert fresh and keyed == []
        _, fresh = compiled.compile_reusing(_small_model(draws[0]))
        assert not fresh and len(keyed) == 2  # the waiting first model, then this one
        keyed.clear()
        compiled.compile_reusing(second)
        assert len(keyed) == 1
    finally:
        compiled.clear()


def test_the_structure_key_sees_inner_graph_constants_and_op_properties():
    # Two models it would otherwise take for one (as the disk cache of functions would):
    # a constant inside an OpFromGraph, and PyMC's check printed alike either way.
    from pymc.distributions.dist_math import check_parameters
    from pytensor.compile.builders import OpFromGraph

    from tests.test_function_cache import _potential_model

    def weighted(middle):
        w = np.ones(1000)
        w[500] = middle
        a = pt.dscalar("a")
        return lambda x: -0.5 * OpFromGraph([a], [(pt.as_tensor(w) * a).sum()])(x)

    def checked(replaceable):
        return lambda x: check_parameters(
            pt.zeros(()), x < 1.0, msg="x < 1", can_be_replaced_by_ninf=replaceable
        )

    key = compiled.structure_key
    assert key(_potential_model(weighted(1.0))) != key(_potential_model(weighted(3.0)))
    assert key(_potential_model(checked(True))) != key(_potential_model(checked(False)))


def test_models_of_one_inputs_key_are_keyed_once(draws, monkeypatch):
    """A design's simulations of one size name their inputs: the graph is not hashed again."""
    keyed = _count_keys(monkeypatch)
    try:
        assert compiled.compile_reusing(_small_model(draws[0]), "size 20")[1]
        assert not compiled.compile_reusing(_small_model(draws[1]), "size 20")[1]
        assert keyed == []  # the first model is still unkeyed, and this one is its twin
        # Another key of inputs: both models are keyed now (one structure: no compile) ...
        assert not compiled.compile_reusing(_small_model(draws[2]), "size 20, again")[1]
        assert len(keyed) == 2
        keyed.clear()
        # ... and from then on either name finds the compiled model without a key.
        for key in ("size 20", "size 20, again"):
            assert not compiled.compile_reusing(_small_model(draws[0]), key)[1]
        assert keyed == []
        # Without a name of its inputs a model is keyed as before.
        assert not compiled.compile_reusing(_small_model(draws[1]))[1]
        assert len(keyed) == 1
    finally:
        compiled.clear()


def test_the_map_of_inputs_keys_stays_bounded(monkeypatch):
    """An evicted structure's inputs keys go with it; aliases of a kept one are capped."""
    from analyses.inference import sampling

    class Model:  # what compile_reusing reads of a model, keyed by a name (no graph)
        def __init__(self, key):
            self.key, self.data_vars = key, []

    class Compiled:
        def with_data(self, **data):
            return self

    monkeypatch.setattr(sampling, "compile_model", lambda model: Compiled())
    monkeypatch.setattr(compiled, "structure_key", lambda model: model.key)
    monkeypatch.setattr(compiled, "MAX_CACHED", 2)
    monkeypatch.setattr(compiled, "MAX_INPUTS_KEYS", 3)
    compiled.clear()
    try:
        for key in "abc":
            assert compiled.compile_reusing(Model(key), f"inputs {key}")[1]
        assert set(compiled._COMPILED) == {"b", "c"}
        assert compiled._BY_INPUTS == {"inputs b": "b", "inputs c": "c"}
        for i in range(10):  # the same structure under ever new inputs keys
            assert not compiled.compile_reusing(Model("c"), f"alias {i}")[1]
        assert len(compiled._BY_INPUTS) == 3
    finally:
        compiled.clear()
