"""The gate's vectorised R-hat and ESS agree with arviz-stats, element by element."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from arviz_stats import ess, rhat
from scipy.stats import rankdata

from analyses.inference.diagnostics import average_ranks, gate_diagnostics

# Both compute the same sums in a different order: 400 random cases of every shape below
# agreed to 1.8e-14 (relative), so 1e-10 leaves room for other BLAS/FFT builds and nothing else.
RELATIVE_TOLERANCE = 1e-10
TAIL = (0.05, 0.95)


def _ar(rng: np.random.Generator, chains: int, draws: int, phi: float) -> np.ndarray:
    """Chains of an AR(1) process: phi near 1 is a slow chain, phi < 0 an antithetic one."""
    noise = rng.normal(size=(chains, draws))
    x = np.zeros((chains, draws))
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    return x


def _posterior(seed: int, chains: int, draws: int, phi: float) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    sample = ("chain", "draw")
    return xr.Dataset(
        {
            "a": (sample, _ar(rng, chains, draws, phi)),
            "b": (
                (*sample, "study"),
                np.stack([_ar(rng, chains, draws, phi) + k for k in range(3)], axis=-1),
            ),
            # Rounded draws tie: average ranks.
            "ties": (sample, np.round(_ar(rng, chains, draws, phi))),
            # A constant element: NaN R-hat, ESS equal to the draws.
            "fixed": ((*sample, "pair"), np.ones((chains, draws, 2))),
            # Chains at different levels: R-hat far above 1.
            "stuck": (sample, _ar(rng, chains, draws, phi) + 3 * np.arange(chains)[:, None]),
            # Two values, half each: every folded draw is equal, so the folded R-hat is NaN and
            # arviz-stats' max(bulk, folded) is the bulk R-hat.
            "halves": (sample, rng.permutation(np.arange(chains * draws) % 2).reshape(-1, draws)),
        },
        coords={"study": ["s1", "s2", "s3"]},
    )


CASES = [
    (4, 1000, 0.3),  # a healthy fit
    (4, 1000, 0.97),  # a slow one
    (2, 999, -0.9),  # antithetic, odd draws (the middle draw is dropped in splitting)
    (3, 8, 0.99),  # so short that Geyer's sequence runs to its last lag
    (2, 4, 0.0),  # arviz-stats' minimum
    (2, 20, 0.5),  # short: the sequence ends on a positive pair with a negative even lag
    (8, 201, 0.6),
]


@pytest.mark.parametrize(("chains", "draws", "phi"), CASES)
def test_agrees_with_arviz_stats(chains: int, draws: int, phi: float) -> None:
    posterior = _posterior(chains * draws, chains, draws, phi)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = (
            rhat(posterior),
            ess(posterior, method="bulk"),
            ess(posterior, method="tail", prob=TAIL),
        )
    found = gate_diagnostics(_draws(posterior), TAIL)
    assert set(found) == set(posterior.data_vars)
    for want, part in zip(expected, ("rhat", "bulk_ess", "tail_ess"), strict=True):
        for name in posterior.data_vars:
            a, b = want[name].values, getattr(found[name], part)
            assert b.shape == a.shape
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
            np.testing.assert_allclose(b, a, rtol=RELATIVE_TOLERANCE)


def _draws(posterior: xr.Dataset) -> dict[str, np.ndarray]:
    return {v: posterior[v].transpose("chain", "draw", ...).values for v in posterior.data_vars}


def test_too_few_draws_is_undefined() -> None:
    found = gate_diagnostics(_draws(_posterior(0, 4, 3, 0.0)), TAIL)
    for d in found.values():
        assert all(np.isnan(part).all() for part in (d.rhat, d.bulk_ess, d.tail_ess))


def test_average_ranks_as_scipy() -> None:
    rng = np.random.default_rng(7)
    flat = np.concatenate([rng.integers(0, 5, size=(3, 50)), rng.normal(size=(2, 50))])
    flat[4, :] = 1.0  # one value throughout
    np.testing.assert_array_equal(average_ranks(flat), rankdata(flat, method="average", axis=1))


def test_slices_of_elements_give_the_same_numbers(monkeypatch):
    """Many elements are diagnosed in slices (memory); the slices change nothing."""
    from analyses.inference import diagnostics

    draws = _draws(_posterior(5, 4, 300, 0.5))
    draws["empty"] = np.zeros((4, 300, 0))  # a variable with no elements
    whole = gate_diagnostics(draws, TAIL)
    monkeypatch.setattr(diagnostics, "CHUNK", 3)
    sliced = gate_diagnostics(draws, TAIL)
    for name, d in whole.items():
        for part in ("rhat", "bulk_ess", "tail_ess"):
            # FFTs over batches of another size round differently (1.7e-16 seen).
            np.testing.assert_allclose(
                getattr(sliced[name], part), getattr(d, part), rtol=RELATIVE_TOLERANCE
            )
    assert whole["empty"].rhat.shape == (0,)
