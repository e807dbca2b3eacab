"""Prior sets: named files, user files, literature rules, and clear errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from analyses.inference.hypotheses import Thresholds, prior_probabilities
from models.blockade import ModelOptions
from models.contrasts import beta_estimates
from models.distributions import FAMILIES, scipy_dist, spec_error
from models.evidence import InputError, load_evidence
from models.literature import SPECIFIC_SHARE_CONCENTRATION
from models.priors import NAMED_SETS, SLOTS, load_priors


@pytest.fixture(scope="module")
def evidence():
    return load_evidence().resolve()


@pytest.mark.parametrize("name", NAMED_SETS)
def test_named_sets_fill_every_slot(evidence, name):
    spec = load_priors(name, evidence.literature)
    assert set(spec.slots) == set(SLOTS)
    assert json.loads(spec.to_json())["name"] == name


def test_sets_differ_where_they_say(evidence):
    neutral = load_priors("neutral", evidence.literature)
    sceptical = load_priors("sceptical", evidence.literature)
    favouring = load_priors("opioid_favouring", evidence.literature)
    assert sceptical["beta_acute"]["mu"] == 0.0
    assert favouring["beta_acute"]["mu"] == pytest.approx(0.9)
    for slot in set(SLOTS) - {"beta_acute", "beta_sustained"}:
        assert sceptical[slot] == neutral[slot] == favouring[slot], slot


def test_literature_rules_show_their_arithmetic(evidence):
    spec = load_priors("neutral", evidence.literature)
    assert spec["ketamine_effect"] == {
        "dist": "normal",
        "mu": 0.87,
        "sigma": pytest.approx((1.26 - 0.48) / 3.92, abs=1e-4),
    }
    assert spec["early_stop_log_exaggeration"]["mu"] == pytest.approx(-math.log(0.71), abs=1e-4)
    assert spec["specific_share"]["alpha"] / (
        spec["specific_share"]["alpha"] + spec["specific_share"]["beta"]
    ) == pytest.approx(0.467)
    assert "3.92" in spec.derivations["ketamine_effect"]


def test_user_file_extends_a_named_set(tmp_path, evidence):
    path = tmp_path / "mine.toml"
    path.write_text('extends = "neutral"\n[priors]\ntau_beta = {dist = "halfcauchy", beta = 0.1}\n')
    spec = load_priors(path, evidence.literature)
    assert spec.name == "mine"
    assert spec["tau_beta"] == {"dist": "halfcauchy", "beta": 0.1}
    assert spec["beta_acute"] == load_priors("neutral", evidence.literature)["beta_acute"]


OVERRIDE = 'extends = "neutral"\n[priors]\n'


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (
            'extends = "neutral"\n[priors]\nbeta_acut = {dist = "normal", mu = 0, sigma = 1}\n',
            ("beta_acut", "unknown slot"),
        ),
        (
            'extends = "neutral"\n[priors]\ntau_beta = {dist = "halfnormal", mu = 1}\n',
            ("tau_beta", "parameters of halfnormal: sigma (not mu)"),
        ),
        (
            'extends = "neutral"\n[priors]\ntau_beta = {dist = "literature"}\n',
            ("tau_beta", "literature rule"),
        ),
        (
            '[priors]\nbeta_acute = {dist = "normal", mu = 0, sigma = 1}\n',
            ("priors", "every slot filled"),
        ),
        ('extends = "nowhere"\n', ("'extends'", "nowhere", "a relative path is read beside")),
        ("extends = 5\n", ("'extends'", "found 5", "as a string")),
        ('extends = "bad.toml"\n', ("'extends'", "a cycle (bad.toml -> bad.toml)")),
        # A slot's prior must keep its values in the slot's range (issue 12: these crashed).
        (
            OVERRIDE + 'within_subject_correlation = {dist = "fixed", value = 7}\n',
            ("within_subject_correlation", "a prior on [0, 0.9]"),
        ),
        (
            OVERRIDE + 'within_subject_correlation = {dist = "fixed", value = true}\n',
            ("within_subject_correlation", "value = <number>"),
        ),
        (
            OVERRIDE + 'within_subject_correlation = {dist = "normal", mu = 0.5, sigma = 0.1}\n',
            ("within_subject_correlation", "a prior on [0, 0.9]"),
        ),
        (
            'extends = "neutral"\n[priors]\nspecific_share = {dist = "fixed", value = 0}\n',
            ("specific_share", "a share, above 0"),
        ),
        (
            'extends = "neutral"\n[priors]\ntau_beta = {dist = "normal", mu = 0, sigma = 1}\n',
            ("tau_beta", "a between-study SD"),
        ),
        ("\ufeffextends = 'neutral'\n", ("byte-order mark",)),
        ("a = " + "[" * 100_000 + "]" * 100_000 + "\n", ("nested too deeply",)),
        ('extend = "neutral"\n', ("extend", "unknown key")),
    ],
)
def test_bad_prior_files(tmp_path, evidence, text, fragments):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_priors(path, evidence.literature)
    lines = [str(p) for p in info.value.problems]
    assert any(all(f in line for f in fragments) for line in lines), lines


def test_per_study_estimates_match_hand_arithmetic(evidence):
    """The cross-check table, recomputed by hand in the module docstring's formulas."""
    neutral = load_priors("neutral", evidence.literature)
    no_bias = ModelOptions(early_stopping_bias=False)
    table = beta_estimates(evidence, neutral, no_bias).set_index("study")
    # Jelen: 0.28 / 0.467; SE^2 = (0.28/sqrt(5.39)/0.467)^2 + (0.28 * sd_kappa / 0.467^2)^2
    # Beta SD: sqrt(m (1 - m) / (concentration + 1))
    sd_kappa = math.sqrt(0.467 * 0.533 / (SPECIFIC_SHARE_CONCENTRATION + 1))
    se_a = 0.28 / math.sqrt(5.39)
    assert table.loc["jelen2025", "estimate"] == pytest.approx(0.28 / 0.467, rel=1e-3)
    assert table.loc["jelen2025", "se"] == pytest.approx(
        math.hypot(se_a / 0.467, 0.28 * sd_kappa / 0.467**2), rel=1e-3
    )
    # Williams: probit(7.5/13) - probit(0.5/13), over 0.87
    from scipy.stats import norm

    contrast = norm.ppf(7.5 / 13) - norm.ppf(0.5 / 13)
    assert table.loc["williams2018", "estimate"] == pytest.approx(contrast / 0.87, rel=1e-3)
    assert set(table.index) == {"williams2018", "jelen2025", "yoon2019", "yoon2025"}
    with_bias = beta_estimates(evidence, neutral).set_index("study")
    assert with_bias.loc["williams2018", "estimate"] == pytest.approx(
        contrast / 0.87 * 0.71, rel=1e-3
    )
    assert with_bias.loc["jelen2025", "estimate"] == table.loc["jelen2025", "estimate"]


def test_a_midazolam_controlled_study_is_divided_by_the_effect_against_midazolam(evidence):
    """A study whose control arm got midazolam (Yoon 2025 in the shipped evidence): the model
    centres its delta on the effect against midazolam, and so does its closed-form estimate
    (unless the option pools every study)."""
    from scipy.stats import norm

    neutral = load_priors("neutral", evidence.literature)
    against = neutral["ketamine_effect_midazolam"]["mu"]
    saline = neutral["ketamine_effect"]["mu"]
    assert against != saline  # else the test could not tell them apart
    (study,) = [s for s in evidence.included if s.design.comparator == "midazolam"]
    unpooled = beta_estimates(evidence, neutral).set_index("study")
    pooled = beta_estimates(evidence, neutral, ModelOptions(ketamine_effect="pooled"))
    pooled = pooled.set_index("study")
    # Its arm counts, each bound read at its lower end, as the row's method says.
    arms = {a.condition: a for a in study.evidence[0].arms}
    probit = {
        c: norm.ppf((arms[c].events.lower + 0.5) / (arms[c].n.value + 1))
        for c in ("ketamine_placebo", "ketamine_naltrexone")
    }
    contrast = probit["ketamine_placebo"] - probit["ketamine_naltrexone"]
    assert unpooled.loc[study.id, "estimate"] == pytest.approx(contrast / against, rel=1e-9)
    assert "vs midazolam" in unpooled.loc[study.id, "method"]
    assert pooled.loc[study.id, "estimate"] == pytest.approx(contrast / saline, rel=1e-9)
    assert "vs midazolam" not in pooled.loc[study.id, "method"]
    others = pooled.index != study.id  # saline-controlled studies: the same either way
    assert (pooled.loc[others, "estimate"] == unpooled.loc[others, "estimate"]).all()


def test_the_cross_check_leaves_out_what_the_model_leaves_out(evidence):
    neutral = load_priors("neutral", evidence.literature)
    without = beta_estimates(evidence, neutral, ModelOptions(include_single_arm=False))
    single = {s.id for s in evidence.included if s.design.type == "single_arm"}
    assert single and not single & set(without["study"])
    assert set(beta_estimates(evidence, neutral)["study"]) == set(without["study"]) | single


# PyMC's Beta log-normaliser differs from scipy's betaln by 2.4e-8 (measured); every other
# family agrees to 1e-12. A wrong parametrization is off by far more than this.
LOGPDF_ATOL = 1e-6
# One valid parameter set per family, away from every default, for the PyMC/scipy check.
FAMILY_EXAMPLES = {
    "normal": {"mu": 0.3, "sigma": 0.7},
    "studentt": {"nu": 4.0, "mu": 0.2, "sigma": 0.5},
    "cauchy": {"alpha": 0.1, "beta": 0.4},
    "halfnormal": {"sigma": 0.6},
    "halfcauchy": {"beta": 0.3},
    "halfstudentt": {"nu": 3.0, "sigma": 0.5},
    "exponential": {"lam": 2.0},
    "uniform": {"lower": -0.5, "upper": 1.5},
    "beta": {"alpha": 2.0, "beta": 3.0},
    "lognormal": {"mu": -0.2, "sigma": 0.4},
    "truncatednormal": {"mu": 0.5, "sigma": 0.5, "lower": 0.0, "upper": 1.2},
    "gamma": {"alpha": 2.0, "beta": 3.0},
}


def test_every_family_has_an_example():
    assert set(FAMILY_EXAMPLES) == set(FAMILIES)


@pytest.mark.parametrize("name", sorted(FAMILY_EXAMPLES))
def test_scipy_and_pymc_agree_on_every_family(name):
    """The one table serves PyMC and the exact prior masses: their densities must match."""
    import pymc as pm

    spec = {"dist": name, **FAMILY_EXAMPLES[name]}
    assert spec_error(spec) is None, spec_error(spec)
    frozen = scipy_dist(spec)
    x = frozen.ppf(np.array([0.05, 0.3, 0.5, 0.8, 0.95]))
    rv = FAMILIES[name].pymc.dist(**FAMILY_EXAMPLES[name])
    np.testing.assert_allclose(pm.logp(rv, x).eval(), frozen.logpdf(x), atol=LOGPDF_ATOL)
    # cdf and ppf invert each other: exact prior masses read the cdf
    np.testing.assert_allclose(frozen.cdf(x), [0.05, 0.3, 0.5, 0.8, 0.95], rtol=1e-8)


@pytest.mark.parametrize("dist", ["truncatednormal", "halfstudentt", "lognormal"])
def test_any_valid_beta_prior_has_exact_region_masses(dist):
    """A prior that passes validation must not fail after the fit (it once did)."""
    spec = {"dist": dist, **FAMILY_EXAMPLES[dist]}
    probs = prior_probabilities(spec, spec, Thresholds())
    assert sum(probs.values()) == pytest.approx(1.0)
    assert all(0.0 <= p <= 1.0 for p in probs.values())


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"dist": "normal", "mu": 0.5, "sigma": float("nan")}, "finite sigma"),
        ({"dist": "normal", "mu": float("inf"), "sigma": 0.5}, "finite mu"),
        ({"dist": "halfnormal", "sigma": 1e-300}, "at least 1e-06"),
        ({"dist": "normal", "mu": 0.0, "sigma": 1e9}, "at most 1e+06"),
        ({"dist": "fixed", "value": float("nan")}, "finite value"),
    ],
)
def test_degenerate_prior_parameters_are_refused(spec, fragment):
    problem = spec_error(spec)
    assert problem is not None and fragment in problem, problem


@pytest.mark.parametrize(
    ("name", "change", "fragments"),
    [
        ("bassler2010_ratio_of_relative_risks", {"value": 0.0}, ("a ratio > 0",)),
        ("bassler2010_ratio_of_relative_risks", {"value": -0.7}, ("a ratio > 0",)),
        ("bassler2010_ratio_of_relative_risks", {"ci95": [0.0, 0.77]}, ("interval above 0",)),
        ("cochrane_smd_vs_placebo_24h", {"ci95": None}, ("ci95", "no 95% interval")),
        ("murrough2013_specific_share", {"value": 0.0}, ("strictly between 0 and 1",)),
        ("han2016_response_ketamine_24h", {"value": 1.0}, ("strictly between 0 and 1",)),
        ("bassler2010_ratio_of_relative_risks", None, ("no such input",)),
    ],
)
def test_a_literature_input_a_rule_cannot_use_is_refused(evidence, name, change, fragments):
    """A literature prior whose input is missing or out of range is refused, naming the input."""
    lit = evidence.literature
    inputs = dict(lit.inputs)
    if change is None:
        del inputs[name]
    else:
        inputs[name] = inputs[name].model_copy(update=change)
    broken = lit.model_copy(update={"inputs": inputs})
    with pytest.raises(InputError) as info:
        load_priors("neutral", broken)
    lines = [str(p) for p in info.value.problems]
    assert any(name in line and all(f in line for f in fragments) for line in lines), lines


def test_every_reading_of_every_dispute_has_finite_closed_form_estimates():
    """A run may read any dispute any way (primary.toml's ``readings``): the cross-check's
    closed forms must take each (Jelen 2025 read through its F alone had crashed them)."""
    base = load_evidence()
    for study, dispute, readings, _ in base.disputes():
        for reading in readings:
            evidence = base.resolve({study: {dispute: reading}})
            table = beta_estimates(evidence, load_priors("neutral", evidence.literature))
            assert np.isfinite(table[["estimate", "se"]].to_numpy()).all(), (study, reading)
