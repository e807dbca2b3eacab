"""nutpie's two C callbacks, written so that numba has less to compile in every process.

nutpie hands its Rust sampler two numba ``cfunc`` callbacks: the log density with its
gradient, and the "expand" function that computes every stored variable from a draw. Numba
compiles them anew in every process, since they close over the model's compiled graph.

nutpie's own log-density callback copies the gradient with ``out[...] = grad`` and checks it
with ``np.all(np.isfinite(out))``. Numba compiles a broadcasting assignment together with its
error path, which formats the two shapes into a message; that formatting code (``str`` and
``repr`` of integers, string concatenation) is not in numba's disk cache, so every process
compiled it again. On the primary model it was 4-6 s of a 10-12 s callback compile (AMD EPYC,
2026-12-02, see ``docs/performance.md``). The callbacks here copy and check in a loop, which
needs none of it.

They return nutpie's status codes: 0 a valid point; 1 the log density raised (a parameter
outside its support, say); 3 a non-finite gradient; 4 a non-finite log density; -1 the sampler
passed the wrong dimension; and from the expand callback -2 when it raised. Without the
``try``, numba's ``cfunc`` would print the exception and report success.

They replace two private functions of nutpie's, for the one nutpie version they were checked
against (:data:`CHECKED_NUTPIE`, the lock file's pin); any other version compiles with nutpie's
own callbacks. ``tests/test_callbacks.py`` checks that both give the same values and codes.
"""

from __future__ import annotations

import threading

import numpy as np

# The nutpie version whose private ``_make_c_logp_func`` and ``_make_c_expand_func`` these
# stand in for (same arguments, same C signatures, same status codes).
CHECKED_NUTPIE = "0.16.11"
# Compiles in threads of one process (a Dask worker's) must not interleave the swap below.
_SWAP = threading.Lock()


def compile_pymc_model(model, own_callbacks: bool = True):
    """``nutpie.compile_pymc_model(model, backend="numba")``, with this module's callbacks.

    Parameters
    ----------
    model : pymc.Model
    own_callbacks : bool
        False compiles with nutpie's own callbacks (the benchmark and the tests compare them).

    Returns
    -------
    nutpie's compiled model.
    """
    import nutpie
    import nutpie.compile_pymc as nutpie_pymc

    if not own_callbacks or nutpie.__version__ != CHECKED_NUTPIE:
        return nutpie.compile_pymc_model(model, backend="numba")
    with _SWAP:
        saved = nutpie_pymc._make_c_logp_func, nutpie_pymc._make_c_expand_func
        nutpie_pymc._make_c_logp_func = logp_callback
        nutpie_pymc._make_c_expand_func = expand_callback
        try:
            return nutpie.compile_pymc_model(model, backend="numba")
        finally:
            nutpie_pymc._make_c_logp_func, nutpie_pymc._make_c_expand_func = saved


def _signature(*pointers):
    import numba

    double_ptr = numba.types.CPointer(numba.types.double)
    args = [numba.types.uint64 if p == "n" else double_ptr for p in pointers]
    return numba.types.int64(*args, numba.types.voidptr)


def logp_callback(n_dim, logp_fn, user_data, shared_keys, shared_data):
    """The log density and gradient callback (arguments as nutpie's ``_make_c_logp_func``)."""
    import numba
    from nutpie.compile_pymc import make_extraction_fn

    extract = make_extraction_fn(logp_fn, shared_data, shared_keys, user_data.dtype)

    def logp_numba(dim, x_, out_, logp_, user_data_):
        if dim != n_dim:
            return -1
        try:
            logp_val, grad = extract(numba.carray(x_, (n_dim,)), user_data_)
        except Exception:  # the status code is the sampler's only channel
            return 1
        logp_[0] = logp_val
        finite = True
        for i in range(n_dim):
            out_[i] = grad[i]
            if not np.isfinite(grad[i]):
                finite = False
        if not finite:
            return 3
        if not np.isfinite(logp_val):
            return 4
        return 0

    return logp_numba, _signature("n", "x", "out", "logp")


def expand_callback(n_dim, n_expanded, expand_fn, user_data, shared_var_keys, shared_data):
    """The callback computing every stored variable (as nutpie's ``_make_c_expand_func``)."""
    import numba
    from nutpie.compile_pymc import make_extraction_fn

    extract = make_extraction_fn(expand_fn, shared_data, shared_var_keys, user_data.dtype)

    def expand_numba(dim, expanded, x_, out_, user_data_):
        if dim != n_dim or expanded != n_expanded:
            return -1
        try:
            (values,) = extract(numba.carray(x_, (n_dim,)), user_data_)
        except Exception:  # the status code is the sampler's only channel
            return -2
        for i in range(n_expanded):
            out_[i] = values[i]
        return 0

    return expand_numba, _signature("n", "n", "x", "out")
