"""The compile mode of nutpie's functions: PyTensor's numba mode, and one rewrite of our own.

The gradient of a model written study by study (``beta_study[i]`` in each study's term) adds
each term's scalar gradient into a vector, one element at a time: ``IncSubtensor{i}(g,
TensorFromScalar(s))``. In PyTensor's numba backend, every ``TensorFromScalar`` allocates a
0-d array only for ``IncSubtensor`` to read one number back out of it. The suite's model has 29
of them in its log density and gradient; the rewrite here writes the scalar straight into the
vector (:class:`ScalarIncSubtensor`). The log density and gradient of the suite's model took
about 4.1 against 5.5 us (medians, alternated, AMD EPYC, 2026-12-03, ``docs/performance.md``).

The arithmetic is the same, in the same order, and on this project's models the values are
the same to the last bit (``tests/test_graph_rewrites.py``; the primary's draws too). Not on
every graph: PyTensor compiles numba code with fastmath flags, under which LLVM may rearrange
the arithmetic around a changed node. A reviewer's small models (Dirichlet, Gamma, Poisson)
differed at 10-63% of points, by a few ulps and at most 1e-7 relative, and their draws
differed; with ``numba__fastmath=False`` nothing differed. The kernel's own addition compiles
without those flags: with them, the primary's gradients differed too.

PyTensor's own ``ScalarizeRewriter`` does this for ``MakeVector``, ``Join`` and ``Elemwise``, not
for ``IncSubtensor``. The rewrite is registered in a copy of the numba mode
(:func:`sampling_mode`), never in PyTensor's global rewrite database: importing the toolkit
changes nothing in a session, and any other compile is as PyTensor makes it.
"""

from __future__ import annotations

from pytensor.graph.basic import Apply, Constant
from pytensor.graph.op import Op
from pytensor.graph.rewriting.basic import dfs_rewriter, node_rewriter
from pytensor.tensor.basic import TensorFromScalar
from pytensor.tensor.subtensor import IncSubtensor

from models.numba_kernels import register_once, source_salt

# After every rewrite of the numba mode (the last, "merge3", is at 100): the graph it sees has
# its final Ops, inplace choices included.
POSITION = 100.5

# The kernel's cache key follows this file's code (models/numba_kernels.py).
_SOURCE_SALT = source_salt(__file__)


class ScalarIncSubtensor(Op):
    """``x[index] += s`` (or ``= s``) for a vector ``x`` and a native scalar ``s``.

    Only made by the rewrite, after the gradient is taken, so it has no gradient of its own.
    """

    __props__ = ("index", "set_instead_of_inc", "inplace")

    def __init__(self, index: int, set_instead_of_inc: bool, inplace: bool):
        self.index = int(index)
        self.set_instead_of_inc = bool(set_instead_of_inc)
        self.inplace = bool(inplace)
        if self.inplace:
            self.destroy_map = {0: [0]}

    def make_node(self, x, s) -> Apply:
        return Apply(self, [x, s], [x.type()])

    def perform(self, node, inputs, output_storage) -> None:
        x, s = inputs
        y = x if self.inplace else x.copy()
        if self.set_instead_of_inc:
            y[self.index] = s
        else:
            y[self.index] += s
        output_storage[0][0] = y

    def __str__(self) -> str:
        name = "SetScalar" if self.set_instead_of_inc else "IncScalar"
        return f"{name}{{{self.index}}}{'_inplace' if self.inplace else ''}"


@node_rewriter([IncSubtensor])
def scalar_inc_subtensor(fgraph, node):
    """``IncSubtensor{i}(x, TensorFromScalar(s))`` on a vector -> ``ScalarIncSubtensor``.

    Only where nothing else could differ: one constant, non-negative integer index (within the
    vector's static length, where it has one; the kernel checks it against the actual
    length), and the scalar of the vector's own dtype (IncSubtensor would cast it).
    """
    op = node.op
    # One index, and an integer: a slice with one bound has as many inputs (x[2:] += s adds s
    # to every element from 2 on).
    if type(op) is not IncSubtensor or len(node.inputs) != 3 or len(op.idx_list) != 1:
        return None
    if isinstance(op.idx_list[0], slice):
        return None
    x, value, index = node.inputs
    if value.owner is None or not isinstance(value.owner.op, TensorFromScalar):
        return None
    (scalar,) = value.owner.inputs
    if x.type.ndim != 1 or not isinstance(index, Constant) or scalar.type.dtype != x.type.dtype:
        return None
    i, length = int(index.data), x.type.shape[0]
    if i < 0 or (length is not None and i >= length):
        return None
    return [ScalarIncSubtensor(i, op.set_instead_of_inc, op.inplace)(x, scalar)]


def sampling_mode():
    """PyTensor's numba mode with :func:`scalar_inc_subtensor` as its last rewrite.

    Returns
    -------
    pytensor.compile.mode.Mode
        A new mode; PyTensor's registered modes are untouched.
    """
    from pytensor.compile.mode import get_mode

    register_kernel()
    rewrite = dfs_rewriter(scalar_inc_subtensor, ignore_newtrees=True)
    return get_mode("NUMBA").register((rewrite, POSITION))


def register_kernel() -> None:
    """Give PyTensor's numba backend the Op's kernel, once (also needed before a function
    holding the Op is unpickled, by the function cache)."""
    register_once(ScalarIncSubtensor, _kernel, lambda: _SOURCE_SALT)


def _kernel(op: ScalarIncSubtensor, njit):
    index, setting, inplace = op.index, op.set_instead_of_inc, op.inplace

    @njit(fastmath=False)
    def scalar_inc_subtensor_numba(x, s):
        # Numba does not check bounds: an index past the end must fail here, as
        # IncSubtensor would, not write past the vector.
        if index >= x.shape[0]:
            raise IndexError("ScalarIncSubtensor: index out of bounds")
        y = x if inplace else x.copy()
        if setting:
            y[index] = s
        else:
            y[index] += s
        return y

    return scalar_inc_subtensor_numba
