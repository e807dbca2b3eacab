"""nutpie's compiled PyTensor functions, kept on disk so that a model compiles once per machine.

Of a warm compile of the primary model (numba's and the callbacks' disk caches full), about
four fifths is PyTensor rewriting the log density, its gradient and the deterministics: the
same rewrites of the same graph in every run. Here the rewritten and linked functions nutpie's
``_make_functions`` returns are pickled (cloudpickle: PyTensor's ``OpFromGraph`` holds local
functions) under a key of everything they are compiled from, and a later compile of the same
model unpickles them: PyTensor does not rewrite an unpickled function again
(``reoptimize_unpickled_function`` is off), and numba links it from its own disk cache.

The key (:func:`function_key`) is a sha256 of:

- the printed graphs of the log density and of every variable the trace stores, every
  constant in them by value, and every shared variable's value (the data the functions hold);
- the model's coords, its free variables' names and the initial point;
- nutpie's arguments (mode, gradient, joined output, variable names) and ``check_bounds``;
- the source of this package's model code (its own Ops' gradients and kernels), of this file,
  ``PYTENSOR_FLAGS``, and the versions of Python, numpy, PyTensor, PyMC, nutpie and numba.

A file that cannot be read or unpickled is removed and the model compiled afresh, and a model
that cannot be pickled is compiled as before: the cache can cost a compile, never a result.
Files live beside the callbacks' (``callbacks/`` in PyTensor's numba cache folder) and are
pruned with them (:func:`analyses.inference.callbacks.prune`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parents[2]
# The code whose changes change a compiled function without changing the printed graph: the
# custom Ops' gradients and kernels (models/), and this file's own choices.
_SOURCES = (PROJECT / "models", Path(__file__))
_PREFIX = "functions-"
# Set to "off", compiles neither read nor write the cache; an environment variable, so that
# the worker processes a run starts inherit it.
BYPASS_ENV = "KETAMINE_OPIOID_FUNCTION_CACHE"


def enabled() -> bool:
    """Whether compiles read and write this cache (see :func:`bypassed`)."""
    return os.environ.get(BYPASS_ENV, "on") != "off"


@contextlib.contextmanager
def bypassed() -> Iterator[None]:
    """Compile afresh inside this block, here and in the processes it starts: the
    benchmark's figures for a model's first compile on a machine."""
    before = os.environ.get(BYPASS_ENV)
    os.environ[BYPASS_ENV] = "off"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(BYPASS_ENV, None)
        else:
            os.environ[BYPASS_ENV] = before


def function_key(model, **arguments) -> str:
    """The key of the functions nutpie compiles from ``model`` with these ``arguments``."""
    import numba
    import nutpie
    import pymc
    import pytensor
    from pytensor.graph.basic import Constant
    from pytensor.graph.traversal import ancestors
    from pytensor.tensor.sharedvar import SharedVariable

    outputs = [model.logp(), *model.unobserved_value_vars]
    text = io.StringIO()
    pytensor.dprint(outputs, file=text, print_type=True)
    digest = hashlib.sha256(text.getvalue().encode())
    # A printed graph shows long constants cut short, and shared variables by name only.
    for node in ancestors(outputs):
        if isinstance(node, Constant):
            digest.update(np.asarray(node.data).tobytes())
        elif isinstance(node, SharedVariable):
            value = np.asarray(node.get_value(borrow=True))
            digest.update(f"{node.name}{value.dtype}{value.shape}".encode() + value.tobytes())
    digest.update(repr(sorted(model.coords.items())).encode())
    digest.update(repr([rv.name for rv in model.free_RVs]).encode())
    for name, value in sorted(model.initial_point().items()):
        digest.update(name.encode() + np.asarray(value, dtype=np.float64).tobytes())
    versions = [sys.version, np.__version__, pytensor.__version__, pymc.__version__]
    versions += [nutpie.__version__, numba.__version__, os.environ.get("PYTENSOR_FLAGS", "")]
    settings = [*sorted(arguments.items()), ("check_bounds", model.check_bounds)]
    digest.update(repr([versions, settings, _source_digest()]).encode())
    return digest.hexdigest()


def _source_digest() -> str:
    digest = hashlib.sha256()
    for source in _SOURCES:
        files = sorted(source.rglob("*.py")) if source.is_dir() else [source]
        for path in files:
            digest.update(path.relative_to(PROJECT).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


def cached_make_functions(make_functions: Callable, folder: Path, used: list[str]) -> Callable:
    """``make_functions`` (nutpie's ``_make_functions``), read from and written to ``folder``.

    Each key looked up is appended to ``used``, so that pruning keeps what was just used.
    """

    def make(model, *, pymc_initial_point_fn, **arguments):
        key = function_key(model, **arguments)
        used.append(key)
        path = folder / f"{_PREFIX}{key}.pkl"
        found = _load(path)
        if found is None:
            found = make_functions(model, pymc_initial_point_fn=pymc_initial_point_fn, **arguments)
            _store(path, found)
        return _with_initial_point(found, pymc_initial_point_fn, len(model.free_RVs))

    return make


def _load(path: Path):
    """The pickled functions at ``path``, or None (a file that fails to load is removed)."""
    import cloudpickle

    from models import paired_cells

    if not path.exists():
        return None
    # The functions link as they unpickle, and the crossover cells' kernel registers with
    # PyTensor's numba backend in the Op's make_node: building the model has run it, but a
    # caller that loads without building one would link the cells in object mode.
    paired_cells._register_numba()
    try:
        with path.open("rb") as f:
            found = cloudpickle.load(f)
        if not (isinstance(found, tuple) and len(found) == 6):
            raise ValueError(f"{path.name} holds {type(found).__name__}, not the functions")
    except Exception:  # truncated, stale or foreign: compile again, never fail a fit for it
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    with contextlib.suppress(OSError):
        path.touch()  # just used: pruned last
    return found


def _store(path: Path, made: tuple) -> None:
    """Pickle what ``_make_functions`` made (all but the initial-point function) to ``path``.

    A model that cannot be pickled is just not cached. The part-written file is named after
    the entry (``<entry>.<random>.part``), so that pruning removes one a killed run left.
    """
    import cloudpickle

    n_dim, n_expanded, logp_fn, expand_fn, _, shape_info, reparameterized = made
    stored = (n_dim, n_expanded, logp_fn, expand_fn, shape_info, reparameterized)
    partial = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        prefix, suffix = f"{path.stem}.", ".part"
        with tempfile.NamedTemporaryFile(
            dir=path.parent, prefix=prefix, suffix=suffix, delete=False
        ) as f:
            partial = Path(f.name)
            cloudpickle.dump(stored, f)
        os.replace(partial, path)  # atomic: another process reads the old file or the new
    except Exception:
        if partial is not None:
            partial.unlink(missing_ok=True)


def _with_initial_point(found: tuple, pymc_initial_point_fn, n_free: int) -> tuple:
    """``_make_functions``'s return value, with this model's initial-point function."""
    from nutpie.compile_pymc import _rv_dict_to_flat_array_wrapper

    if len(found) == 7:  # compiled just now: it carries its own
        return found
    n_dim, n_expanded, logp_fn, expand_fn, shape_info, reparameterized = found
    names, _, shapes = shape_info
    initial_point_fn = _rv_dict_to_flat_array_wrapper(
        pymc_initial_point_fn, names=names[:n_free], shapes=shapes[:n_free]
    )
    return n_dim, n_expanded, logp_fn, expand_fn, initial_point_fn, shape_info, reparameterized
