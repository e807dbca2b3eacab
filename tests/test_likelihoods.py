"""Each likelihood adapter against a direct scipy computation at known points."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import stats
from scipy.special import logsumexp

from analyses.inference.log_density import UNREWRITTEN
from models.likelihoods import (
    binomial_random,
    bounded_binomial_logp,
    paired_binary_logp,
    paired_binary_random,
    paired_cell_probabilities,
)

# The crossover cells (Genz's method, absolute error near 1e-15) vs scipy's bivariate normal
# CDF (itself accurate to about 1e-7): agreement to 1e-5 leaves room for both.
BVN_ATOL = 1e-5
# Log-likelihoods are sums of a few logs of those probabilities.
LOGP_ATOL = 1e-4
# Simulators are checked by the mean of 20,000 draws: the Monte Carlo SD of a mean count is
# at most sqrt(n/4/20000) ~ 0.012 for n = 12; 5 SDs is 0.06.
SIM_DRAWS = 20_000
SIM_ATOL = 0.06


def scipy_both(mu1, mu2, rho):
    cov = [[1.0, rho], [rho, 1.0]]
    return stats.multivariate_normal(mean=[0, 0], cov=cov).cdf([mu1, mu2])


@pytest.mark.parametrize(
    ("mu1", "mu2", "rho"),
    [(0.0, 0.0, 0.0), (0.3, -1.2, 0.3), (0.2, -1.5, 0.8), (1.5, 1.0, 0.5), (-2.0, -2.5, 0.9)],
)
def test_bivariate_orthant_matches_scipy(mu1, mu2, rho):
    # The 'both respond' cell of the crossover table is the orthant probability.
    got = paired_cell_probabilities(pt.as_tensor(mu1), pt.as_tensor(mu2), pt.as_tensor(rho))[
        0
    ].eval()
    assert got == pytest.approx(scipy_both(mu1, mu2, rho), abs=BVN_ATOL)


def scipy_paired_logp(rp, rn, n, mu_p, mu_n, rho, both=None):
    p11 = scipy_both(mu_p, mu_n, rho)
    pp, pn = stats.norm.cdf(mu_p), stats.norm.cdf(mu_n)
    probs = [p11, pp - p11, pn - p11, 1 - pp - pn + p11]
    terms = []
    for n11 in range(n + 1):
        cells = [n11, rp - n11, rn - n11, n - rp - rn + n11]
        if min(cells) < 0 or (both is not None and n11 != both):
            continue
        terms.append(stats.multinomial(n, probs).logpmf(cells))
    return logsumexp(terms)


@pytest.mark.parametrize(
    ("rp", "rn", "n", "mu_p", "mu_n", "rho", "both"),
    [
        (7, 0, 12, 0.2, -1.0, 0.5, None),  # Williams, 'zero' reading: one table
        (7, 1, 12, 0.2, -1.0, 0.5, None),  # 'one' reading: two tables summed
        (7, 1, 12, 0.2, -1.0, 0.3, 1),  # 2x2 known
        (10, 6, 26, 0.1, -0.4, 0.8, None),
    ],
)
def test_paired_binary_logp_matches_scipy(rp, rn, n, mu_p, mu_n, rho, both):
    logp = paired_binary_logp(n, both)
    got = logp(pt.as_tensor(np.array([rp, rn], dtype=float)), mu_p, mu_n, rho).eval()
    assert got == pytest.approx(scipy_paired_logp(rp, rn, n, mu_p, mu_n, rho, both), abs=LOGP_ATOL)


def _known_and_unknown(logp, value, *params):
    """The log density and its gradient with ``value`` a constant and as an input."""
    x = pt.dvector("params")
    unknown = pt.dvector("value") if np.ndim(value) else pt.dscalar("value")
    out = {}
    for label, v in (("known", pt.as_tensor(np.asarray(value, dtype=float))), ("input", unknown)):
        lp = logp(v, *[x[i] for i in range(len(params))])
        fn = pytensor.function(
            [x, unknown], [lp, pt.grad(lp, x)], mode=UNREWRITTEN, on_unused_input="ignore"
        )
        out[label] = fn(np.asarray(params, dtype=float), np.asarray(value, dtype=float))
    return out


@pytest.mark.parametrize(
    ("rp", "rn", "n", "both"),
    [
        (7, 0, 12, None),
        (7, 1, 12, None),
        (7, 1, 12, 1),
        (10, 6, 26, None),
        (12, 12, 12, None),
        (7, 1, 12, 3),  # a "both" the margins exclude: -inf either way
    ],
)
def test_known_margins_sum_only_the_tables_they_allow(rp, rn, n, both):
    # With the margins known, the sum runs over the feasible tables only: the same value and
    # gradient as the sum over every table (whose other terms are exactly zero).
    got = _known_and_unknown(paired_binary_logp(n, both), [rp, rn], 0.2, -1.0, 0.5)
    np.testing.assert_allclose(got["known"][0], got["input"][0], rtol=1e-14)
    np.testing.assert_allclose(got["known"][1], got["input"][1], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    ("lower", "upper", "n"),
    [(17, 20, 20), (3, 3, 5), (0, 0, 12), (0, 9, 9), (5, 3, 9), (5, np.inf, 9)],
)
def test_a_known_range_sums_only_its_counts(lower, upper, n):
    # p and the upper bound are the parameters; the upper bound is known here.
    logp = bounded_binomial_logp(n)
    got = _known_and_unknown(lambda v, p: logp(v, p, float(upper)), float(lower), 0.7)
    np.testing.assert_allclose(got["known"][0], got["input"][0], rtol=1e-14)
    np.testing.assert_allclose(got["known"][1], got["input"][1], rtol=1e-12, atol=1e-14)


def test_cell_probabilities_sum_to_one():
    cells = paired_cell_probabilities(pt.as_tensor(0.4), pt.as_tensor(-0.7), pt.as_tensor(0.6))
    assert sum(c.eval() for c in cells) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize(
    ("lower", "upper", "n", "p"), [(17, 20, 20, 0.85), (3, 3, 5, 0.6), (0, 0, 12, 0.1)]
)
def test_bounded_binomial_matches_scipy(lower, upper, n, p):
    got = bounded_binomial_logp(n)(pt.as_tensor(float(lower)), p, float(upper)).eval()
    expected = np.log(stats.binom(n, p).cdf(upper) - stats.binom(n, p).cdf(lower - 1))
    assert got == pytest.approx(expected, abs=LOGP_ATOL)


def test_paired_simulator_matches_the_probabilities():
    mu_p, mu_n, rho, n = 0.3, -0.8, 0.6, 12
    draws = paired_binary_random(n)(mu_p, mu_n, rho, rng=np.random.default_rng(0), size=SIM_DRAWS)
    assert draws.shape == (SIM_DRAWS, 2)
    assert draws[:, 0].mean() == pytest.approx(n * stats.norm.cdf(mu_p), abs=SIM_ATOL)
    assert draws[:, 1].mean() == pytest.approx(n * stats.norm.cdf(mu_n), abs=SIM_ATOL)


def test_paired_simulator_takes_one_parameter_set_per_batch_entry():
    """As the vectorised posterior predictive calls it: parameters with leading batch dims."""
    n = 12
    mu_p, mu_n, rho = np.array([[0.3], [-1.0]]), np.array([[-0.8], [1.2]]), np.array([[0.6], [0]])
    rng = np.random.default_rng(2)
    draws = paired_binary_random(n)(mu_p, mu_n, rho, rng=rng, size=(2, SIM_DRAWS))
    assert draws.shape == (2, SIM_DRAWS, 2)
    for i in range(2):
        means = draws[i].mean(axis=0)
        assert means[0] == pytest.approx(n * stats.norm.cdf(mu_p[i, 0]), abs=SIM_ATOL)
        assert means[1] == pytest.approx(n * stats.norm.cdf(mu_n[i, 0]), abs=SIM_ATOL)
    # The within-subject correlation is each entry's own: none in the second. The counts'
    # correlation is about 0.31 for the first (a correlation of 20,000 pairs has an SD near
    # 0.007, so both bounds are over 15 SDs away).
    both = [np.corrcoef(draws[i, :, 0], draws[i, :, 1])[0, 1] for i in range(2)]
    assert both[0] > 0.2 and abs(both[1]) < 0.1


def test_binomial_simulator():
    draws = binomial_random(12)(0.25, rng=np.random.default_rng(1), size=SIM_DRAWS)
    assert draws.mean() == pytest.approx(3.0, abs=SIM_ATOL)


@pytest.mark.parametrize(("ncp", "df"), [(0.0, 25.0), (1.5, 74.0), (-2.0, 10.0), (3.0, 5.0)])
def test_noncentral_t_moments_match_scipy(ncp, df):
    from scipy import stats

    from models.likelihoods import noncentral_t_moments

    mean, sd = noncentral_t_moments(ncp, df)
    want_mean, want_var = stats.nct.stats(df, ncp, moments="mv")
    assert float(mean) == pytest.approx(float(want_mean), rel=1e-9, abs=1e-12)
    assert float(sd.eval()) == pytest.approx(float(np.sqrt(want_var)), rel=1e-9)


def test_f_direction_sets_the_sign():
    from types import SimpleNamespace

    from models.forms.base import signed_t

    q = SimpleNamespace(value=4.0)
    up = SimpleNamespace(statistic="F", value=q, direction="attenuation")
    down = SimpleNamespace(statistic="F", value=q, direction="enhancement")
    assert signed_t(up) == pytest.approx(2.0)
    assert signed_t(down) == pytest.approx(-2.0)
