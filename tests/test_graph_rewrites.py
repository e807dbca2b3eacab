"""The compile mode's own rewrite: scalars written straight into vectors, the primary model's
values the same to the last bit, and only where nothing else could differ."""

import numpy as np
import pytensor
import pytensor.scalar as ps
import pytensor.tensor as pt
import pytest
from nutpie.compile_pymc import _make_functions
from pymc.initial_point import make_initial_point_fn
from pytensor.compile.mode import get_mode
from pytensor.tensor.basic import TensorFromScalar, tensor_from_scalar
from pytensor.tensor.subtensor import IncSubtensor

from analyses.commands.preflight import load_inputs
from analyses.inference.graph_rewrites import ScalarIncSubtensor, sampling_mode
from models.blockade import build_blockade_model

# Random points at which the two compiles of the primary model are compared. With the kernel's
# addition under PyTensor's fastmath flags, 40% of 20,000 points differed (by up to 6e-14
# relative, from contraction with the arithmetic before it); 500 points catch that many times.
POINTS = 500


def _ops(function) -> list[type]:
    return [type(node.op) for node in function.maker.fgraph.apply_nodes]


def _logp_and_grad(model, mode):
    initial = make_initial_point_fn(model=model, jitter_rvs=set(), return_transformed=True)
    made = _make_functions(
        model, mode=mode, compute_grad=True, join_expanded=True, pymc_initial_point_fn=initial
    )
    return made[2], made[4](0)


@pytest.fixture(scope="module")
def primary_functions():
    shipped = load_inputs(None, None)
    model = build_blockade_model(shipped.evidence, shipped.priors, shipped.options)
    before, start = _logp_and_grad(model, get_mode("NUMBA"))
    after, _ = _logp_and_grad(model, sampling_mode())
    return before, after, start


def test_the_primary_gradient_writes_its_scalars_without_zero_d_arrays(primary_functions):
    before, after, _ = primary_functions
    incs = [n for n in before.maker.fgraph.apply_nodes if isinstance(n.op, IncSubtensor)]
    from_scalars = [n for n in incs if isinstance(n.inputs[1].owner.op, TensorFromScalar)]
    assert len(from_scalars) > 10
    assert _ops(after).count(ScalarIncSubtensor) == len(from_scalars)
    assert IncSubtensor not in _ops(after)


def test_the_primary_log_density_and_gradient_are_the_same_to_the_last_bit(primary_functions):
    before, after, start = primary_functions
    rng = np.random.default_rng(11)
    for _ in range(POINTS):
        x = start + rng.normal(size=start.size) * rng.choice([0.1, 0.5, 1.5])
        (logp_a, grad_a), (logp_b, grad_b) = before(x), after(x)
        assert logp_a == logp_b
        np.testing.assert_array_equal(grad_a, grad_b)


def _compiled(build, mode):
    """``build(x, v, i)`` of a 4-vector x, a scalar's 0-d array v and an integer i, compiled."""
    x, s, i = pt.vector("x", shape=(4,)), ps.float64("s"), pt.iscalar("i")
    out = build(x, tensor_from_scalar(s), i)
    return pytensor.function([x, s, i], out, mode=mode, on_unused_input="ignore")


@pytest.mark.parametrize(
    "build",
    [
        lambda x, v, i: pt.inc_subtensor(x[2], v),
        lambda x, v, i: pt.set_subtensor(x[3], v),
        lambda x, v, i: pt.inc_subtensor(x[0], v) * 2.0,  # not in place: x is an input
        lambda x, v, i: pt.inc_subtensor((x * 2.0)[1], v),  # in place: x * 2 is its own
    ],
)
def test_the_kernel_increments_and_sets_as_inc_subtensor_does(build):
    after = _compiled(build, sampling_mode())
    assert ScalarIncSubtensor in _ops(after)
    before = _compiled(build, get_mode("NUMBA"))
    x = np.array([1.0, -2.0, 3.5, 0.25])
    np.testing.assert_array_equal(after(x.copy(), 0.75, 0), before(x.copy(), 0.75, 0))
    after(x, 0.75, 0)
    np.testing.assert_array_equal(x, [1.0, -2.0, 3.5, 0.25])  # the caller's input untouched


@pytest.mark.parametrize(
    "build",
    [
        lambda x, v, i: pt.inc_subtensor(x[-1], v),  # a negative index
        lambda x, v, i: pt.inc_subtensor(x[1:3], v),  # a slice
        lambda x, v, i: pt.inc_subtensor(x[2:], v),  # a slice with one input, as x[2] has
        lambda x, v, i: pt.inc_subtensor(x[:2], v),
        lambda x, v, i: pt.set_subtensor(x[::2], v),
        lambda x, v, i: pt.inc_subtensor(x[i], v),  # an index not known
        lambda x, v, i: pt.inc_subtensor(x[1], pt.cast(v, "float32")),  # another dtype
    ],
)
def test_the_rewrite_leaves_what_it_cannot_vouch_for(build):
    assert ScalarIncSubtensor not in _ops(_compiled(build, sampling_mode()))


def test_an_index_past_the_end_raises_as_inc_subtensor_does():
    x, s = pt.vector("x"), ps.float64("s")  # no static length: the kernel checks the index
    f = pytensor.function(
        [x, s], pt.inc_subtensor(x[5], tensor_from_scalar(s)) * 2.0, mode=sampling_mode()
    )
    assert ScalarIncSubtensor in _ops(f)
    np.testing.assert_array_equal(f(np.ones(6), 0.5), [2.0] * 5 + [3.0])
    with pytest.raises(IndexError):
        f(np.ones(5), 0.5)


def test_the_perform_method_increments_a_copy():
    node = ScalarIncSubtensor(1, False, False).make_node(pt.vector("x"), ps.float64("s"))
    out = [[None]]
    x = np.array([1.0, 2.0, 3.0])
    node.op.perform(node, [x, 0.5], out)
    np.testing.assert_array_equal(out[0][0], [1.0, 2.5, 3.0])
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])  # not in place: untouched


def test_the_mode_is_a_copy_and_the_numba_mode_is_untouched():
    plain = get_mode("NUMBA")
    assert sampling_mode() is not plain
    f = _compiled(lambda x, v, i: pt.inc_subtensor(x[2], v), plain)
    assert ScalarIncSubtensor not in _ops(f)


def test_the_numba_cache_key_follows_the_code(monkeypatch):
    from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key

    from analyses.inference import graph_rewrites

    graph_rewrites.register_kernel()
    node = ScalarIncSubtensor(1, False, False).make_node(pt.vector("x"), ps.float64("s"))
    _, key = numba_funcify_and_cache_key(node.op, node=node)
    monkeypatch.setattr(graph_rewrites, "_SOURCE_SALT", graph_rewrites._SOURCE_SALT + 1)
    _, edited = numba_funcify_and_cache_key(node.op, node=node)
    assert key != edited
