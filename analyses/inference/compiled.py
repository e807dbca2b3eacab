"""Compile a model structure once per process, and refit new data by swapping it in.

A simulation study (SBC, the design analysis) fits many models that differ only in their
observations. Built with ``ModelOptions(observations_as_data=True)`` they share one log-density
graph whose observations are named data, so a process (a Dask worker) compiles the first and
gives every later one its data through nutpie's ``with_data``, skipping the compile (5-20 s of
a 10-30 s fit).
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

import numpy as np

# Structures kept per process: SBC has one design; a design analysis takes its sample sizes in
# turn (up to 20, analyses/design/spec.py), so each worker must keep every size's model, or it
# would compile nearly every simulation again (tests/test_design.py checks the two agree).
MAX_CACHED = 24
_COMPILED: dict[str, Any] = {}
# The first compile of a process, not yet keyed: (model, compiled). Keying costs about 1 s
# (printing and hashing the graph), and a command-line run fits one model per process, so the
# key is computed only when a second model arrives to be compared with it.
_UNKEYED: list[tuple[Any, Any]] = []
# A caller's key of what a model was built from -> its structure key (see compile_reusing).
_BY_INPUTS: dict[str, str] = {}
# Inputs keys remembered for models compiled under another inputs key (a structure several
# designs share): beyond this, such a model's structure is hashed again (about 0.8 s), never
# wrong.
MAX_INPUTS_KEYS = 4 * MAX_CACHED


def structure_key(model) -> str:
    """A hash of the model's log-density graph and of every constant in it, and its coords.

    Two models with the same key compile to the same function and start from the same point;
    only their shared data (the named ``pm.Data``) may differ. What a printed graph leaves out
    (constants cut short, constants inside inner graphs, an Op's properties) is hashed as the
    disk cache of compiled functions hashes it
    (:func:`analyses.inference.function_cache.hash_graph`), but for the shared values. Only
    the log density's graph is hashed: every deterministic of the blockade model feeds it.
    """
    import pytensor

    from analyses.inference.function_cache import hash_graph

    logp = model.logp()
    text = io.StringIO()
    pytensor.dprint(logp, file=text)
    digest = hashlib.sha256(text.getvalue().encode())
    hash_graph([logp], digest, shared_values=False)
    digest.update(repr(sorted(model.coords.items())).encode())
    # nutpie's with_data swaps data but keeps the first model's initial-point function: two
    # models whose starting points differ (a prior's location held as data) must not share.
    for name, value in sorted(model.initial_point().items()):
        digest.update(name.encode() + np.asarray(value, dtype=np.float64).tobytes())
    return digest.hexdigest()


def compile_reusing(model, inputs_key: str | None = None):
    """The model compiled for nutpie: compiled afresh once per structure, then with new data.

    ``inputs_key`` names what the model was built from apart from its observations (a design
    analysis's design, sample size, study files and configuration): models with one
    ``inputs_key`` have one structure, since their observations are data
    (``ModelOptions(observations_as_data=True)``), so its structure key is computed once, not
    for every model (about 0.8 s each; ``tests/test_design.py`` checks that the candidate
    models of one sample size do share a structure key).

    Returns
    -------
    (compiled, fresh)
        The nutpie compiled model holding this model's data, and whether it was compiled now.
    """
    from analyses.inference.sampling import compile_model

    if not _COMPILED and not _UNKEYED:
        compiled = compile_model(model)
        _UNKEYED.append((model, compiled, inputs_key))
        return compiled, True
    if inputs_key and _UNKEYED and _UNKEYED[0][2] == inputs_key:
        return _with_data(_UNKEYED[0][1], model), False  # no key needed yet
    while _UNKEYED:
        first, first_compiled, first_inputs = _UNKEYED.pop()
        _remember(structure_key(first), first_compiled, first_inputs)
    key = _BY_INPUTS.get(inputs_key) if inputs_key else None
    if key is None or key not in _COMPILED:
        key = structure_key(model)
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = compile_model(model)
        _remember(key, compiled, inputs_key)
        return compiled, True
    if inputs_key and len(_BY_INPUTS) < MAX_INPUTS_KEYS:
        _BY_INPUTS[inputs_key] = key
    return _with_data(compiled, model), False


def _with_data(compiled, model):
    data = {v.name: v.get_value() for v in model.data_vars}
    return compiled.with_data(**data) if data else compiled


def _remember(key: str, compiled, inputs_key: str | None) -> None:
    if len(_COMPILED) >= MAX_CACHED:
        evicted = next(iter(_COMPILED))
        del _COMPILED[evicted]
        # Its inputs keys would only send a caller to hash the graph again: drop them, so
        # the map stays as bounded as the compiled models it points to.
        for stale in [k for k, v in _BY_INPUTS.items() if v == evicted]:
            del _BY_INPUTS[stale]
    _COMPILED[key] = compiled
    if inputs_key:
        _BY_INPUTS[inputs_key] = key


def clear() -> None:
    """Forget every compiled model of this process (tests use it to force a compile)."""
    _COMPILED.clear()
    _UNKEYED.clear()
    _BY_INPUTS.clear()
