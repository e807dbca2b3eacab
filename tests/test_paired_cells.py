"""The compiled crossover cells: values, Jacobian, fallbacks and PyTensor's view of them."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import stats

from models import paired_cells as pc
from models.paired_cells import (
    GENZ_FLOOR,
    RHO_MAX,
    TINY,
    cells_and_jacobian,
    paired_cells,
    quadrature_cells,
)

# Genz's method has an absolute error near 1e-15 and cells above GENZ_FLOOR = 1e-10 take it,
# so the log of a cell can move by at most ~1e-5; measured on this grid the worst is 2e-8.
LOG_CELL_ATOL = 1e-6
# Central differences of the quadrature with step 1e-6: truncation ~1e-12, rounding
# ~1e-16 / 1e-6 = 1e-10 on cells that are at least 1e-10... relative to each cell, the worst
# measured was 3e-6; 1e-4 leaves room and still catches a wrong sign or a missing factor.
FD_STEP = 1e-6
JAC_REL_TOL = 1e-4
# scipy's bivariate normal CDF is itself accurate to about 1e-8 (Genz's QMC).
SCIPY_ATOL = 1e-7

MEANS = np.linspace(-4.0, 4.0, 17)
# Both sides of Genz's switches between 6, 12 and 20 nodes (0.3 and 0.75).
RHOS = (0.05, 0.29, 0.3, 0.5, 0.74, 0.75, 0.8)
GRID = list(itertools.product(MEANS, MEANS, RHOS))


def _scipy_cells(mu1: float, mu2: float, rho: float) -> np.ndarray:
    out = []
    for s1, s2 in pc.CELL_SIGNS:
        cov = [[1.0, s1 * s2 * rho], [s1 * s2 * rho, 1.0]]
        out.append(stats.multivariate_normal(mean=[0, 0], cov=cov).cdf([s1 * mu1, s2 * mu2]))
    return np.array(out)


def test_cells_match_the_quadrature_in_relative_terms():
    worst = max(
        np.max(np.abs(np.log(cells_and_jacobian(*p)[0]) - np.log(quadrature_cells(*p))))
        for p in GRID
    )
    assert worst < LOG_CELL_ATOL


@pytest.mark.parametrize(
    ("mu1", "mu2", "rho"), [(0.2, -1.0, 0.5), (1.5, 1.0, 0.85), (-2.0, -2.5, 0.2), (0, 0, 0)]
)
def test_cells_match_scipy_and_sum_to_one(mu1, mu2, rho):
    cells, _ = cells_and_jacobian(mu1, mu2, rho)
    assert cells == pytest.approx(_scipy_cells(mu1, mu2, rho), abs=SCIPY_ATOL)
    assert cells.sum() == pytest.approx(1.0, abs=1e-12)


def _finite_difference(mu1: float, mu2: float, rho: float) -> np.ndarray:
    columns = []
    for axis in range(3):
        step = np.zeros(3)
        step[axis] = FD_STEP
        point = np.array([mu1, mu2, rho])
        upper, lower = quadrature_cells(*(point + step)), quadrature_cells(*(point - step))
        columns.append((upper - lower) / (2 * FD_STEP))
    return np.stack(columns, axis=1)


def test_jacobian_matches_finite_differences_relative_to_each_cell():
    worst = 0.0
    for p in GRID:
        cells, jac = cells_and_jacobian(*p)
        worst = max(worst, np.max(np.abs(jac - _finite_difference(*p)) / cells[:, None]))
    assert worst < JAC_REL_TOL


# The kernel shares what the four cells have in common (the angle integral, the densities);
# flipping a sign is exact, so in numba it equals the cell-by-cell arithmetic bit for bit
# (2e5 random points, 2026-12-03). Python's math calls the same libm; 1e-14 allows for a
# compiler's rounding and still catches a wrong sign or a cell's term given to another.
SHARED_REL_TOL = 1e-14
# A cell is a difference of probabilities of order 1, so its rounding error is absolute, a
# few ulps of 1: on the AMD EPYC of 2026-12-04 a cell of 4.3e-5 differed from the Python
# arithmetic by 6e-19 (1.4e-14 relative; numba's code there rounds otherwise). 4 eps is far
# below any wrong sign or misplaced term (of the order of the cells themselves).
SHARED_ABS_TOL = 4 * np.finfo(float).eps


def _cell_by_cell(mu1: float, mu2: float, rho: float) -> tuple[np.ndarray, np.ndarray]:
    """Genz's formula and the closed-form derivatives for each cell on its own, in Python.

    With the kernel's primitives (Phi from erfc, a sum in node order): a cell formed by
    cancellation, such as 4e-5 from terms near 0.3, shows scipy's own rounding otherwise.
    """
    nodes, weights = pc._gauss_legendre(6 if rho < 0.3 else 12 if rho < 0.75 else 20)

    def phi(x):
        return 0.5 * math.erfc(-x / math.sqrt(2.0))

    q = math.sqrt(1.0 - rho * rho)
    cells, jac = np.empty(4), np.empty((4, 3))
    for c, (s1, s2) in enumerate(pc.CELL_SIGNS):
        h, k, r = -s1 * mu1, -s2 * mu2, s1 * s2 * rho
        sines = np.sin(math.asin(r) * (nodes + 1.0) / 2.0)
        total = 0.0
        for sn, w in zip(sines, weights, strict=True):
            total += w * math.exp((sn * (h * k) - 0.5 * (h * h + k * k)) / (1.0 - sn * sn))
        cells[c] = total * math.asin(r) / (4 * math.pi) + phi(-h) * phi(-k)
        jac[c, 0] = s1 * math.exp(-h * h / 2) / math.sqrt(2 * math.pi) * phi((r * h - k) / q)
        jac[c, 1] = s2 * math.exp(-k * k / 2) / math.sqrt(2 * math.pi) * phi((r * k - h) / q)
        density = math.exp(-(h * h - 2 * r * h * k + k * k) / (2 * q * q))
        jac[c, 2] = s1 * s2 * density / (2 * math.pi * q)
    return cells, jac


@pytest.mark.parametrize(
    ("mu1", "mu2", "rho"),
    [(0.2, -1.0, 0.5), (1.5, 1.0, 0.85), (-2.0, -2.5, 0.2), (0.7, 0.1, 0.0), (-0.4, 1.9, 0.74)],
)
def test_shared_terms_equal_each_cells_own(mu1, mu2, rho):
    cells, jac = cells_and_jacobian(mu1, mu2, rho)
    want_cells, want_jac = _cell_by_cell(mu1, mu2, rho)
    assert cells == pytest.approx(want_cells, rel=SHARED_REL_TOL, abs=SHARED_ABS_TOL)
    assert jac == pytest.approx(want_jac, rel=SHARED_REL_TOL, abs=SHARED_ABS_TOL)


def test_a_tiny_cell_keeps_its_relative_accuracy():
    # The naltrexone-only cell here is ~1e-82: far below Genz's reach, so the quadrature
    # gives the cells; the Jacobian stays closed-form.
    cells, jac = cells_and_jacobian(8.0, -9.0, 0.6)
    assert cells.min() < GENZ_FLOOR
    assert np.log(cells) == pytest.approx(np.log(quadrature_cells(8.0, -9.0, 0.6)), abs=1e-9)
    fd = _finite_difference(8.0, -9.0, 0.6)
    assert np.abs(jac - fd)[cells > 1e-30].max() < JAC_REL_TOL


def test_clipping_zeroes_the_derivative_as_the_graph_did():
    _, jac = cells_and_jacobian(0.3, -0.2, RHO_MAX + 0.05)
    assert np.all(jac[:, 2] == 0.0)
    cells, jac = cells_and_jacobian(40.0, -40.0, 0.5)  # three cells underflow to the floor
    floored = cells == TINY
    assert floored.sum() == 3
    assert np.all(jac[floored] == 0.0)


@pytest.mark.parametrize("mode", ["FAST_RUN", "NUMBA"])
def test_pytensor_gradient_through_the_op(mode):
    # verify_grad compares the Op's gradient with finite differences along a random direction.
    weights = np.array([3.0, 1.0, 2.0, 5.0])

    def loglik(mu1, mu2, rho):
        return pt.sum(weights * pt.log(paired_cells(mu1, mu2, rho)[0]))

    pytensor.gradient.verify_grad(
        loglik,
        [np.array(0.3), np.array(-0.9), np.array(0.55)],
        rng=np.random.default_rng(0),
        mode=mode,
    )


def test_the_numba_cache_key_follows_the_code(monkeypatch):
    from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key

    x = pt.dscalar("x")
    node = paired_cells(x, x, x)[0].owner
    _, key = numba_funcify_and_cache_key(node.op, node=node)
    monkeypatch.setattr(pc, "_SOURCE_SALT", pc._SOURCE_SALT + 1)
    _, edited = numba_funcify_and_cache_key(node.op, node=node)
    assert key != edited
