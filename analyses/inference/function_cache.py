"""nutpie's compiled PyTensor functions, kept on disk so that a model compiles once per machine.

Of a warm compile of the primary model (numba's and the callbacks' disk caches full), about
four fifths is PyTensor rewriting the log density, its gradient and the deterministics: the
same rewrites of the same graph in every run. Here the rewritten and linked functions nutpie's
``_make_functions`` returns are pickled (cloudpickle: PyTensor's ``OpFromGraph`` holds local
functions) under a key of everything they are compiled from, and a later compile of the same
model unpickles them: PyTensor does not rewrite an unpickled function again
(``reoptimize_unpickled_function`` is off), and numba links it from its own disk cache.

The key (:func:`function_key`) is a sha256 of:

- the printed graphs (with types) of the log density and of every variable the trace stores;
- what a printed graph leaves out (:func:`hash_graph`): every constant and shared value by
  its bytes, every Op by its class and properties, the same inside inner graphs
  (``OpFromGraph``, ``Scan``), and the source file of every Op's class outside the versioned
  packages (an Op's gradient and kernel are code, not graph);
- the model's coords and its free variables' names;
- nutpie's arguments (mode, gradient, joined output, variable names) and ``check_bounds``;
- the text of ``models/`` and of this file, ``PYTENSOR_FLAGS``, and the versions of Python,
  numpy, PyTensor, PyMC, nutpie and numba.

Not the initial point: nutpie gets it from the model's own function, built anew each time (a
random initial value would otherwise make every key new). A model with an Op whose class has
no source file (defined in a notebook) is compiled without the cache. A file that cannot be
read or unpickled, or holds another model's free variables, is removed and the model compiled
afresh, and a model that cannot be pickled is compiled as before: the cache can cost a
compile, never a result.

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
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parents[2]
# Code that changes a compiled function without changing the printed graph, beyond each Op's
# own file (keyed anyway): the helpers our Ops' kernels call (models/), this file, and the
# rewrite the functions are compiled with (the printed graph is the one before it).
_SOURCES = (PROJECT / "models", Path(__file__), Path(__file__).with_name("graph_rewrites.py"))
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


def function_key(model, **arguments) -> str | None:
    """The key of the functions nutpie compiles from ``model`` with these ``arguments``.

    None where an Op of the graph has no source file to key its code by (a class defined in
    a notebook): such a model compiles without the cache.
    """
    import numba
    import nutpie
    import pymc
    import pytensor

    outputs = [model.logp(), *model.unobserved_value_vars]
    text = io.StringIO()
    pytensor.dprint(outputs, file=text, print_type=True)
    digest = hashlib.sha256(text.getvalue().encode())
    sources = hash_graph(outputs, digest)
    if sources is None:
        return None
    digest.update(repr(sorted(model.coords.items())).encode())
    digest.update(repr([rv.name for rv in model.free_RVs]).encode())
    versions = [sys.version, np.__version__, pytensor.__version__, pymc.__version__]
    versions += [nutpie.__version__, numba.__version__, os.environ.get("PYTENSOR_FLAGS", "")]
    settings = [*sorted(arguments.items()), ("check_bounds", model.check_bounds)]
    code = [_file_digest(path) for path in sorted(sources | set(_project_sources()))]
    digest.update(repr([versions, settings, code]).encode())
    return digest.hexdigest()


def hash_graph(outputs: list, digest, shared_values: bool = True) -> set[Path] | None:
    """Add what the printed graph leaves out to ``digest``; return the Ops' source files.

    A printed graph shows long constants cut short (and to eight digits), shared variables by
    name, an Op as its ``__str__`` chooses (PyMC's parameter check hides whether it may become
    -inf), and neither the constants inside an inner graph (``OpFromGraph``, ``Scan``) nor an
    Op's code: so every constant (and, with ``shared_values``, every shared value) by its
    bytes, every Op by its class and properties, every inner graph likewise, and the file of
    every Op's class. None if an Op's class has no file (the digest is complete all the same).
    Also the in-process key of a model structure
    (:func:`analyses.inference.compiled.structure_key`), which leaves the shared values out:
    they are the data a compiled model swaps.

    Every node adds its Op's text, whether or not it shares the Op object with another node:
    which nodes share one depends on PyTensor's caches of Ops and so on what the process did
    before (two builds of one model got different keys in a test process that had run other
    tests first). An Op's text, with its inner graph's digest, is computed once per object.
    """
    sources: set[Path] = set()
    texts: dict[int, bytes | None] = {}
    _hash_nodes(list(outputs), digest, shared_values, texts, sources)
    unkeyable = any(text is None for text in texts.values())
    sources.discard(_VERSIONED)
    return None if unkeyable else sources


def _hash_nodes(outputs, digest, shared_values: bool, texts: dict, sources: set) -> None:
    """:func:`hash_graph`'s walk: constants, shared values and each node's Op, in graph order."""
    from pytensor.graph.basic import Constant
    from pytensor.graph.traversal import ancestors
    from pytensor.tensor.sharedvar import SharedVariable

    for var in ancestors(outputs):
        if isinstance(var, Constant):
            digest.update(_array_bytes(var.data))
        elif isinstance(var, SharedVariable) and shared_values:
            digest.update(str(var.name).encode() + _array_bytes(var.get_value(borrow=True)))
        op = var.owner.op if var.owner is not None else None
        if op is None:
            continue
        if id(op) not in texts:
            texts[id(op)] = _op_digest(op, shared_values, texts, sources)
        digest.update(texts[id(op)] or _op_text(op).encode())


def _op_digest(op, shared_values: bool, texts: dict, sources: set) -> bytes | None:
    """An Op's text and its inner graph's digest; None for an Op with no source file."""
    inner_digest = hashlib.sha256(_op_text(op).encode())
    inner = getattr(op, "fgraph", None)
    if inner is not None:
        _hash_nodes(list(inner.outputs), inner_digest, shared_values, texts, sources)
    source = _op_source(op)
    sources.add(source)
    return None if source is None else inner_digest.digest()


def _array_bytes(value) -> bytes:
    array = np.asarray(value)
    return f"{array.dtype}{array.shape}".encode() + array.tobytes()


def _op_text(op) -> str:
    """An Op's class and properties, whatever its ``__str__`` shows."""
    kind = f"{type(op).__module__}.{type(op).__qualname__}"
    props = [(name, _plain(getattr(op, name, None))) for name in getattr(op, "__props__", ())]
    return f"{kind}|{op}|{props}"


def _plain(value) -> str:
    if isinstance(value, str | int | float | bool | type(None) | np.dtype | np.generic):
        return repr(value)
    if isinstance(value, tuple | list):
        return repr([_plain(v) for v in value])
    if isinstance(value, np.ndarray):
        return hashlib.sha256(_array_bytes(value)).hexdigest()
    return f"{type(value).__module__}.{type(value).__qualname__}:{value}"


# Ops of these packages are keyed by the packages' versions, not their files.
_VERSIONED_PACKAGES = ("pytensor", "pymc", "nutpie", "numba", "numpy")
_VERSIONED = Path("<versioned>")


def _op_source(op) -> Path | None:
    """The file of the Op's class (its gradient and kernel); None if it has none."""
    module = sys.modules.get(type(op).__module__)
    if module is not None and module.__name__.split(".")[0] in _VERSIONED_PACKAGES:
        return _VERSIONED
    filename = getattr(module, "__file__", None)
    return Path(filename).resolve() if filename else None


def _project_sources() -> list[Path]:
    return [p for s in _SOURCES for p in (sorted(s.rglob("*.py")) if s.is_dir() else [s])]


_FILE_DIGESTS: dict[tuple, str] = {}


def _file_digest(path: Path) -> str:
    """A file's name and sha256, remembered while its size and time stay the same."""
    stat = path.stat()
    stamp = (path, stat.st_size, stat.st_mtime_ns)
    if stamp not in _FILE_DIGESTS:
        _FILE_DIGESTS[stamp] = f"{path.name}:{hashlib.sha256(path.read_bytes()).hexdigest()}"
    return _FILE_DIGESTS[stamp]


def cached_make_functions(make_functions: Callable, folder: Path, used: list[str]) -> Callable:
    """``make_functions`` (nutpie's ``_make_functions``), read from and written to ``folder``.

    Each key looked up is appended to ``used``, so that pruning keeps what was just used.
    """

    def make(model, *, pymc_initial_point_fn, **arguments):
        key = function_key(model, **arguments)
        if key is None:
            return make_functions(model, pymc_initial_point_fn=pymc_initial_point_fn, **arguments)
        used.append(key)
        path = folder / f"{_PREFIX}{key}.pkl"
        names = [model.rvs_to_values[rv].name for rv in model.free_RVs]
        found = _load(path, names)
        if found is None:
            found = make_functions(model, pymc_initial_point_fn=pymc_initial_point_fn, **arguments)
            _store(path, found)
        return _with_initial_point(found, pymc_initial_point_fn, len(names))

    return make


def _load(path: Path, names: list[str]):
    """The pickled functions at ``path``, or None (a file that fails to load is removed).

    ``names`` are the model's free variables (value variables, in order): an entry for others
    (a file copied or renamed) is refused as a broken one is.
    """
    import cloudpickle

    from analyses.inference import graph_rewrites
    from models import paired_cells

    if not path.is_file():
        return None
    # The functions link as they unpickle, so our Ops' kernels must be registered with
    # PyTensor's numba backend first, or they would link in object mode. The crossover cells'
    # registers in the Op's make_node (building the model has run it, but a caller that loads
    # without building one would not have); the rewrite's only where the rewrite runs, which a
    # function read from here skips.
    paired_cells._register_numba()
    graph_rewrites.register_kernel()
    try:
        with path.open("rb") as f:
            found = cloudpickle.load(f)
        _check_entry(found, names)
    except Exception:  # truncated, stale or foreign: compile again, never fail a fit for it
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    with contextlib.suppress(OSError):
        path.touch()  # just used: pruned last
    return found


def _check_entry(found, names: list[str]) -> None:
    """Raise unless ``found`` is what :func:`_store` writes, for these free variables."""
    n_dim, n_expanded, logp_fn, expand_fn, shape_info, reparameterized = found
    stored, slices, shapes = shape_info
    size = sum(int(np.prod(shape)) for shape in shapes[: len(names)])
    if list(stored[: len(names)]) != names or n_dim != size or n_expanded < n_dim:
        raise ValueError("an entry for another model")
    functions = callable(logp_fn) and callable(expand_fn)
    if not (functions and len(slices) == len(shapes) and isinstance(reparameterized, list)):
        raise ValueError("not the functions")


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
        _remove_stale_parts(path)
        prefix, suffix = f"{path.stem}.", ".part"
        with tempfile.NamedTemporaryFile(
            dir=path.parent, prefix=prefix, suffix=suffix, delete=False
        ) as f:
            partial = Path(f.name)
            cloudpickle.dump(stored, f)
        os.replace(partial, path)  # atomic: another process reads the old file or the new
    except BaseException as err:
        if partial is not None:
            with contextlib.suppress(OSError):
                partial.unlink()
        if not isinstance(err, Exception):
            raise  # an interrupt still interrupts, without a part file left behind


# A part file this old is a killed write's (a write takes well under a second).
STALE_PART_SECONDS = 3600


def _remove_stale_parts(path: Path) -> None:
    """Remove part files of this entry that a killed process left behind."""
    now = time.time()
    for part in path.parent.glob(f"{path.stem}.*.part"):
        with contextlib.suppress(OSError):
            if now - part.stat().st_mtime > STALE_PART_SECONDS:
                part.unlink()


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
