"""One model for many scenarios: with a scenario's data it is that scenario's own model.

The suite compiles one model per timing-moderator form, whose data say which studies and
readings are in, which prior parameters apply and which nuisances are fixed
(``build_variants_model``). Two checks that it
is the model each scenario claims to be: its log density equals the scenario's own model's at
random points (exactly, up to the prior-only terms of parameters the scenario does not have),
and a masked refit agrees with a rebuilt model to Monte Carlo error.
"""

from __future__ import annotations

import pytest

from analyses.inference.config import load_config
from analyses.inference.sampling import SamplerSettings, compile_model, sample_compiled
from analyses.validation.union_density import LOGP_ATOL, union_log_density
from models.blockade import Variant, build_blockade_model, build_variants_model
from models.evidence import load_evidence
from models.priors import load_priors
from models.switchboard import VariantsDiffer

# Posterior means of one model sampled twice (4 x 1000 draws each, ESS >= 1000 for the beta
# means) differ by about sqrt(2) x SD / sqrt(ESS) ~ 0.045 x SD; 4 such standard errors is
# 0.18 SD, and a masked term that failed to cancel moves beta_acute by more than 1 SD.
MEAN_TOL_SDS = 0.18

# One scenario of each kind of change the suite's models hold as data (the moderator in a model
# of its own, the test below holds it as data too). `make validate` checks
# every scenario (tests/test_validation_record.py reads its record).
ONE_OF_EACH_KIND = (
    "priors: sceptical",  # a prior set: prior parameters
    "leave out yoon2019",  # a study's weight 0 (the only single-arm study)
    "reading jelen2025.attenuation_source = f_only",  # a disputed number read otherwise
    "within-subject correlation 0.5",  # a nuisance fixed at a value
    "specific_share fixed at 1",  # a fraction fixed at its bound
    "tau_beta halfcauchy(beta=0.2)",  # another prior family
    "nonspecific_share equal to beta",  # a switch between structures
    "ketamine_effect pooled across comparators",
    "timing moderator: log_hours",
    "cumulative to 2018",  # several studies' weights 0
)


def test_each_kind_of_scenario_has_its_own_models_log_density():
    record = union_log_density(ONE_OF_EACH_KIND)
    assert [c["scenario"] for c in record["cases"]] == list(ONE_OF_EACH_KIND)
    for case in record["cases"]:
        assert case["union"] == pytest.approx(case["own"], abs=LOGP_ATOL), case["scenario"]
    assert record["passed"]


def test_one_model_can_still_hold_both_moderator_forms():
    """The suite compiles each moderator form apart (``model_groups``), but the builder takes
    both as data of one model, whose log density is then each variant's own."""
    from analyses.validation.union_density import _compare, _suite, _union_terms

    scenarios, variants = _suite()
    names = [s.name for s in scenarios]
    chosen = [names.index("priors: sceptical"), names.index("timing moderator: log_hours")]
    union, data = build_variants_model([variants[i] for i in chosen])
    terms, start = _union_terms(union), union.initial_point()
    for k, i in enumerate(chosen):
        want, got = _compare(union, terms, start, variants[i], data[k], names[i])
        assert got == pytest.approx(want, abs=LOGP_ATOL), names[i]


def test_an_unknown_scenario_name_is_refused():
    with pytest.raises(ValueError, match="not scenarios of the suite"):
        union_log_density(["leave out nobody"])


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
