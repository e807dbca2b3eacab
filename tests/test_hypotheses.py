"""Hypothesis regions, exact prior probabilities, MCSE, Bayes factors and their bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

from analyses.inference.bayes_factors import (
    bayes_factor_table,
    bound_words,
    compare,
    evidence_words,
    prior_delta_positive,
    regions,
)
from analyses.inference.hypotheses import (
    HYPOTHESES,
    Thresholds,
    bayes_factor,
    hypothesis_table,
    posterior_probability,
    prior_probabilities,
    region_indicators,
    threshold_grid,
)

NEUTRAL = {"dist": "normal", "mu": 0.5, "sigma": 0.5}
SCEPTICAL = {"dist": "normal", "mu": 0.0, "sigma": 0.3}
# Exact prior probabilities vs 400,000 independent prior draws: MC SD <= sqrt(0.25/4e5)
# = 0.0008; 0.004 is 5 SDs.
PRIOR_MC_ATOL = 0.004
# The MCSE of log10 BF vs the SD over 200 replications: an SD from 200 draws is known to about
# 1/sqrt(2 * 199) = 5%; 20% is four of those, and covers the delta method's approximation.
MCSE_RTOL = 0.2


def draws(a, s, chains=4):
    a = np.asarray(a).reshape(chains, -1)
    s = np.asarray(s).reshape(chains, -1)
    dims = ("chain", "draw")
    return xr.DataArray(a, dims=dims), xr.DataArray(s, dims=dims)


def test_regions_partition_the_plane():
    rng = np.random.default_rng(0)
    a, s = rng.normal(0.4, 0.6, 10_000), rng.normal(0.3, 0.6, 10_000)
    ind = region_indicators(a, s, Thresholds())
    total = sum(ind[h].astype(int) for h in HYPOTHESES)
    assert np.all(total == 1)


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        ((0.9, 0.8), "primary"),
        ((0.9, 0.1), "permissive"),
        ((0.3, 0.6), "permissive"),
        ((0.1, 0.1), "none"),
        ((0.1, 0.9), "other"),
        ((0.5, 0.5), "primary"),
        ((0.2, 0.0), "permissive"),
    ],
)
def test_region_membership_at_known_points(point, expected):
    ind = region_indicators(np.array([point[0]]), np.array([point[1]]), Thresholds())
    assert [h for h in HYPOTHESES if ind[h][0]] == [expected]


@pytest.mark.parametrize(
    ("spec_a", "spec_s"), [(NEUTRAL, NEUTRAL), (SCEPTICAL, SCEPTICAL), (NEUTRAL, SCEPTICAL)]
)
def test_exact_prior_probabilities_match_prior_draws(spec_a, spec_s):
    rng = np.random.default_rng(1)
    n = 400_000
    a = rng.normal(spec_a["mu"], spec_a["sigma"], n)
    s = rng.normal(spec_s["mu"], spec_s["sigma"], n)
    ind = region_indicators(a, s, Thresholds())
    exact = prior_probabilities(spec_a, spec_s, Thresholds())
    assert sum(exact.values()) == pytest.approx(1.0)
    for h in HYPOTHESES:
        assert exact[h] == pytest.approx(ind[h].mean(), abs=PRIOR_MC_ATOL), h


def test_mcse_of_independent_draws_is_binomial():
    rng = np.random.default_rng(2)
    x = xr.DataArray((rng.random((4, 5000)) < 0.3), dims=("chain", "draw"))
    p = posterior_probability(x)
    assert p.mcse == pytest.approx(np.sqrt(0.3 * 0.7 / 20_000), rel=0.1)


def test_mcse_grows_with_autocorrelation():
    """Sticky chains carry less information than their length: the MCSE must show it."""
    rng = np.random.default_rng(3)
    blocks = rng.random((4, 200)) < 0.3
    sticky = xr.DataArray(np.repeat(blocks, 25, axis=1), dims=("chain", "draw"))
    independent = xr.DataArray(rng.random((4, 5000)) < 0.3, dims=("chain", "draw"))
    assert posterior_probability(sticky).mcse > 3 * posterior_probability(independent).mcse


def test_sparse_region_gives_a_bound_not_a_number():
    rng = np.random.default_rng(4)
    a, s = draws(rng.normal(0.9, 0.05, 4000), rng.normal(0.1, 0.05, 4000))
    table = hypothesis_table(a, s, NEUTRAL, NEUTRAL, Thresholds()).set_index("hypothesis")
    # every draw is 'permissive'; 'primary' has none, so permissive-vs-primary is a lower bound
    assert table.loc["permissive", "posterior_prob"] == 1.0
    # hypotheses.csv holds numbers only: a bound is not a Bayes factor, so it is NaN there...
    assert np.isnan(table.loc["permissive", "bf_vs_primary"])
    assert table.select_dtypes("number").shape[1] == table.shape[1]
    assert table.loc["primary", "posterior_prob_upper95"] < 0.002
    # ...and bayes_factors.csv gives the bound, with its direction in a column of its own.
    bfs = bayes_factor_table(a, s, NEUTRAL, NEUTRAL, Thresholds()).set_index("question")
    head = bfs.loc["permissive vs primary"]
    assert head["bound"] == ">" and head["bf"] > 1 and np.isnan(head["log10_bf_mcse"])
    assert bfs.loc["primary vs none", "evidence"] == "not estimable"
    assert bfs.loc["permissive vs none", "bound"] == ">"


def test_bayes_factor_is_posterior_odds_over_prior_odds():
    rng = np.random.default_rng(5)
    a, s = draws(rng.normal(0.6, 0.3, 8000), rng.normal(0.4, 0.4, 8000))
    table = hypothesis_table(a, s, NEUTRAL, SCEPTICAL, Thresholds()).set_index("hypothesis")
    pi, pj = table.loc["permissive"], table.loc["primary"]
    expected = (pi.posterior_prob / pj.posterior_prob) / (pi.prior_prob / pj.prior_prob)
    assert pi["bf_vs_primary"] == pytest.approx(expected)
    assert pj["bf_vs_permissive"] == pytest.approx(1 / expected)
    assert table["posterior_prob"].sum() == pytest.approx(1.0)


def test_no_prior_mass_is_not_estimable():
    p = posterior_probability(xr.DataArray(np.ones((2, 10), bool), dims=("chain", "draw")))
    assert bayes_factor(p, p, 0.0, 0.5) == (None, "not estimable (a region has no prior mass)")


def test_thresholds_are_validated_and_the_grid_moves_them():
    with pytest.raises(ValueError, match="permissive"):
        Thresholds(primary=0.2, permissive=0.5)
    rng = np.random.default_rng(6)
    a, s = draws(rng.normal(0.6, 0.3, 4000), rng.normal(0.3, 0.3, 4000))
    grid = threshold_grid(a, s, Thresholds(), np.array([0.3, 0.5, 0.8]), np.array([0.1, 0.2, 0.4]))
    prim = grid[grid.varied == "primary"].set_index("primary_threshold")
    # a stricter bar for 'primary' can only shrink it
    assert prim.loc[0.3, "primary"] >= prim.loc[0.5, "primary"] >= prim.loc[0.8, "primary"]
    assert np.allclose(grid[list(HYPOTHESES)].sum(axis=1), 1.0)


def test_equal_odds_posterior_undoes_the_prior_region_sizes():
    rng = np.random.default_rng(7)
    a, s = draws(rng.normal(0.6, 0.3, 8000), rng.normal(0.4, 0.4, 8000))
    table = hypothesis_table(a, s, NEUTRAL, SCEPTICAL, Thresholds()).set_index("hypothesis")
    eq = table["posterior_prob_equal_odds"]
    assert eq.sum() == pytest.approx(1.0)
    # Under equal prior odds, the posterior odds of two hypotheses are their Bayes factor.
    assert eq["permissive"] / eq["primary"] == pytest.approx(
        table.loc["permissive", "bf_vs_primary"]
    )


def test_bayes_factor_table_rows_and_arithmetic():
    rng = np.random.default_rng(8)
    a, s = draws(rng.normal(0.7, 0.3, 8000), rng.normal(0.3, 0.4, 8000))
    bfs = bayes_factor_table(a, s, NEUTRAL, SCEPTICAL, Thresholds()).set_index("question")
    assert bfs.index[0] == "permissive vs primary"
    # every pair of the four hypotheses, five region questions, and permissive's two parts
    assert len(bfs) == 6 + 5 + 2
    parts = (
        bfs.loc["permissive (acute only, strong) vs primary", "prior_odds"]
        + bfs.loc["permissive (partial, acute between Q and P) vs primary", "prior_odds"]
    )
    assert parts == pytest.approx(bfs.loc["permissive vs primary", "prior_odds"])
    hyp = hypothesis_table(a, s, NEUTRAL, SCEPTICAL, Thresholds()).set_index("hypothesis")
    assert bfs.loc["permissive vs primary", "bf"] == pytest.approx(
        hyp.loc["permissive", "bf_vs_primary"]
    )
    sus = bfs.loc["sustained: beta_sustained >= P vs < P"]
    post = float((s.values >= 0.5).mean())
    prior = 1 - 0.5 - 0.5 * math.erf((0.5 - 0.0) / (0.3 * math.sqrt(2)))  # 1 - Phi(0.5/0.3)
    assert sus["bf"] == pytest.approx(post / (1 - post) / (prior / (1 - prior)), rel=1e-9)
    assert bfs["log10_bf"].to_numpy() == pytest.approx(np.log10(bfs["bf"].to_numpy()))
    assert (bfs["bound"] == "").all() and (bfs["log10_bf_mcse"] > 0).all()


def test_log10_bf_mcse_matches_the_spread_over_replications():
    """The delta-method MCSE agrees with the SD of log10 BF over independent replications."""
    rng = np.random.default_rng(9)
    found = regions(NEUTRAL, NEUTRAL, Thresholds())
    estimates, mcses = [], []
    for _ in range(200):
        a, s = draws(rng.normal(0.6, 0.3, 2000), rng.normal(0.4, 0.4, 2000))
        row = compare(a, s, found["permissive"], found["primary"], fallback_ess=2000.0)
        estimates.append(row["log10_bf"])
        mcses.append(row["log10_bf_mcse"])
    # 200 replications estimate an SD to about 5%; 20% allows for that and the delta method.
    assert np.mean(mcses) == pytest.approx(np.std(estimates, ddof=1), rel=MCSE_RTOL)


def test_prior_p_delta_positive_is_exact():
    # Two normals: P(a - s > 0) = Phi((mu_a - mu_s) / sqrt(sd_a^2 + sd_s^2)).
    z = (0.5 - 0.0) / math.hypot(0.5, 0.3)
    expected = 0.5 * (1 + math.erf(z / math.sqrt(2)))
    assert prior_delta_positive(NEUTRAL, SCEPTICAL) == pytest.approx(expected, abs=1e-9)
    assert prior_delta_positive(NEUTRAL, NEUTRAL) == pytest.approx(0.5, abs=1e-9)
    fixed = {"dist": "fixed", "value": 0.5}
    assert prior_delta_positive(fixed, NEUTRAL) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("log10_bf", "words"),
    [
        (0.2, "not worth more than a bare mention"),
        (-0.3, "not worth more than a bare mention"),
        (0.7, "substantial, for"),
        (-1.5, "strong, against"),
        (2.5, "decisive, for"),
        (float("nan"), "not estimable"),
    ],
)
def test_kass_raftery_words(log10_bf, words):
    assert evidence_words(log10_bf) == words


@pytest.mark.parametrize(
    ("bound", "log10_bf", "words"),
    [
        (">", 1.76, "at least strong, for"),
        ("<", -0.7, "at least substantial, against"),
        (">", -0.3, "a bound only; the band is not known"),
        ("<", 1.2, "a bound only; the band is not known"),
    ],
)
def test_a_bound_says_only_what_it_implies(bound, log10_bf, words):
    assert bound_words(bound, log10_bf) == words


def test_assay_sensitivity_flags_a_study_where_ketamine_did_little():
    from analyses.inference.fit import ASSAY_MIN_EFFECT, assay_sensitivity

    rng = np.random.default_rng(10)
    delta = np.stack([rng.normal(1.0, 0.1, (4, 500)), rng.normal(0.0, 0.1, (4, 500))], axis=-1)
    post = xr.Dataset(
        {"ketamine_effect_study": (("chain", "draw", "study"), delta)},
        coords={"study": ["strong", "null"]},
    )
    tree = xr.DataTree.from_dict({"/posterior": post})
    table = assay_sensitivity(tree, {"strong", "null"}).set_index("study")
    assert not assay_sensitivity(tree, {"strong"}).set_index("study").loc["null", "flagged"]
    assert table.loc["strong", f"p_delta_above_{ASSAY_MIN_EFFECT:g}"] > 0.99
    assert not table.loc["strong", "flagged"] and table.loc["null", "flagged"]


def test_agreement_needs_the_same_side_of_one_and_the_same_band():
    from analyses.inference.bayes_factors import (
        near_band_edge,
        reverses_within_bare_band,
        same_band_and_direction,
    )

    assert same_band_and_direction(0.21, 0.25)
    # Both a bare mention, on opposite sides: the words say the same (no direction) ...
    assert same_band_and_direction(-0.11, 0.21)
    # ... and the reversal is reported on its own; beyond that band the side matters.
    assert reverses_within_bare_band(-0.11, 0.21) and not reverses_within_bare_band(0.1, 0.21)
    assert not same_band_and_direction(-0.7, 0.7) and not reverses_within_bare_band(-0.7, 0.7)
    assert not same_band_and_direction(0.7, 0.21)  # same side, another band
    assert not same_band_and_direction(float("nan"), 0.21)
    assert not reverses_within_bare_band(float("nan"), 0.21)
    assert near_band_edge(0.502, 0.026) and not near_band_edge(0.21, 0.02)


def test_the_priors_truncated_to_a_box_give_exact_region_masses():
    """Against draws of the truncated priors, and the untruncated masses for a wide box."""
    from analyses.inference.hypotheses import (
        prior_probabilities,
        prior_probabilities_within,
        region_indicators,
    )

    a_spec = {"dist": "normal", "mu": 0.5, "sigma": 0.5}
    s_spec = {"dist": "normal", "mu": 0.3, "sigma": 0.8}
    t = Thresholds(0.5, 0.2)
    exact = prior_probabilities_within(a_spec, s_spec, t)
    rng = np.random.default_rng(0)
    a, s = rng.normal(0.5, 0.5, 2_000_000), rng.normal(0.3, 0.8, 2_000_000)
    inside = (a >= 0) & (a <= 1) & (s >= 0) & (s <= 1)
    found = region_indicators(a[inside], s[inside], t)
    for h in HYPOTHESES:
        assert exact[h] == pytest.approx(found[h].mean(), abs=2e-3), h
    wide = prior_probabilities_within(a_spec, s_spec, t, box=(-50.0, 50.0))
    assert wide == pytest.approx(prior_probabilities(a_spec, s_spec, t))
    assert prior_probabilities_within({"dist": "fixed", "value": 0.5}, s_spec, t) is None


def test_a_boxed_reading_keeps_the_draws_inside_and_their_odds():
    from analyses.inference.hypotheses import boxed_reading, prior_probabilities_within

    spec = {"dist": "normal", "mu": 0.5, "sigma": 0.5}
    t = Thresholds(0.5, 0.2)
    a = np.array([0.9, 0.9, 0.6, 0.3, 1.5, -0.2] * 30)
    s = np.array([0.8, 0.1, 0.2, 0.9, 0.9, 0.5] * 30)
    boxed = boxed_reading(a, s, spec, spec, t)
    assert boxed.draws == 4 * 30  # the draws at 1.5 and -0.2 are outside
    assert boxed.posterior["primary"] == pytest.approx(0.25)
    assert boxed.posterior["permissive"] == pytest.approx(0.75)
    prior = prior_probabilities_within(spec, spec, t)
    odds = 0.75 / 0.25 / (prior["permissive"] / prior["primary"])
    assert boxed.bf_permissive_vs_primary == pytest.approx(odds)
    # Too few draws in a region for a Bayes factor: NaN, not a number built on noise.
    few = boxed_reading(a[:6], s[:6], spec, spec, t)
    assert np.isnan(few.bf_permissive_vs_primary)


def test_the_headline_states_the_answer_with_both_fractions_confined_to_zero_one():
    from analyses.report.sections import _boxed_lines

    spec = {"dist": "normal", "mu": 0.5, "sigma": 0.5}
    rng = np.random.default_rng(2)
    a, s = rng.normal(0.8, 0.4, 4000), rng.normal(0.3, 0.5, 4000)
    (line,) = _boxed_lines(a, s, {"beta_acute": spec, "beta_sustained": spec}, Thresholds())
    inside = int(((a >= 0) & (a <= 1) & (s >= 0) & (s <= 1)).sum())
    assert f"the {inside} of 4000 draws inside are kept" in line
    assert f"{1 - inside / 4000:.0%} fall outside" in line
    assert (
        "BF permissive vs primary" in line and "(under the truncated prior 0.25 and 0.58)" in line
    )


def test_each_scenarios_acute_bayes_factor_is_the_tables_own():
    """The strong-vs-none acute BF a scenario row records equals bayes_factors.csv's, and
    uniform importance weights change nothing."""
    from analyses.inference.bayes_factors import (
        ACUTE_STRONG_VS_NONE,
        acute_strong_vs_none,
        bayes_factor_table,
    )

    spec = {"dist": "normal", "mu": 0.5, "sigma": 0.5}
    rng = np.random.default_rng(3)
    a = xr.DataArray(rng.normal(0.7, 0.4, (4, 1000)), dims=("chain", "draw"))
    s = xr.DataArray(rng.normal(0.3, 0.5, (4, 1000)), dims=("chain", "draw"))
    t = Thresholds()
    table = bayes_factor_table(a, s, spec, spec, t).set_index("question")
    found = acute_strong_vs_none(a.values, s.values, spec, spec, t)
    assert found == pytest.approx(table.loc[ACUTE_STRONG_VS_NONE[0], "bf"])
    uniform = np.full(a.size, 1.0 / a.size)
    assert acute_strong_vs_none(a.values, s.values, spec, spec, t, uniform) == pytest.approx(found)
    # Weight only the draws with beta_acute >= 0.5 and one below Q: a different answer.
    tilted = np.where(a.values.ravel() >= 0.5, 2.0, 1.0)
    tilted /= tilted.sum()
    assert acute_strong_vs_none(a.values, s.values, spec, spec, t, tilted) > found
    few = acute_strong_vs_none(np.full(100, 0.9), np.full(100, 0.9), spec, spec, t)
    assert np.isnan(few)  # no draw below Q


def test_the_bayes_factor_table_flags_every_band_within_two_mcse_of_an_edge():
    import pandas as pd

    from analyses.report.sections import _evidence_cell

    row = pd.Series({"bound": "", "log10_bf": 1.017, "log10_bf_mcse": 0.076, "evidence": "strong"})
    assert _evidence_cell(row) == "strong (near a band edge)"
    assert _evidence_cell(row.copy().replace({0.076: 0.005})) == "strong"
    bound = row.copy()
    bound["bound"] = ">"
    assert _evidence_cell(bound) == "strong"  # a bound has no MCSE to judge by


def test_a_scenarios_headline_mcse_matches_the_bayes_factor_tables():
    """The delta-method MCSE from two region probabilities (what sensitivity.csv has) against
    bayes_factors.csv's, from the indicators themselves: close, on draws with autocorrelation."""
    from analyses.inference.bayes_factors import bayes_factor_table, log10_ratio_mcse
    from analyses.inference.hypotheses import hypothesis_table

    spec = {"dist": "normal", "mu": 0.5, "sigma": 0.5}
    rng = np.random.default_rng(7)
    # AR(1) chains, so the ESS is well below the draws' number.
    z = rng.standard_normal((2, 4, 1000))
    for i in range(1, 1000):
        z[:, :, i] = 0.7 * z[:, :, i - 1] + np.sqrt(1 - 0.49) * z[:, :, i]
    a = xr.DataArray(0.8 + 0.4 * z[0], dims=("chain", "draw"))
    s = xr.DataArray(0.3 + 0.5 * z[1], dims=("chain", "draw"))
    t = Thresholds()
    hyp = hypothesis_table(a, s, spec, spec, t).set_index("hypothesis")
    found = log10_ratio_mcse(
        *(
            hyp.loc[h, c]
            for h in ("permissive", "primary")
            for c in ("posterior_prob", "posterior_prob_mcse")
        )
    )
    exact = bayes_factor_table(a, s, spec, spec, t).set_index("question")
    reference = exact.loc["permissive vs primary", "log10_bf_mcse"]
    assert 0.7 * reference < found < 1.4 * reference


def test_a_lean_within_two_mcse_of_one_does_not_reverse():
    from analyses.inference.bayes_factors import reverses_within_bare_band

    assert reverses_within_bare_band(-0.15, 0.22, mcse=0.02)
    assert not reverses_within_bare_band(-0.03, 0.22, mcse=0.02)  # its side is noise
    assert not reverses_within_bare_band(-0.15, 0.22, mcse=float("nan"))
