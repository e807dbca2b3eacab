"""Every form of evidence in the schema has a complete module in models/forms/.

A form half-added (a schema class without its module, or a module missing a part) fails here
rather than at the first study that reports it.
"""

from __future__ import annotations

import math
from typing import get_args

import numpy as np
import pytest

from models.blockade import build_blockade_model, observed_items
from models.evidence import load_evidence
from models.evidence.schema import EvidenceItem
from models.evidence.validate import usable
from models.forms import FORMS, form_of
from models.forms.base import datum_of
from models.priors import load_priors

PARTS = ("essential", "needs", "add_likelihood", "estimate", "simulate", "attenuation_statistic")
# Read off the union itself, so the check does not depend on anything derived from it.
SCHEMA_KINDS = tuple(
    get_args(cls.model_fields["kind"].annotation)[0] for cls in get_args(get_args(EvidenceItem)[0])
)
# Large enough that every simulated count and mean is informative; the size is not tested.
SIM_N = 40


@pytest.mark.parametrize("kind", SCHEMA_KINDS)
def test_every_schema_kind_has_a_complete_form_module(kind):
    assert kind in FORMS, f"no module in models/forms/ registered for kind {kind!r}"
    form = FORMS[kind]
    assert kind in form.KINDS
    missing = [part for part in PARTS if not callable(getattr(form, part, None))]
    assert not missing, f"form module {form.__name__} lacks {missing}"


def test_no_form_module_for_a_kind_the_schema_lacks():
    assert set(FORMS) == set(SCHEMA_KINDS)


def test_every_form_simulates_a_usable_item_with_an_estimate(simulated):
    evidence, priors = simulated
    for study in evidence.studies:
        (item,) = study.evidence
        assert usable(item), item.kind
        estimate = form_of(item.kind).estimate(study, item, priors)
        if estimate is not None:  # a form may have no closed form (IPD)
            est, se, how = estimate
            assert math.isfinite(est) and se > 0 and how, item.kind


def test_every_form_adds_its_likelihood(simulated):
    evidence, priors = simulated
    model = build_blockade_model(evidence, priors)
    observed_studies = {study for study, _, _ in observed_items(model).values()}
    assert observed_studies == {s.id for s in evidence.studies}
    assert np.isfinite(model.compile_logp()(model.initial_point()))
    # Each says what its number is, for the predictive checks' axes.
    assert [rv.name for rv in model.observed_RVs if not datum_of(rv)] == []


def test_gamma_enters_every_form_through_the_removed_improvement():
    """k (beta delta + gamma m) on the latent scale; k (beta kappa + gamma (1 - kappa)) as a
    share of the whole improvement, with kappa = delta / (m + delta)."""
    from models.forms.base import ItemContext

    k, beta, delta, m, gamma = 1.4, 0.6, 0.9, 0.5, 0.3
    kappa = delta / (m + delta)
    ctx = ItemContext(None, None, "x", beta, delta, k, kappa=kappa, nonspecific=m, gamma=gamma)
    assert ctx.removed == pytest.approx(k * (beta * delta + gamma * m))
    assert ctx.removed_share == pytest.approx(ctx.removed / (m + delta))
    same = ItemContext(None, None, "x", beta, delta, k, kappa=kappa, nonspecific=m, gamma=beta)
    assert same.removed_share == pytest.approx(k * beta)  # gamma = beta: kappa cancels
    none = ItemContext(None, None, "x", beta, delta, k, kappa=kappa, nonspecific=m)
    assert none.removed == pytest.approx(k * beta * delta)
    assert none.removed_share == pytest.approx(k * beta * kappa)


def test_gamma_fixed_at_zero_leaves_it_out_and_equal_beta_adds_no_parameter():
    from models.blockade import ModelOptions, build_blockade_model

    evidence = load_evidence().resolve()
    priors = load_priors("neutral", evidence.literature)
    free = {v.name for v in build_blockade_model(evidence, priors).free_RVs}
    assert {"nonspecific_share", "nonspecific_improvement"} <= free
    zero = priors.with_slots("zero", nonspecific_share={"dist": "fixed", "value": 0.0})
    model = build_blockade_model(evidence, zero)
    assert "nonspecific_share" not in model.named_vars
    assert "nonspecific_study" not in model.coords  # no study needs m_s without gamma
    equal = build_blockade_model(evidence, priors, ModelOptions(nonspecific_share="equal_beta"))
    assert "nonspecific_share" not in {v.name for v in equal.free_RVs}


def test_arm_means_are_standardized_by_one_pooled_sd():
    from types import SimpleNamespace

    from models.forms.arm_means import pooled_sd

    def arm(n, sd):
        return SimpleNamespace(n=SimpleNamespace(value=n), sd_change=SimpleNamespace(value=sd))

    # (9 * 4^2 + 19 * 6^2) / 28, square-rooted
    assert pooled_sd([arm(10, 4.0), arm(20, 6.0)]) == pytest.approx(((144 + 684) / 28) ** 0.5)


# The vectorised posterior predictive and PyMC's draw-by-draw loop sample one distribution.
# Each chain holds one parameter set (so a draw paired with the wrong parameters shows), and
# per chain the two means of every observed value must differ by less than PP_Z standard
# errors of their difference: by chance, a z of 5 happens once in 1.7 million comparisons.
PP_CHAINS, PP_DRAWS, PP_Z = 4, 300, 5.0


def test_vectorised_posterior_predictive_matches_pymcs_loop(simulated):
    import pymc as pm
    import xarray as xr

    from analyses.inference.fit import quiet_pymc
    from analyses.inference.predictive import FORWARD_COMPILE, add_posterior_predictive

    evidence, priors = simulated
    model = build_blockade_model(evidence, priors)
    with model, quiet_pymc():
        prior = pm.sample_prior_predictive(
            draws=PP_CHAINS, random_seed=1, compile_kwargs=FORWARD_COMPILE
        )["prior"].to_dataset()
    sets = prior.isel(chain=0, drop=True).rename(draw="chain")
    sets = sets.assign_coords(chain=range(PP_CHAINS))
    posterior = sets.expand_dims(draw=PP_DRAWS).transpose("chain", "draw", ...)
    tree = xr.DataTree.from_dict({"posterior": posterior})
    add_posterior_predictive(tree, model, seed=2)
    with model, quiet_pymc():
        loop = pm.sample_posterior_predictive(
            posterior,
            freeze_vars=[rv.name for rv in model.free_RVs],  # every parameter from the draws
            random_seed=3,
            progressbar=False,
            compile_kwargs=FORWARD_COMPILE,
        )["posterior_predictive"]
    ours = tree["posterior_predictive"]
    assert sorted(ours.data_vars) == sorted(rv.name for rv in model.observed_RVs)
    for name in ours.data_vars:
        a, b = ours[name], loop[name]
        assert a.dims == b.dims and a.shape == b.shape, name
        se = np.sqrt((a.var("draw") + b.var("draw")) / PP_DRAWS)
        gap = abs(a.mean("draw") - b.mean("draw"))
        assert bool(((gap < PP_Z * se) | ((se == 0) & (gap == 0))).all()), name


# The vectorised prior predictive and PyMC's draw-by-draw loop sample one distribution. Some
# priors have no mean (half-Cauchy scales), so each value is compared by the share of draws
# below the two samples' pooled median: a binomial proportion, whose two estimates must
# differ by less than PP_Z standard errors.
PRIOR_DRAWS = 1000


def test_vectorised_prior_predictive_matches_pymcs_loop(simulated):
    import pymc as pm

    from analyses.inference.fit import quiet_pymc
    from analyses.inference.predictive import FORWARD_COMPILE, prior_predictive

    evidence, priors = simulated
    fixed = priors.with_slots("fixed_tau", tau_beta={"dist": "fixed", "value": 0.1})
    model = build_blockade_model(evidence, fixed)
    ours = prior_predictive(model, PRIOR_DRAWS, seed=1)
    with model, quiet_pymc():
        loop = pm.sample_prior_predictive(
            draws=PRIOR_DRAWS, random_seed=2, compile_kwargs=FORWARD_COMPILE
        )
    assert float(ours["prior"]["tau_beta"].max()) == 0.1  # a fixed value, in every draw
    for group in ("prior", "prior_predictive"):
        a_group, b_group = ours[group].to_dataset(), loop[group].to_dataset()
        assert sorted(a_group.data_vars) == sorted(b_group.data_vars), group
        for name in a_group.data_vars:
            a, b = a_group[name].values[0], b_group[name].values[0]
            assert a.shape == b.shape, name
            median = np.median(np.concatenate([a, b]), axis=0)
            below_a, below_b = (a < median).mean(axis=0), (b < median).mean(axis=0)
            pooled = (below_a + below_b) / 2
            se = np.sqrt(pooled * (1 - pooled) * 2 / PRIOR_DRAWS)
            gap = np.abs(below_a - below_b)
            assert ((gap < PP_Z * se) | (gap == 0)).all(), name


def test_an_attenuation_set_aside_by_a_reading_leaves_the_t_statistic_everywhere():
    """Jelen 2025 read through its F alone: the likelihood, the closed form and the conflict
    check's statistic all read the t statistic (the closed form had divided None by t)."""
    from models.blockade import build_blockade_model
    from models.evidence import load_evidence
    from models.forms import contrast_statistic
    from models.priors import load_priors

    for reading, want in (("news_28pct", "reported attenuation"), ("f_only", "t statistic")):
        evidence = load_evidence().resolve({"jelen2025": {"attenuation_source": reading}})
        priors = load_priors("neutral", evidence.literature)
        study = evidence.study("jelen2025")
        (item,) = study.evidence
        label = contrast_statistic.attenuation_statistic("x", item, {"x": [1.0]}).label
        assert label == want
        _, _, method = contrast_statistic.estimate(study, item, priors)
        assert method.startswith("attenuation" if reading == "news_28pct" else "t 2.32")
        model = build_blockade_model(evidence, priors)
        datum = model["jelen2025__madrs_day1"].tag.datum
        assert datum.startswith("attenuation" if reading == "news_28pct" else "t statistic")
