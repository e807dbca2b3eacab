"""A refit's draws straight from nutpie's Arrow record batches: the posterior and its stats.

nutpie turns its trace into a DataTree through ArviZ's ``from_dict``, and converts the warm-up
rows as well, only to drop them: about a fifth of a suite refit's time (0.1 of 0.5-0.7 s,
AMD EPYC, 2026-12-03). A refit needs the posterior draws, for the gate and the scenario's row,
and the per-draw sampler statistics, for the divergences; this builds exactly those, with the
names, dims and coords nutpie gives. ``tests/test_trace.py`` checks that the draws equal
nutpie's own conversion of the same run.
"""

from __future__ import annotations

import numpy as np
import pyarrow
import xarray as xr

SAMPLE_DIMS = ("chain", "draw")
# Per-draw bookkeeping, not a statistic of the draw (nutpie's converter leaves them out too).
NOT_STATS = ("chain", "draw")


def trace_from_arrow(raw, compiled) -> xr.DataTree:
    """``posterior`` and ``sample_stats`` groups from a raw nutpie trace (``return_raw_trace``).

    Only the draws after tuning are kept. A chain with fewer draws than the others (stopped
    early) is padded with NaN, as nutpie pads it, so the gate sees it and fails the fit.
    """
    draw_batches, stat_batches = raw.get_arrow_trace()
    tuned = [int(np.asarray(pyarrow.array(s.column("tuning"))).sum()) for s in stat_batches]
    skip = set(compiled.reparameterized_names)
    coords = {name: np.asarray(values) for name, values in compiled.coords.items()}
    posterior = _group(draw_batches, tuned, skip, coords, stats=False)
    stats = _group(stat_batches, tuned, set(NOT_STATS), coords, stats=True)
    return xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats})


def _group(batches, tuned: list[int], skip: set, coords: dict, stats: bool) -> xr.Dataset:
    """One group: every column not in ``skip`` (stats: numeric per-draw columns only)."""
    kept = [b.slice(t, b.num_rows - t) for b, t in zip(batches, tuned, strict=True)]
    length = max(b.num_rows for b in kept)
    variables = {}
    for name in kept[0].schema.names:
        if name in skip:
            continue
        columns = [pyarrow.array(b.column(name)) for b in kept]
        if stats and not _scalar_number(columns[0].type):
            continue  # vectors (mass matrix, gradients) and messages: not a refit's concern
        meta = kept[0].column(name).field.metadata or {}
        shape = [int(s) for s in meta.get(b"shape", b"").decode().split(",") if s]
        dims = [d for d in meta.get(b"dims", b"").decode().split(",") if d]
        values = np.stack([_padded(c, length, shape) for c in columns])
        dims = dims or [f"{name}_dim_{k}" for k in range(len(shape))]
        variables[name] = xr.Variable((*SAMPLE_DIMS, *dims), values)
    used = {d for v in variables.values() for d in v.dims}
    found = {d: c for d, c in coords.items() if d in used}
    chains = np.arange(len(batches))
    return xr.Dataset(variables, {"chain": chains, "draw": np.arange(length), **found})


def _scalar_number(kind) -> bool:
    types = pyarrow.types
    return types.is_floating(kind) or types.is_integer(kind) or types.is_boolean(kind)


def _padded(column, length: int, shape: list[int]) -> np.ndarray:
    """One chain's column as ``(draw, *shape)``, padded to ``length`` draws.

    As nutpie fills them: a missing value (a null, or a draw the chain did not make) is NaN
    in a float column and 0 in any other.
    """
    types = pyarrow.types
    kind = column.type
    is_list = types.is_list(kind) or types.is_large_list(kind) or types.is_fixed_size_list(kind)
    flat = column.flatten() if is_list else column
    if len(column) == length and column.null_count == 0 and flat.null_count == 0:
        # The usual case, every draw made and none missing: the values as they are, no mask
        # (a refit has 180 such columns, about 40 us each the long way).
        return flat.to_numpy(zero_copy_only=False).reshape(length, *shape)
    dtype = np.dtype(flat.type.to_pandas_dtype())
    fill = np.nan if dtype.kind == "f" else 0
    out = np.full((length, *shape), fill, dtype=dtype)
    present = ~np.asarray(column.is_null().to_numpy(zero_copy_only=False))
    if is_list:  # a null inside a draw's vector: filled as a missing draw is
        values = flat.fill_null(pyarrow.scalar(fill).cast(flat.type))
    else:
        values = flat.drop_null()
    out[: len(column)][present] = values.to_numpy(zero_copy_only=False).reshape(
        int(present.sum()), *shape
    )
    return out
