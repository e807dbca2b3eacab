"""Same seed, same data, same numbers: the golden run pins the analysis across refactors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.golden.make_golden import HERE, golden_tables

# nutpie's sampling is reproducible from its seed only up to floating-point summation order:
# two processes with the same seed gave posterior means differing by up to 7e-13, and a 2.5%
# quantile by 1.1e-10 on a busy machine (leapfrog trajectories amplify rounding). 1e-6 leaves
# four orders of margin over that, and is still four orders below the Monte Carlo error
# (~1e-2) that any real change to the model, data or sampler moves these numbers by.
GOLDEN_ATOL = 1e-6


@pytest.mark.fit
def test_golden_run_reproduces_stored_numbers():
    hypotheses, summary = golden_tables()
    want_h = pd.read_csv(HERE / "hypotheses.csv")
    want_s = pd.read_csv(HERE / "summary.csv", index_col=0)
    assert list(hypotheses["hypothesis"]) == list(want_h["hypothesis"])
    np.testing.assert_allclose(
        hypotheses.drop(columns="hypothesis").to_numpy(float),
        want_h.drop(columns="hypothesis").to_numpy(float),
        rtol=0,
        atol=GOLDEN_ATOL,
    )
    assert list(summary.index) == list(want_s.index)
    np.testing.assert_allclose(
        summary.to_numpy(float), want_s.to_numpy(float), rtol=0, atol=GOLDEN_ATOL
    )
