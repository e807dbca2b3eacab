"""nutpie's two C callbacks, written so that numba compiles them once per machine, not per process.

nutpie hands its Rust sampler two numba ``cfunc`` callbacks: the log density with its
gradient, and the "expand" function that computes every stored variable from a draw. nutpie
builds them as closures over the model's compiled graph and compiles them anew in every
process: 4.6 s of the primary model's 8.7 s compile (AMD EPYC, 2026-12-03), for code that is
the same every time.

Here each callback is a copy of a module-level template (``_logp_numba``, ``_expand_numba``)
with its own globals, which numba freezes as constants just as it would a closure's cells. The
difference is the disk cache: numba keys a cached function on a hash of its closure's pickled
contents (the compiled graph, which pickles differently in every process), but not on its
globals. So a callback is cached under a key of our own (:func:`_cache_key`): PyTensor's key
for the graph it calls (the one PyTensor's own numba cache trusts), how the shared data are
laid out, the dimensions, this file's text and the versions of numba, nutpie and PyTensor.
The cache lives in PyTensor's numba cache folder, ``callbacks/``; where PyTensor cannot key
the graph (or its cache is off), the callbacks compile in every process as before.

nutpie's own log-density callback copies the gradient with ``out[...] = grad``, whose error
path formats the two shapes into a message: numba compiles that formatting code in every
process (4-6 s of a 10-12 s callback compile, 2026-12-02, ``docs/performance.md``). The
callbacks here copy and check in a loop, which needs none of it.

They return nutpie's status codes: 0 a valid point; 1 the log density raised (a parameter
outside its support, say); 3 a non-finite gradient; 4 a non-finite log density; -1 the sampler
passed the wrong dimension; and from the expand callback -2 when it raised. Without the
``try``, numba's ``cfunc`` would print the exception and report success.

They replace two private functions of nutpie's, for the one nutpie version they were checked
against (:data:`CHECKED_NUTPIE`, the lock file's pin); any other version compiles with nutpie's
own callbacks. ``tests/test_callbacks.py`` checks that both give the same values and codes,
that a second compile loads them from the disk cache, and that no model loads another's.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import os
import re
import threading
import types
import weakref
from pathlib import Path

import numpy as np

# The nutpie version whose private ``_make_c_logp_func`` and ``_make_c_expand_func`` these
# stand in for (same arguments, same C signatures, same status codes).
CHECKED_NUTPIE = "0.16.11"
# Compiles in threads of one process (a Dask worker's) must not interleave the swap below.
_SWAP = threading.Lock()
# Whether the compile in progress (under _SWAP) caches its callbacks on disk, and its keys.
_caching: dict = {"on": False, "keys": []}
# Each callback copy -> its cache key, read by the cache locator (registered on first use).
_CACHE_KEYS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCATOR: list = []

# The callbacks' cache folder is pruned to this size, least recently used models first: an
# entry is about 2 MB (the suite's one model) and each model graph and code version adds one,
# so this keeps about a hundred. Deleting entries is always safe (they compile again).
CACHE_LIMIT_BYTES = 256 * 2**20
# A cache file's name ends in its key (sha256 hex) before numba's own suffixes.
_KEY_IN_NAME = re.compile(r"-([0-9a-f]{64})\.")

# Each callback's own values of these replace them in its copy of the templates below.
N_DIM = N_EXPANDED = 0
EXTRACT = CARRAY = None


class _Uncacheable(Exception):
    """PyTensor gave no cache key for the graph: compile again without the disk cache."""


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

    with _SWAP:  # nutpie's own compile too: it must not meet another thread's swap
        if not own_callbacks or nutpie.__version__ != CHECKED_NUTPIE:
            return nutpie.compile_pymc_model(model, backend="numba")
        saved = (
            nutpie_pymc._make_c_logp_func,
            nutpie_pymc._make_c_expand_func,
            nutpie_pymc._make_functions,
        )
        nutpie_pymc._make_c_logp_func = logp_callback
        nutpie_pymc._make_c_expand_func = expand_callback
        nutpie_pymc._make_functions = _in_sampling_mode(nutpie_pymc._make_functions)
        try:
            if _cache_allowed():
                _register_locator()
                try:
                    return _compile_cached(nutpie, model)
                except _Uncacheable:
                    pass
            return nutpie.compile_pymc_model(model, backend="numba")
        finally:
            (
                nutpie_pymc._make_c_logp_func,
                nutpie_pymc._make_c_expand_func,
                nutpie_pymc._make_functions,
            ) = saved


def _in_sampling_mode(make_functions):
    """nutpie's ``_make_functions``, compiling in :func:`graph_rewrites.sampling_mode` where
    nutpie asks for PyTensor's numba mode.

    Inside the function cache's wrapper, which so keys on the mode's name, not on the Mode
    object (a new one each compile); the rewrite's source is in that key.
    """
    from analyses.inference import graph_rewrites

    def make(model, *, mode, **arguments):
        if mode == "NUMBA":
            mode = graph_rewrites.sampling_mode()
        return make_functions(model, mode=mode, **arguments)

    return make


def _compile_cached(nutpie, model):
    """Compile with the callbacks' disk cache (under ``_SWAP``).

    A cache file numba cannot read (truncated on a full disk, say) would fail every compile of
    that model: its files are removed and the compile repeated, and if it fails in the cache
    again the callbacks compile without it.
    """
    import nutpie.compile_pymc as nutpie_pymc

    from analyses.inference import function_cache

    make_functions = nutpie_pymc._make_functions
    for attempt in range(2):
        _caching.update(on=True, keys=[])
        if function_cache.enabled():  # the rewritten functions too, from the same folder
            nutpie_pymc._make_functions = function_cache.cached_make_functions(
                make_functions, _cache_folder(), _caching["keys"]
            )
        try:
            compiled = nutpie.compile_pymc_model(model, backend="numba", cache=True)
            prune(keep=_caching["keys"])
            return compiled
        except _Uncacheable:
            raise
        except Exception as err:
            if not _raised_by_cache(err):
                raise
            if attempt == 1:
                raise _Uncacheable from err
            _forget(_caching["keys"])
        finally:
            _caching["on"] = False
            nutpie_pymc._make_functions = make_functions
    raise AssertionError("unreachable")  # the loop returns or raises


def _raised_by_cache(err: BaseException) -> bool:
    """Whether ``err`` came from numba's cache files.

    Any cache failure counts (PyTensor's own files, a save to a full disk): the cost of a
    wrong guess is a compile repeated, never a wrong result.
    """
    import traceback

    frames = traceback.extract_tb(err.__traceback__)
    return any(Path(f.filename).as_posix().endswith("numba/core/caching.py") for f in frames)


def _forget(keys: list[str]) -> None:
    """Remove the cache files of these keys (their index and data files)."""
    folder = _cache_folder()
    for key in keys:
        for path in folder.glob(f"*-{key}.*"):
            path.unlink(missing_ok=True)


def prune(keep: list[str], limit: int | None = None) -> None:
    """Mark the ``keep`` entries as just used; then, above ``limit`` bytes, remove the least
    recently used other entries until the folder is within it.

    Best effort: a file another process removes or replaces meanwhile is skipped, and nothing
    here can fail a compile (a removed entry compiles again when next needed).
    """
    limit = CACHE_LIMIT_BYTES if limit is None else limit
    entries: dict[str, list[Path]] = {}
    with contextlib.suppress(OSError):
        for path in _cache_folder().iterdir():
            match = _KEY_IN_NAME.search(path.name)
            if match:
                entries.setdefault(match.group(1), []).append(path)
    sizes, used = {}, {}
    for key, paths in entries.items():
        with contextlib.suppress(OSError):
            if key in keep:
                for path in paths:
                    os.utime(path)
            stats = [path.stat() for path in paths]
            sizes[key] = sum(st.st_size for st in stats)
            used[key] = max(st.st_mtime for st in stats)
    total = sum(sizes.values())
    for key in sorted(used, key=used.get):
        if total <= limit:
            break
        if key not in keep:
            with contextlib.suppress(OSError):
                for path in entries[key]:
                    path.unlink(missing_ok=True)
            total -= sizes[key]


def logp_callback(n_dim, logp_fn, user_data, shared_keys, shared_data):
    """The log density and gradient callback (arguments as nutpie's ``_make_c_logp_func``)."""
    from nutpie.compile_pymc import make_extraction_fn

    extract = make_extraction_fn(logp_fn, shared_data, shared_keys, user_data.dtype)
    layout = _layout(user_data, shared_keys, shared_data)
    key = _cache_key("logp", logp_fn, (n_dim,), layout)
    callback = _instantiate(_logp_numba, {"N_DIM": n_dim, "EXTRACT": extract}, key)
    return callback, _signature("n", "x", "out", "logp")


def expand_callback(n_dim, n_expanded, expand_fn, user_data, shared_var_keys, shared_data):
    """The callback computing every stored variable (as nutpie's ``_make_c_expand_func``)."""
    from nutpie.compile_pymc import make_extraction_fn

    extract = make_extraction_fn(expand_fn, shared_data, shared_var_keys, user_data.dtype)
    layout = _layout(user_data, shared_var_keys, shared_data)
    key = _cache_key("expand", expand_fn, (n_dim, n_expanded), layout)
    constants = {"N_DIM": n_dim, "N_EXPANDED": n_expanded, "EXTRACT": extract}
    return _instantiate(_expand_numba, constants, key), _signature("n", "n", "x", "out")


def _logp_numba(dim, x_, out_, logp_, user_data_):
    if dim != N_DIM:
        return -1
    try:
        logp_val, grad = EXTRACT(CARRAY(x_, (N_DIM,)), user_data_)
    except Exception:  # the status code is the sampler's only channel
        return 1
    logp_[0] = logp_val
    finite = True
    for i in range(N_DIM):
        out_[i] = grad[i]
        if not np.isfinite(grad[i]):
            finite = False
    if not finite:
        return 3
    if not np.isfinite(logp_val):
        return 4
    return 0


def _expand_numba(dim, expanded, x_, out_, user_data_):
    if dim != N_DIM or expanded != N_EXPANDED:
        return -1
    try:
        (values,) = EXTRACT(CARRAY(x_, (N_DIM,)), user_data_)
    except Exception:  # the status code is the sampler's only channel
        return -2
    for i in range(N_EXPANDED):
        out_[i] = values[i]
    return 0


def _instantiate(template, constants: dict, key: str | None):
    """A copy of ``template`` whose globals are ``constants``, keyed for the disk cache."""
    import numba

    namespace = {"__builtins__": builtins, "__name__": __name__, "np": np, "CARRAY": numba.carray}
    namespace |= constants
    callback = types.FunctionType(template.__code__, namespace, template.__name__)
    callback.__qualname__ = template.__qualname__
    if _caching["on"]:
        if key is None:
            raise _Uncacheable
        _CACHE_KEYS[callback] = key
        _caching["keys"].append(key)
    return callback


def _layout(user_data, shared_keys, shared_data) -> list:
    """How the shared data sit in nutpie's user-data record, without nutpie's random names."""
    names = list(user_data.dtype["shared"]["data"].names or ())
    record = [int(np.ndim(shared_data[name])) for name in names]
    used = [
        (names.index(k), shared_data[k].dtype.str, [int(n) for n in shared_data[k].shape])
        for k in shared_keys
    ]
    return [record, used]


def _cache_key(kind: str, jit_fn, dims: tuple[int, ...], layout: list) -> str | None:
    """Everything the compiled callback depends on, hashed; None if PyTensor has no key."""
    import llvmlite
    import numba
    import nutpie
    import pytensor
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    graph = CACHED_SRC_FUNCTIONS.get(getattr(jit_fn, "py_func", None))
    if graph is None:
        return None
    versions = [m.__version__ for m in (numba, llvmlite, nutpie, pytensor)]
    source = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    parts = [kind, graph, [int(d) for d in dims], layout, versions, source]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _cache_allowed() -> bool:
    """PyTensor's numba cache is on, and numba will ask our locator (not one set by name)."""
    import numba
    import pytensor

    return bool(pytensor.config.numba__cache) and not numba.config.CACHE_LOCATOR_CLASSES


def _cache_folder() -> Path:
    """Where the callbacks are cached: ``callbacks/`` in PyTensor's numba cache folder."""
    from pytensor.link.numba.cache import NUMBA_CACHE_PATH

    return Path(NUMBA_CACHE_PATH) / "callbacks"


def _register_locator() -> None:
    """Put the callbacks' cache locator first in numba's list (once per process)."""
    if _LOCATOR:
        return
    from numba.core.caching import CacheImpl, _CacheLocator

    folder = _cache_folder()

    class CallbackLocator(_CacheLocator):
        """Directs numba to the callbacks' folder, with the callback's key as its name."""

        def __init__(self, key: str) -> None:
            self._key = key

        def ensure_cache_path(self) -> None:
            folder.mkdir(parents=True, exist_ok=True)

        def get_cache_path(self) -> str:
            return str(folder)

        def get_source_stamp(self) -> int:
            return 0  # the key holds this file's text

        def get_disambiguator(self) -> str:
            return self._key

        @classmethod
        def from_function(cls, py_func, py_file):
            key = _CACHE_KEYS.get(py_func)
            return None if key is None else cls(key)

    CacheImpl._locator_classes.insert(0, CallbackLocator)
    _LOCATOR.append(CallbackLocator)


def _signature(*pointers):
    import numba

    double_ptr = numba.types.CPointer(numba.types.double)
    args = [numba.types.uint64 if p == "n" else double_ptr for p in pointers]
    return numba.types.int64(*args, numba.types.voidptr)
