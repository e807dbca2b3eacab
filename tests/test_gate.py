"""The convergence gate fails, never passes, on what it cannot check."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from arviz_stats import ess

from analyses.inference.fit import parameter_summary
from analyses.inference.sampling import SamplerSettings, convergence

CHAINS, DRAWS = 4, 1000


def _trace(x: np.ndarray, divergent: int = 0, with_stats: bool = True) -> xr.DataTree:
    post = xr.Dataset(
        {
            "beta": (("chain", "draw"), x),
            # constant by construction: a fixed prior, stored with rounding noise in its SD
            "fixed": (("chain", "draw"), np.full_like(x, 0.3)),
        }
    )
    groups = {"/posterior": post}
    if with_stats:
        diverging = np.zeros(x.shape, bool)
        diverging.flat[:divergent] = True
        groups["/sample_stats"] = xr.Dataset({"diverging": (("chain", "draw"), diverging)})
    return xr.DataTree.from_dict(groups)


def _good() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(CHAINS, DRAWS))


def test_a_well_mixed_trace_passes():
    found = convergence(_trace(_good()), expected_draws=CHAINS * DRAWS)
    assert found.passed, found.failures


def _autocorrelated() -> np.ndarray:
    """An AR(1) trace, whose tail ESS depends on which quantiles are checked."""
    rng = np.random.default_rng(3)
    x = np.zeros((CHAINS, DRAWS))
    for t in range(1, DRAWS):
        x[:, t] = 0.9 * x[:, t - 1] + rng.normal(size=CHAINS)
    return x


def test_the_tail_ess_is_vehtari_et_als_at_5_and_95_percent():
    x = _autocorrelated()
    found = convergence(_trace(x), expected_draws=CHAINS * DRAWS)
    want = float(ess(x, method="tail", prob=(0.05, 0.95)))
    assert found.min_ess_tail == pytest.approx(want, rel=1e-12)
    # arviz-stats' own default (the 11% and 89% quantiles) gives another number here.
    default = float(ess(xr.DataArray(x, dims=("chain", "draw")), method="tail"))
    assert default != pytest.approx(want, rel=1e-3)


def test_the_summary_table_gives_the_gates_tail_ess():
    x = _autocorrelated()
    table = parameter_summary(
        xr.DataTree.from_dict({"/posterior": xr.Dataset({"beta": (("chain", "draw"), x)})})
    )
    want = float(ess(x, method="tail", prob=(0.05, 0.95)))
    assert table.loc["beta", "ess_tail"] == pytest.approx(want, rel=1e-12)


def test_nan_chains_fail():
    x = _good()
    x[1:] = np.nan  # three of four chains lost, as an interrupted sampler leaves them
    found = convergence(_trace(x), expected_draws=CHAINS * DRAWS)
    assert not found.passed
    assert any("non-finite draws in beta" in f for f in found.failures)


def test_infinite_draw_fails():
    x = _good()
    x[0, 5] = np.inf
    assert not convergence(_trace(x)).passed


def test_a_short_trace_fails():
    found = convergence(_trace(_good()[:, :500]), expected_draws=CHAINS * DRAWS)
    assert any("2000 draws where 4000 were asked for" in f for f in found.failures)


def test_a_trace_stopped_during_tuning_fails_and_does_not_raise():
    found = convergence(_trace(_good()[:, :0]), expected_draws=CHAINS * DRAWS)
    assert not found.passed and "no draws" in found.failures
    assert found.draws == 0


def test_a_trace_without_divergence_record_fails():
    found = convergence(_trace(_good(), with_stats=False))
    assert any("no record of divergent transitions" in f for f in found.failures)


def test_divergences_fail():
    assert not convergence(_trace(_good(), divergent=1)).passed


def test_a_constant_whose_sd_is_rounding_noise_is_not_a_failure():
    """np.std of 4000 copies of 0.3 is 1.1e-16, not 0: 'varies' must mean max > min."""
    x = np.full((CHAINS, DRAWS), 0.3)
    assert float(x.std()) > 0  # the trap
    found = convergence(_trace(_good()), expected_draws=CHAINS * DRAWS)
    assert found.passed, found.failures


def _scripted(traces):
    """A sampler that returns the given traces in turn, recording the settings it was asked."""
    asked = []

    def sample(settings):
        asked.append(settings)
        x = traces[len(asked) - 1]
        return x(settings) if callable(x) else x

    return sample, asked


def _settings():
    from analyses.inference.sampling import SamplerSettings

    return SamplerSettings(draws=DRAWS, tune=1000, chains=CHAINS, seed=1)


def test_a_retry_for_divergences_alone_keeps_the_draws():
    from analyses.inference.sampling import gated

    rng = np.random.default_rng(1)
    good = lambda s: _trace(rng.normal(size=(s.chains, s.draws)))  # noqa: E731
    sample, asked = _scripted([_trace(_good(), divergent=2), good])
    fit = gated(sample, _settings())
    assert fit.certified and len(fit.attempts) == 2
    assert asked[1].draws == DRAWS  # not doubled
    assert asked[1].tune == 2000 and asked[1].target_accept == 0.99


def test_a_retry_for_too_few_effective_draws_doubles_them():
    from analyses.inference.sampling import gated

    stuck = np.repeat(_good()[:, :10], DRAWS // 10, axis=1)  # each value held for 100 draws
    rng = np.random.default_rng(2)
    good = lambda s: _trace(rng.normal(size=(s.chains, s.draws)))  # noqa: E731
    sample, asked = _scripted([_trace(stuck), good])
    assert gated(sample, _settings()).certified
    assert asked[1].draws == 2 * DRAWS


@pytest.mark.parametrize(
    ("first", "targets"), [(0.9, [0.9, 0.99, 0.999]), (0.995, [0.995, 0.995, 0.999])]
)
def test_a_retry_never_takes_larger_steps_than_the_attempt_before(first, targets):
    attempts = SamplerSettings(seed=1, target_accept=first).attempts()
    assert [a.target_accept for a in attempts] == targets
    assert [a.tune for a in attempts] == [1000, 2000, 4000]
