"""The conflict check on replicated data: its p-value, its readings, its statistics, its draws."""

from __future__ import annotations

import numpy as np
import pytest

from analyses.inference.predictive import NotInPosterior, prior_predictive, replicate
from analyses.suite.conflict_replicates import (
    check_seed,
    left_out_check,
    mid_p,
    observed_readings,
)
from models.blockade import ModelOptions, build_blockade_model
from models.evidence import load_evidence
from models.forms import form_of
from models.priors import load_priors

# Prior draws standing in for a posterior. The medians compared below differ by chance by
# about 1.25 sqrt(2) / (2 f sqrt(N)) statistic units (f the density at the median); the
# tolerances are a few of those, from the spread of the statistics printed in the tests.
DRAWS = 4000


def test_mid_p_counts_ties_half_and_is_two_sided():
    rep = np.array([0, 1, 2, 3] * 10)
    assert mid_p(rep, [0.0])[0] == pytest.approx(0.25)  # below 0, ties 1/4: 2 x 1/8
    assert mid_p(rep, [3.0])[0] == pytest.approx(0.25)  # the same from above
    assert mid_p(rep, [1.5])[0] == 1.0  # the middle: capped at 1
    assert mid_p(rep, [-1.0])[0] == 0.0 and mid_p(rep, [9.0])[0] == 0.0
    assert mid_p(rep, [1.0])[0] == pytest.approx(2 * (0.25 + 0.125))
    continuous = np.random.default_rng(0).normal(size=100_000)
    assert mid_p(continuous, [1.959964])[0] == pytest.approx(0.05, abs=0.003)


def test_the_seed_depends_on_the_study_and_not_on_the_process():
    assert check_seed(7, "a") == check_seed(7, "a") != check_seed(7, "b") != check_seed(8, "b")
    assert check_seed(7, "williams2018") == 1820178346  # crc32, not Python's salted hash()


@pytest.fixture(scope="module")
def shipped():
    evidence = load_evidence().resolve()
    priors = load_priors("neutral", evidence.literature)
    model = build_blockade_model(evidence, priors)
    prior = prior_predictive(model, DRAWS, seed=1)
    return evidence, model, prior


def test_a_count_known_as_a_range_is_read_at_every_value_it_allows(shipped):
    evidence, model, _ = shipped
    from models.blockade import bounded_observations

    rvs = [rv for rv in model.observed_RVs if rv.name.startswith("yoon2025__")]
    readings = observed_readings(model, rvs, bounded_observations(evidence))
    assert {len(v) for v in readings.values()} == {4 * 4 * 4}  # 17-20, 16-19, 16-19
    naltrexone = readings["yoon2025__remission_madrs__ketamine_naltrexone"]
    assert sorted(set(naltrexone)) == [17, 18, 19, 20]
    single = observed_readings(model, [model["jelen2025__madrs_day1"]], {})
    assert single["jelen2025__madrs_day1"].tolist() == [0.28]


def test_with_prior_draws_the_replicates_are_the_prior_predictive(shipped):
    """Two code paths for one distribution: replicates at prior draws, and prior predictive
    draws; and the observed statistic's range from the study file's bounds."""
    evidence, model, prior = shipped
    post = prior["prior"].to_dataset()
    found = left_out_check(model, evidence, ModelOptions(), post, "yoon2025", seed=5)
    assert (
        found["left_out_check_statistic"] == "remission rate lost under naltrexone"
    )  # a remission outcome
    assert found["left_out_check_observed_low"] == pytest.approx(16 / 19 - 20 / 20)
    assert found["left_out_check_observed_high"] == pytest.approx(19 / 19 - 17 / 20)
    assert 0 <= found["left_out_check_p"] <= found["left_out_check_p_high"] <= 1
    pp = prior["prior_predictive"]
    direct = (
        pp["yoon2025__remission_madrs__ketamine_placebo"].values / 19
        - pp["yoon2025__remission_madrs__ketamine_naltrexone"].values / 20
    )
    # Both medians of a difference of two rates out of about 20: a step is 0.05.
    assert found["left_out_check_replicated_median"] == pytest.approx(np.median(direct), abs=0.06)
    lo, hi = np.quantile(direct, [0.025, 0.975])
    assert found["left_out_check_replicated_eti95_lb"] == pytest.approx(lo, abs=0.06)
    assert found["left_out_check_replicated_eti95_ub"] == pytest.approx(hi, abs=0.06)


def test_a_posterior_over_more_studies_is_read_at_the_models_own(shipped):
    evidence, model, prior = shipped
    post = prior["prior"].to_dataset()
    rvs = [model["jelen2025__madrs_day1"]]
    aligned = replicate(model, post, rvs, seed=3)
    # The same draws with a study the model lacks, and the studies in another order.
    studies = list(post["study"].values)
    wider = post.reindex(study=[*reversed(studies), "elsewhere2030"])
    again = replicate(model, wider, rvs, seed=3)
    assert np.array_equal(again["jelen2025__madrs_day1"], aligned["jelen2025__madrs_day1"])
    with pytest.raises(NotInPosterior, match="beta_acute"):
        replicate(model, post.drop_vars("beta_acute"), rvs, seed=3)
    lost = post.drop_vars("beta_acute")
    note = left_out_check(model, evidence, ModelOptions(), lost, "jelen2025", seed=3)
    assert note == {"left_out_check_note": "the posterior has no variable 'beta_acute'"}
    lacking = post.isel(study=[0, 1])
    with pytest.raises(NotInPosterior, match="lacks"):
        replicate(model, lacking, rvs, seed=3)


# With naltrexone removing all of ketamine's effect, every form's statistic must come out
# larger on average than with it removing none. The gap is several replicate SDs for these
# simulated sizes (SIM_N per arm); the test asks only for its sign, on 2000 replicates.
ORIENTATION_DRAWS = 2000


def test_every_forms_statistic_grows_as_naltrexone_removes_more(simulated):
    evidence, priors = simulated
    model = build_blockade_model(evidence, priors)
    prior = prior_predictive(model, ORIENTATION_DRAWS, seed=2)["prior"].to_dataset()
    means = {}
    for beta in (0.0, 1.0):
        post = prior.assign(
            beta_acute=prior["beta_acute"] * 0 + beta, tau_beta=prior["tau_beta"] * 0 + 1e-9
        )
        for study in evidence.studies:
            (item,) = study.evidence
            rvs = [rv for rv in model.observed_RVs if rv.name.startswith(f"{study.id}__")]
            values = replicate(model, post, rvs, seed=4)
            stat = form_of(item.kind).attenuation_statistic(f"{study.id}__{item.id}", item, values)
            observed = observed_readings(model, rvs, {})
            on_data = form_of(item.kind).attenuation_statistic(
                f"{study.id}__{item.id}", item, observed
            )
            if stat is None:
                assert on_data is None and item.kind == "ipd" and not item.paired
                continue
            assert np.isfinite(on_data.values).all() and on_data.values.shape == (1,)
            means.setdefault(item.kind, []).append(float(np.mean(stat.values)))
    assert means, "no form had a statistic"
    for kind, (none_removed, all_removed) in means.items():
        assert all_removed > none_removed, kind


def test_paired_individual_rows_give_the_mean_change_lost():
    """The simulator makes no paired IPD study, so the paired branch is checked by hand."""
    from types import SimpleNamespace

    from models.forms import ipd

    rows = np.array([[[10.0, 4.0], [6.0, 6.0], [8.0, 2.0]]])  # one draw, 3 participants
    found = ipd.attenuation_statistic("s__i", SimpleNamespace(paired=True), {"s__i": rows})
    assert found.values.tolist() == [4.0]  # (6 + 0 + 6) / 3
    assert ipd.attenuation_statistic("s__i", SimpleNamespace(paired=False), {}) is None


def test_a_studys_other_readings_are_checked_against_the_same_replicates(shipped):
    """Williams 2018's 0/12 and 1/12 under naltrexone: one row, its p at each reading."""
    from analyses.suite.scenarios import Scenario
    from analyses.suite.worker import _replicated_check

    evidence, _, prior = shipped
    post = prior["prior"].to_dataset()
    priors = load_priors("neutral", evidence.literature)
    others = tuple(s.id for s in evidence.studies if s.id != "williams2018")
    scenario = Scenario(
        "leave out williams2018", "", priors.to_dict(), ModelOptions().to_dict(), {}, others
    )
    base = load_evidence()
    row = _replicated_check(base, scenario, post, "williams2018", seed=9)
    seed = check_seed(9, "williams2018")
    one = base.resolve({"williams2018": {"naltrexone_responders": "one"}})
    direct = left_out_check(
        build_blockade_model(one, priors), one, ModelOptions(), post, "williams2018", seed
    )
    assert direct["left_out_check_observed_low"] == row["left_out_check_observed_low"] - 1
    p_one = f"p {direct['left_out_check_p']:.2f}"
    assert row["left_out_check_other_readings"] == f"naltrexone_responders = one: {p_one}"
    assert direct["left_out_check_p"] != row["left_out_check_p"]
    # A scenario that reads the study the other way lists the default as its other reading.
    flipped = Scenario(
        **{**scenario.__dict__, "readings": {"williams2018": {"naltrexone_responders": "one"}}}
    )
    again = _replicated_check(base, flipped, post, "williams2018", seed=9)
    assert again["left_out_check_p"] == direct["left_out_check_p"]
    assert again["left_out_check_other_readings"].startswith("naltrexone_responders = zero: p ")
    # A study without disputes has none.
    kept = tuple(s.id for s in evidence.studies if s.id != "yoon2025")
    plain = Scenario("leave out yoon2025", "", priors.to_dict(), ModelOptions().to_dict(), {}, kept)
    assert (
        _replicated_check(base, plain, post, "yoon2025", seed=9)["left_out_check_other_readings"]
        == ""
    )


# Trials of the study p under its null (observed data drawn as the replicates are), and the
# KS threshold they must pass: with 600 trials a KS test of a uniform p rejects at 0.001 with
# probability 0.001, while a p that ignores the second item (the naive minimum) fails it
# (KS p below 1e-25 over four seeds tried). With a count among the items the p is discrete
# and mid-p is uniform only on average: its mean must be 0.5 within 4 standard errors
# (sqrt(1/12 / 600) = 0.012 each).
NULL_TRIALS = 600
NULL_REPLICATES = 2000
FEW_DRAWS = 40
KS_THRESHOLD = 0.001
MEAN_TOLERANCE = 4 * (1 / 12 / NULL_TRIALS) ** 0.5


def _joint(rng, size: int, count: bool) -> tuple[np.ndarray, np.ndarray]:
    """Two dependent items sharing a mean: two continuous statistics, or one and a count."""
    shared = rng.normal(size=size)
    second = (
        rng.binomial(12, 1 / (1 + np.exp(-shared))) if count else shared + rng.normal(size=size)
    )
    return shared + rng.normal(size=size), second


def _null_trials(count: bool) -> tuple[np.ndarray, np.ndarray]:
    from analyses.suite.conflict_replicates import study_p

    rng = np.random.default_rng(11)
    replicated = [a.reshape(4, -1) for a in _joint(rng, NULL_REPLICATES, count)]
    calibrated, naive = [], []
    for _ in range(NULL_TRIALS):
        observed = _joint(rng, 1, count)
        item_p = [mid_p(r, o) for r, o in zip(replicated, observed, strict=True)]
        low, high = study_p(replicated, observed)
        assert low == high  # one reading per item
        calibrated.append(low)
        naive.append(min(float(p[0]) for p in item_p))
    return np.array(calibrated), np.array(naive)


def test_a_studys_p_over_several_items_is_uniform_when_its_data_agree():
    from scipy import stats

    calibrated, naive = _null_trials(count=False)
    assert stats.kstest(calibrated, "uniform").pvalue > KS_THRESHOLD
    assert stats.kstest(naive, "uniform").pvalue < KS_THRESHOLD  # the test can fail
    assert np.all(calibrated >= naive - 1e-12)  # never below the naive minimum
    calibrated, naive = _null_trials(count=True)
    assert abs(np.mean(calibrated) - 0.5) < MEAN_TOLERANCE
    assert abs(np.mean(naive) - 0.5) > MEAN_TOLERANCE  # the naive minimum is too small


def test_a_studys_p_over_several_items_is_uniform_with_few_draws_too():
    """Each replicate's own p is taken among the other replicates: counting itself as a tie
    made the study p too small when the draws are few (P(p < 0.05) about 0.10 at 50)."""
    from scipy import stats

    from analyses.suite.conflict_replicates import study_p

    rng = np.random.default_rng(12)
    calibrated = []
    for _ in range(NULL_TRIALS):
        replicated = [a.reshape(2, -1) for a in _joint(rng, FEW_DRAWS, count=False)]
        third = replicated[0] + rng.normal(size=replicated[0].shape)
        observed = _joint(rng, 1, count=False)
        observed = (*observed, observed[0] + rng.normal(size=1))
        items = [*replicated, third]
        calibrated.append(study_p(items, observed)[0])
    assert stats.kstest(calibrated, "uniform").pvalue > KS_THRESHOLD


def test_a_studys_p_over_readings_runs_from_its_smallest_to_its_largest_minimum():
    from analyses.suite.conflict_replicates import study_p

    joint = _joint(np.random.default_rng(3), NULL_REPLICATES, count=True)
    replicated = [a.reshape(4, -1) for a in joint]
    first = np.quantile(replicated[0], [0.1])  # its p is about 0.2
    central, extreme = np.median(replicated[1]), 0.0  # the count's p near 1, and near 0
    one = study_p(replicated, [first, np.array([central])])
    assert one[0] == one[1]
    # The count read two ways: the minimum runs from the extreme reading's p to the first's.
    both = study_p(replicated, [first, np.array([extreme, central])])
    assert both[0] < both[1] == one[0]
    assert both[0] == study_p(replicated, [first, np.array([extreme])])[0]


def test_a_replicate_equal_to_the_observed_data_has_its_minimum_exactly():
    """Item p are taken within one pool, so equal data tie (the study p of counts needs it)."""
    from analyses.suite.conflict_replicates import pooled_minima

    counts = np.random.default_rng(5).binomial(6, 0.5, size=(2, 400))
    replicated = [counts[0].reshape(4, -1), counts[1].reshape(4, -1)]
    observed = [float(counts[0, 7]), float(counts[1, 7])]  # replicate 7's data
    smallest, minima = pooled_minima(replicated, observed)
    assert smallest in minima
    at_observed = np.flatnonzero(minima == smallest)
    equal = (counts[0] == observed[0]) & (counts[1] == observed[1])
    assert at_observed.size >= equal.sum()  # every replicate equal on both items ties
    assert smallest == pytest.approx(
        min(float(mid_p(r, o)[0]) for r, o in zip(replicated, observed, strict=True))
    )


@pytest.fixture(scope="module")
def two_items():
    """A study reporting two arm-count items, another study, and prior draws of the model."""
    from models.simulate import Truth, load_simulated, simulate_study

    first, _, _ = simulate_study("arm_counts", "twoitems", "acute", Truth(), 40, seed=1)
    second, _, _ = simulate_study("arm_counts", "twoitems", "acute", Truth(), 40, seed=2)
    first["evidence"].append({**second["evidence"][0], "id": "second"})
    other, _, _ = simulate_study("contrast_statistic", "other", "acute", Truth(), 40, seed=3)
    evidence = load_simulated([first, other])
    model = build_blockade_model(evidence, load_priors("neutral", evidence.literature))
    return evidence, model, prior_predictive(model, DRAWS, seed=1)["prior"].to_dataset()


# Study p of data drawn as the replicates are (prior predictive draws standing in for the
# left-out study's data: with prior draws as the "posterior", they are exchangeable with the
# replicates). The counts make p discrete, so its mean is checked, 0.5 within 4 standard
# errors of NULL_DATASETS uniform draws; the naive smallest item p averaged 0.39 here.
NULL_DATASETS = 1000


def test_a_two_item_studys_p_is_calibrated_when_its_data_come_from_the_model(two_items):
    from analyses.suite.conflict_replicates import replicated_statistics, study_p

    evidence, model, post = two_items
    found = replicated_statistics(model, evidence, ModelOptions(), post, "twoitems", seed=5)
    data = prior_predictive(model, NULL_DATASETS, seed=2)["prior_predictive"]
    flat = {v: data[v].values.reshape(-1, *data[v].shape[2:]) for v in data.data_vars}
    observed = [
        form_of(f.item.kind).attenuation_statistic(f"twoitems__{f.item.id}", f.item, flat).values
        for f in found
    ]
    replicated = [f.statistic.values for f in found]
    p = [study_p(replicated, [o[t : t + 1] for o in observed])[0] for t in range(NULL_DATASETS)]
    assert abs(np.mean(p) - 0.5) < 4 * (1 / 12 / NULL_DATASETS) ** 0.5


def test_a_study_with_two_items_is_checked_on_both(two_items):
    """Both items replicated together, each item's own p listed, the study's p calibrated."""
    from analyses.suite.conflict_replicates import replicated_statistics, study_p

    evidence, model, post = two_items
    row = left_out_check(model, evidence, ModelOptions(), post, "twoitems", seed=5)
    found = replicated_statistics(model, evidence, ModelOptions(), post, "twoitems", seed=5)
    assert [f.item.id for f in found] == ["outcome", "second"]
    item_p = [mid_p(f.statistic.values, f.observed) for f in found]
    replicated = [f.statistic.values for f in found]
    assert row["left_out_check_p"] == study_p(replicated, [f.observed for f in found])[0]
    assert row["left_out_check_p"] >= min(float(p[0]) for p in item_p)
    shown = found[int(np.argmin([p[0] for p in item_p]))]
    assert row["left_out_check_item"] == shown.item.id
    assert row["left_out_check_statistic"].endswith(
        f"({shown.item.id}, the most discrepant of 2 items)"
    )
    listed = row["left_out_check_items"].split(", ")
    assert [x.split(" ")[0] for x in listed] == ["outcome", "second"]
    assert listed[1].endswith(f"p {item_p[1][0]:.2f}")
    # Replicated together: at each draw both items come from the same study parameters, so
    # their statistics are correlated (both follow the study's beta and ketamine effect).
    a, b = (f.statistic.values.ravel() for f in found)
    assert np.corrcoef(a, b)[0, 1] > 0.2


@pytest.mark.parametrize("sizes", [(20, 20), (12, 17)])
def test_equal_differences_of_rates_are_equal_floats(sizes):
    """Counts whose rates differ by the same amount must tie exactly in the check's mid-p and
    PIT: a/n1 - b/n2 rounded twice put 6/20 - 2/20 and 4/20 - 0/20 an ulp apart, and the ties
    were then decided by rounding (found by the two-item calibration in `make validate`)."""
    from fractions import Fraction
    from types import SimpleNamespace

    from models.forms import counts

    n1, n2 = sizes
    arms = [
        SimpleNamespace(condition=c, n=SimpleNamespace(value=n))
        for c, n in (("ketamine_placebo", n1), ("ketamine_naltrexone", n2))
    ]
    item = SimpleNamespace(kind="arm_counts", arms=arms, outcome=SimpleNamespace())
    a, b = (g.ravel() for g in np.meshgrid(np.arange(n1 + 1), np.arange(n2 + 1)))
    values = {"s__i__ketamine_placebo": a, "s__i__ketamine_naltrexone": b}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(counts, "count_datum", lambda outcome: "responders (count)")
        found = counts.attenuation_statistic("s__i", item, values).values
    exact = [Fraction(int(x), n1) - Fraction(int(y), n2) for x, y in zip(a, b, strict=True)]
    assert np.unique(found).size == len(set(exact))  # one float for each exact value
    assert np.allclose(found, [float(e) for e in exact], rtol=0, atol=1e-15)
    if sizes == (20, 20):  # the pair that twice-rounded arithmetic set an ulp apart
        at = {(int(x), int(y)): v for x, y, v in zip(a, b, found, strict=True)}
        assert 6 / 20 - 2 / 20 != 4 / 20 - 0 / 20 and at[(6, 2)] == at[(4, 0)]
