"""A refit's draws, built from nutpie's record batches, equal nutpie's own conversion."""

from __future__ import annotations

import numpy as np
import pyarrow
import pymc as pm
import pytest

from analyses.inference.sampling import SamplerSettings, compile_model, sample_compiled
from analyses.inference.trace import _padded


@pytest.mark.fit
def test_the_draws_equal_nutpies_own_conversion():
    import nutpie

    with pm.Model(coords={"study": ["a", "b", "c"]}) as model:
        mu = pm.Normal("mu")
        tau = pm.HalfNormal("tau")  # a transformed variable: its log is not a posterior name
        theta = pm.Normal("theta", mu, tau, dims="study")
        pm.Deterministic("share", pm.math.sigmoid(theta), dims="study")
        pm.Normal("y", theta, 1.0, observed=[0.2, 1.0, -0.5], dims="study")
    settings = SamplerSettings(draws=100, tune=100, chains=2, seed=3)
    compiled = compile_model(model)
    ours = sample_compiled(compiled, {}, settings)
    theirs = nutpie.sample(
        compiled,
        draws=100,
        tune=100,
        chains=2,
        seed=3,
        target_accept=settings.target_accept,
        progress_bar=False,
        save_warmup=False,
    )
    assert set(ours.children) == {"posterior", "sample_stats"}
    for group in ("posterior", "sample_stats"):
        mine, nutpies = ours[group].to_dataset(), theirs[group].to_dataset()
        # Leaves out only the text of divergence messages.
        assert set(mine.data_vars) == set(nutpies.data_vars) - {"divergence_message"}
        for name in mine.data_vars:
            assert mine[name].dims == nutpies[name].dims, name
            np.testing.assert_array_equal(mine[name].values, nutpies[name].values)
    assert list(ours["posterior"]["study"].values) == ["a", "b", "c"]
    assert "tau_log__" not in ours["posterior"]


def test_a_short_chain_and_missing_values_are_filled_as_nutpie_fills_them():
    floats = pyarrow.array([1.5, None, 2.5])
    np.testing.assert_array_equal(_padded(floats, 4, []), [1.5, np.nan, 2.5, np.nan])
    ints = pyarrow.array([3, None], type=pyarrow.int64())
    np.testing.assert_array_equal(_padded(ints, 3, []), [3, 0, 0])
    vectors = pyarrow.array([[1.0, 2.0], [3.0, 4.0]], type=pyarrow.large_list(pyarrow.float64()))
    np.testing.assert_array_equal(_padded(vectors, 3, [2]), [[1, 2], [3, 4], [np.nan, np.nan]])


def test_a_complete_column_takes_the_short_way_with_the_same_result():
    """No draw missing and no null: the values as they are, shaped and typed as padded."""
    ints = pyarrow.array([3, 4], type=pyarrow.int64())
    out = _padded(ints, 2, [])
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [3, 4])
    flags = _padded(pyarrow.array([True, False]), 2, [])
    assert flags.dtype == np.bool_
    vectors = pyarrow.array([[1.0, 2.0], [3.0, 4.0]], type=pyarrow.large_list(pyarrow.float64()))
    np.testing.assert_array_equal(_padded(vectors, 2, [2]), [[1, 2], [3, 4]])
    fixed = pyarrow.array([[1.0, 2.0], [3.0, 4.0]], type=pyarrow.list_(pyarrow.float64(), 2))
    np.testing.assert_array_equal(_padded(fixed, 2, [2]), [[1, 2], [3, 4]])
    # A scalar column that says it has a shape of one element keeps that axis.
    assert _padded(pyarrow.array([1.0, 2.0]), 2, [1]).shape == (2, 1)
    # A null inside a vector is filled as a missing draw is: NaN in floats, 0 in integers.
    holes = pyarrow.array([[1.0, None], [3.0, 4.0]], type=pyarrow.large_list(pyarrow.float64()))
    assert np.isnan(_padded(holes, 2, [2])[0, 1])
    counts = pyarrow.array([[1, None], [3, 4]], type=pyarrow.large_list(pyarrow.int64()))
    np.testing.assert_array_equal(_padded(counts, 2, [2]), [[1, 0], [3, 4]])
