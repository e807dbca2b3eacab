"""How an Op of ours gives PyTensor's numba backend its kernel: lazily, once, keyed by its code.

Not at import: importing PyTensor's numba dispatch changes the warning filters, and importing
the toolkit must leave a session's state alone. PyTensor's numba cache keys an Op by its type
and props, not its code, so each kernel's key carries a salt from its module's source: without
it an edited kernel would keep running its cached predecessor (seen while writing
``models/paired_cells.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

# The Op types whose kernels are registered in this process.
_REGISTERED: set[type] = set()


def source_salt(path: str | Path) -> int:
    """A number that changes whenever the file at ``path`` does (for a kernel's cache key)."""
    return int(hashlib.sha256(Path(path).read_bytes()).hexdigest()[:15], 16)


def register_once(op_type: type, kernel: Callable, salt: Callable[[], int]) -> None:
    """Register ``kernel(op, njit)`` as the numba implementation of ``op_type``, once a process.

    Parameters
    ----------
    op_type : type
        The Op's class.
    kernel : callable
        ``kernel(op, njit)`` returns the jitted function for one Op instance; ``njit`` is
        PyTensor's ``numba_njit`` (passed so that nothing imports it before it is needed).
    salt : callable
        Returns the salt of the kernel's cache key; read when a graph is compiled, so a test
        can change it.
    """
    if op_type in _REGISTERED:
        return
    from pytensor.link.numba.dispatch.basic import (
        numba_njit,
        register_funcify_default_op_cache_key,
    )

    @register_funcify_default_op_cache_key(op_type)
    def _funcify(op, node=None, **kwargs):
        return kernel(op, numba_njit), salt()

    _REGISTERED.add(op_type)
