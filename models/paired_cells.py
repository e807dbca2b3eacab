"""The crossover table's cell probabilities and their Jacobian, as one compiled operation.

The four cells of a 2x2 crossover table (both respond, placebo only, naltrexone only,
neither) are orthant probabilities of a bivariate normal with the two periods' response
probits as means and the within-subject correlation ``rho``. They were a Gauss-Hermite
quadrature written as PyTensor operations (120 nodes, four erfc per node) differentiated
automatically: two thirds of the primary model's sampling time. Here they are one numba
function of ``(mu_placebo, mu_naltrexone, rho)``:

- each cell by Genz's (2004) method for the bivariate normal probability (Drezner and
  Wesolowsky's integral over the angle, 6 to 20 Gauss-Legendre nodes, absolute error near
  1e-15);
- its derivatives in closed form: ``phi(h) Phi((r h - k) / sqrt(1 - r^2))`` in each mean
  and the bivariate density in the correlation (Plackett's identity), accurate in the tails;
- where a cell is below ``GENZ_FLOOR`` (Genz's absolute error would show in its log), the
  cells come from the old quadrature instead, whose error is relative.

The correlation is clipped to [0, RHO_MAX] with a zero derivative outside, and each cell to
[TINY, 1] with a zero row of the Jacobian where that binds, as the PyTensor graph did. The
Jacobian is a second output, so the gradient of a log-likelihood built on the cells is its
product with the incoming gradient and the backward pass computes nothing anew. Tests check
the cells against the quadrature and scipy, and the Jacobian against finite differences.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytensor.tensor as pt
from numpy.polynomial.hermite_e import hermegauss
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from models.numba_kernels import register_once, source_salt

# Gauss-Hermite nodes for the bivariate normal orthant probability. Measured against scipy
# on a grid of means in [-3, 2.5]: with 120 nodes the worst relative error is 2e-13 at
# rho <= 0.8 and 2e-7 at rho = 0.9, but 1.5e-4 at rho = 0.95 (40 nodes: 4e-3 at rho = 0.9).
GH_NODES = 120
GH_X, GH_W = hermegauss(GH_NODES)
GH_W = GH_W / np.sqrt(2 * np.pi)
# The quadrature degrades as rho -> 1, so the model refuses correlation priors beyond this.
RHO_MAX = 0.9
TINY = 1e-300  # a cell probability that underflows still has a finite log
# Cell order and each cell's signs (placebo, naltrexone): both, placebo only, naltrexone
# only, neither. Each cell is integrated on its own rather than by differences of margins:
# ``1 - pp - pn + p11`` cancels catastrophically where a margin is near 1, putting the
# likelihood on a flat floor that a heavy-tailed tau_beta prior lets the sampler reach.
CELL_SIGNS = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])


def _gauss_legendre(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(nodes)


# Genz (2004): 6 nodes for |rho| < 0.3, 12 below 0.75, 20 up to 0.925 give an absolute error
# near 1e-15 for the bivariate normal probability.
GL6, GL12, GL20 = (_gauss_legendre(n) for n in (6, 12, 20))
# Below this a cell's absolute error of ~1e-15 is more than 1e-5 of it (a visible change in
# its log), so the cells come from the quadrature, whose error is relative.
GENZ_FLOOR = 1e-10
_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@numba.njit(cache=True, inline="always")
def _phi(x: float) -> float:
    """The standard normal CDF, from erfc: accurate in both tails."""
    return 0.5 * math.erfc(-x / _SQRT2)


@numba.njit(cache=True)
def quadrature_cells(mu_placebo: float, mu_naltrexone: float, rho: float) -> np.ndarray:
    """The four cells by Gauss-Hermite quadrature over the shared component.

    ``Y_k = mu_k + sqrt(rho) u + sqrt(1 - rho) e_k``: given ``u`` the two periods are
    independent, so each cell is a weighted sum of products of normal tail probabilities.
    Every term keeps its relative accuracy however small the cell, which is why it backs up
    :func:`cells_and_jacobian` where a cell is tiny; it is slower (four erfc per node, 120
    nodes).
    """
    rho = min(max(rho, 0.0), RHO_MAX)
    s, r = math.sqrt(rho), math.sqrt(1.0 - rho)
    cells = np.zeros(4)
    for k in range(GH_NODES):
        a1 = (mu_placebo + s * GH_X[k]) / r
        a2 = (mu_naltrexone + s * GH_X[k]) / r
        # Phi(-a) from erfc too, not 1 - Phi(a): no cancellation where Phi(a) ~ 1.
        up1, down1 = _phi(a1), _phi(-a1)
        up2, down2 = _phi(a2), _phi(-a2)
        cells[0] += GH_W[k] * up1 * up2
        cells[1] += GH_W[k] * up1 * down2
        cells[2] += GH_W[k] * down1 * up2
        cells[3] += GH_W[k] * down1 * down2
    return cells


@numba.njit(cache=True)
def _angle_integral(h: float, k: float, angle: float, rule) -> float:
    """Drezner and Wesolowsky's integral over the angle for ``P(X > h, Y > k)`` (Genz 2004).

    By the Gauss-Legendre ``rule``, its nodes mapped from [-1, 1] to [0, ``angle``] (``angle``
    is asin(r)); the probability is ``total * angle / (4 pi) + Phi(-h) Phi(-k)``. ``total``
    depends on the means only through ``h k`` and ``h^2 + k^2``, and on the correlation's sign
    only through ``sin(node) h k``, so the four cells of a table (each a mean's sign and the
    correlation's flipped) share it.
    """
    nodes, weights = rule
    total = 0.0
    half = 0.5 * (h * h + k * k)
    hk = h * k
    for i in range(nodes.size):
        sn = math.sin(angle * (nodes[i] + 1.0) / 2.0)
        total += weights[i] * math.exp((sn * hk - half) / (1.0 - sn * sn))
    return total


@numba.njit(cache=True)
def _legendre_rule(rho: float):
    """The Gauss-Legendre rule Genz (2004) uses at this |rho|: 6, 12 or 20 nodes on [-1, 1]."""
    if rho < 0.3:
        return GL6
    if rho < 0.75:
        return GL12
    return GL20


@numba.njit(cache=True)
def cells_and_jacobian(mu_placebo: float, mu_naltrexone: float, rho: float):
    """Cell probabilities (4,) and their Jacobian (4, 3) in (mu_placebo, mu_naltrexone, rho).

    Each cell ``P(s1 Y1 > 0, s2 Y2 > 0)`` is a bivariate normal upper orthant probability at
    ``(h, k) = (-s1 mu1, -s2 mu2)`` with correlation ``r = s1 s2 rho``, by Genz's (2004)
    method; its derivatives are closed-form (the derivative in rho is the bivariate density,
    Plackett's identity) and keep their relative accuracy in the tails. Where a cell falls
    below ``GENZ_FLOOR`` Genz's absolute error would show in the cell's log, so the cells
    come from :func:`quadrature_cells` instead.

    The cells differ only in signs, so what depends on ``h k``, ``r h k``, ``h^2`` or ``k^2``
    is computed once and shared: the angle integral, the bivariate density, the normal
    densities. Flipping a sign is exact in floating point, so each shared value equals the
    one a cell would compute on its own, bit for bit.
    """
    inside = 1.0 if 0.0 <= rho <= RHO_MAX else 0.0  # the derivative of a clip
    rho = min(max(rho, 0.0), RHO_MAX)
    rule = _legendre_rule(rho)
    angle = math.asin(rho)  # asin is odd: -angle is asin(-rho) exactly
    q = math.sqrt(1.0 - rho * rho)
    total = _angle_integral(-mu_placebo, -mu_naltrexone, angle, rule)
    # Phi of each mean and of its negation, from erfc (no 1 - Phi cancellation in the tails)
    up1, down1 = _phi(mu_placebo), _phi(-mu_placebo)
    up2, down2 = _phi(mu_naltrexone), _phi(-mu_naltrexone)
    dens1 = _INV_SQRT_2PI * math.exp(-0.5 * mu_placebo * mu_placebo)
    dens2 = _INV_SQRT_2PI * math.exp(-0.5 * mu_naltrexone * mu_naltrexone)
    # (r h - k) / q over the cells is +-a1, (r k - h) / q is +-a2
    a1 = (rho * mu_placebo - mu_naltrexone) / q
    a2 = (rho * mu_naltrexone - mu_placebo) / q
    joint = (
        inside
        * math.exp(
            -(
                mu_placebo * mu_placebo
                - 2.0 * rho * mu_placebo * mu_naltrexone
                + mu_naltrexone * mu_naltrexone
            )
            / (2.0 * q * q)
        )
        / (2.0 * math.pi * q)
    )
    share = total * angle / (4.0 * math.pi)
    # both, placebo only, naltrexone only, neither: Phi(-h) Phi(-k) +- the angle integral
    cells = np.empty(4)
    cells[0], cells[1] = share + up1 * up2, -share + up1 * down2
    cells[2], cells[3] = -share + down1 * up2, share + down1 * down2
    d1_low, d1_high = dens1 * _phi(-a1), dens1 * _phi(a1)
    d2_low, d2_high = dens2 * _phi(-a2), dens2 * _phi(a2)
    jac = np.empty((4, 3))
    jac[0, 0], jac[0, 1], jac[0, 2] = d1_low, d2_low, joint
    jac[1, 0], jac[1, 1], jac[1, 2] = d1_high, -d2_low, -joint
    jac[2, 0], jac[2, 1], jac[2, 2] = -d1_low, d2_high, -joint
    jac[3, 0], jac[3, 1], jac[3, 2] = -d1_high, -d2_high, joint
    if cells.min() < GENZ_FLOOR:
        cells = quadrature_cells(mu_placebo, mu_naltrexone, rho)
    for c in range(4):
        if cells[c] < TINY or cells[c] > 1.0:
            cells[c] = min(max(cells[c], TINY), 1.0)
            jac[c, :] = 0.0
    return cells, jac


class PairedCells(Op):
    """``(mu_placebo, mu_naltrexone, rho) -> (cells (4,), jacobian (4, 3))``, all float64.

    Only the cells carry a gradient; the Jacobian is an output so that the gradient reuses
    the forward pass.
    """

    __props__ = ()

    def make_node(self, mu_placebo, mu_naltrexone, rho) -> Apply:
        _register_numba()
        inputs = [
            pt.cast(pt.as_tensor_variable(v), "float64") for v in (mu_placebo, mu_naltrexone, rho)
        ]
        if any(v.ndim != 0 for v in inputs):
            raise ValueError("PairedCells takes scalar means and correlation")
        outputs = [pt.tensor(dtype="float64", shape=(4,)), pt.tensor(dtype="float64", shape=(4, 3))]
        return Apply(self, inputs, outputs)

    def perform(self, node, inputs, output_storage) -> None:
        cells, jac = cells_and_jacobian(*(float(v) for v in inputs))
        output_storage[0][0] = cells
        output_storage[1][0] = jac

    def pullback(self, inputs, outputs, cotangents):
        cells_grad, jac_grad = cotangents
        if not isinstance(jac_grad.type, DisconnectedType):
            raise NotImplementedError("the Jacobian output of PairedCells has no gradient")
        if isinstance(cells_grad.type, DisconnectedType):
            return [pt.zeros_like(v) for v in inputs]
        # A broadcast product rather than pt.dot: numba compiles the BLAS path slowly.
        grad = pt.sum(cells_grad[:, None] * outputs[1], axis=0)
        return [grad[0], grad[1], grad[2]]

    def connection_pattern(self, node):
        return [[True, False]] * 3


paired_cells = PairedCells()


# The kernel's cache key follows this file's code (models/numba_kernels.py).
_SOURCE_SALT = source_salt(__file__)


def _register_numba() -> None:
    """Give PyTensor's numba backend this Op's kernel, once, when the Op first enters a graph."""
    register_once(PairedCells, _kernel, lambda: _SOURCE_SALT)


def _kernel(op, njit):
    @njit
    def paired_cells_numba(mu_placebo, mu_naltrexone, rho):
        return cells_and_jacobian(mu_placebo.item(), mu_naltrexone.item(), rho.item())

    return paired_cells_numba
