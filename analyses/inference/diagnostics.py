"""Rank-normalised split R-hat, bulk ESS and tail ESS for every element of a posterior at once.

The same estimators as arviz-stats (Vehtari et al. 2021; ``rhat(method="rank")``,
``ess(method="bulk")`` and ``ess(method="tail")``), written over a stack of all the elements
rather than one element at a time. The gate checks every fit with them, and a suite refit
spent about a third of its time in arviz-stats' per-element loop (147 sorts, each with its own
FFT and normal quantiles: 0.16-0.3 s per fit). ``tests/test_diagnostics.py`` checks agreement
with arviz-stats to rounding.

Inside, arrays are ``(element, chain, draw)``; every element must be finite (the gate sets
non-finite variables aside before it gets here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft
from scipy.special import ndtri

# Blom's (1958) offset for normal scores of ranks, as arviz-stats and the posterior R package.
BLOM = 3 / 8
# Elements diagnosed at once: the work arrays are about 19 times the draws' size, so a model
# with thousands of stored elements is taken in slices (256 x 4 chains x 1000 draws: ~150 MB).
CHUNK = 256


@dataclass(frozen=True)
class ElementDiagnostics:
    """One variable's R-hat, bulk ESS and tail ESS: arrays of the variable's own shape."""

    rhat: np.ndarray
    bulk_ess: np.ndarray
    tail_ess: np.ndarray


def gate_diagnostics(
    draws: Mapping[str, np.ndarray], tail_probs: tuple[float, float]
) -> dict[str, ElementDiagnostics]:
    """R-hat, bulk ESS and tail ESS of every element of every variable in ``draws``.

    ``draws`` maps a name to its finite draws, ``(chain, draw, *shape)``, computed in float64
    (other dtypes are cast). Each element's values are those of arviz-stats' ``rhat``,
    ``ess(method="bulk")`` and ``ess(method="tail", prob=tail_probs)`` on float64 draws.
    """
    stacked, unstack = _stack(draws)
    parts = [_diagnose(stacked[i : i + CHUNK], tail_probs) for i in range(0, len(stacked), CHUNK)]
    found = [np.concatenate([p[k] for p in parts]) if parts else np.empty(0) for k in range(3)]
    return {name: ElementDiagnostics(*arrays) for name, arrays in unstack(*found).items()}


def _diagnose(stacked: np.ndarray, tail_probs: tuple[float, float]) -> tuple[np.ndarray, ...]:
    """R-hat, bulk ESS and tail ESS of a stack of elements."""
    if stacked.shape[-1] < 4:  # arviz-stats' minimum
        nan = np.full(len(stacked), np.nan)
        return nan, nan, nan
    # The bulk R-hat and the bulk ESS share the normal scores of the split chains.
    split = split_chains(stacked)
    bulk = z_scale(split)
    return rank_rhat(split, bulk), ess(bulk), tail_ess(stacked, tail_probs)


def _stack(draws: Mapping[str, np.ndarray]):
    """All elements as one ``(element, chain, draw)`` array, and the way back to variables."""
    shapes = {name: a.shape[2:] for name, a in draws.items()}
    stacked = np.concatenate(
        [np.moveaxis(a, (0, 1), (-2, -1)).reshape(-1, *a.shape[:2]) for a in draws.values()]
    ).astype(float, copy=False)
    ends = np.cumsum([int(np.prod(shape, dtype=int)) for shape in shapes.values()])
    starts = np.concatenate(([0], ends[:-1]))

    def unstack(*found: np.ndarray) -> dict[str, list[np.ndarray]]:
        return {
            name: [f[start:end].reshape(shape) for f in found]
            for (name, shape), start, end in zip(shapes.items(), starts, ends, strict=True)
        }

    return stacked, unstack


def split_chains(x: np.ndarray) -> np.ndarray:
    """Each chain's first and last halves as chains of their own (an odd middle draw dropped)."""
    half = x.shape[-1] // 2
    return np.concatenate((x[..., :half], x[..., -half:]), axis=-2)


def z_scale(x: np.ndarray) -> np.ndarray:
    """Normal scores of the ranks within each element (average ranks for ties)."""
    flat = x.reshape(len(x), -1)
    return ndtri((average_ranks(flat) - BLOM) / (flat.shape[1] - 2 * BLOM + 1)).reshape(x.shape)


def average_ranks(flat: np.ndarray) -> np.ndarray:
    """Ranks (from 1) along each row, tied values sharing their average rank.

    scipy's ``rankdata(method="average")`` row by row, with an unstable sort (40% faster than
    scipy's stable one; ties get one rank whatever their order). NUTS repeats a draw now and
    then, so most elements of a fit have a tie.
    """
    rows, size = flat.shape
    order = np.argsort(flat, axis=1)
    ordered = np.take_along_axis(flat, order, axis=1)
    starts = np.ones(flat.shape, dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    first = np.flatnonzero(starts)  # where each run of equal values begins, row after row
    count = np.diff(np.append(first, flat.size))
    average = first % size + (count + 1) / 2
    ranks = np.empty(flat.shape)
    ranks[np.arange(rows)[:, None], order] = average[np.cumsum(starts) - 1].reshape(flat.shape)
    return ranks


def _rhat(x: np.ndarray) -> np.ndarray:
    """Gelman-Rubin R-hat of each element's chains."""
    draws = x.shape[-1]
    between = draws * np.var(x.mean(axis=-1), axis=-1, ddof=1)
    within = np.var(x, axis=-1, ddof=1).mean(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt((between / within + draws - 1) / draws)


def rank_rhat(split: np.ndarray, bulk: np.ndarray) -> np.ndarray:
    """Rank-normalised split R-hat of split chains: the larger of the bulk and folded R-hats.

    ``bulk`` is ``z_scale(split)``, which the bulk ESS shares.
    """
    if split.shape[-2] < 4:  # fewer than two chains before splitting
        return np.full(len(split), np.nan)
    folded = np.abs(split - np.median(split.reshape(len(split), -1), axis=1)[:, None, None])
    bulk_rhat, tail_rhat = _rhat(bulk), _rhat(z_scale(folded))
    # Python's max(bulk, tail), as arviz-stats takes it: a NaN folded R-hat (every folded draw
    # equal, as in a two-valued element split evenly) gives the bulk one, not NaN.
    return np.where(tail_rhat > bulk_rhat, tail_rhat, bulk_rhat)


def tail_ess(x: np.ndarray, probs: tuple[float, float]) -> np.ndarray:
    """Tail ESS: the smaller ESS of the indicators of the two quantiles ``probs``."""
    quantiles = np.quantile(x.reshape(len(x), -1), probs, axis=1)  # (prob, element)
    below = x <= quantiles[:, :, None, None]
    found = ess(split_chains(below.reshape(-1, *x.shape[1:])).astype(float))
    low, high = found.reshape(len(probs), len(x))
    return np.where(high < low, high, low)  # Python's min(low, high), as arviz-stats


def ess(x: np.ndarray) -> np.ndarray:
    """ESS of each element's chains, with Geyer's initial monotone sequence (as arviz-stats)."""
    chains, draws = x.shape[-2:]
    total = chains * draws
    acov = _autocov(x)
    mean_var = acov[..., 0].mean(axis=-1) * draws / (draws - 1.0)
    var_plus = mean_var * (draws - 1.0) / draws
    if chains > 1:
        var_plus = var_plus + np.var(x.mean(axis=-1), axis=-1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = 1.0 - (mean_var[:, None] - acov.mean(axis=-2)) / var_plus[:, None]
    rho[:, 0] = 1.0
    tau = _geyer_tau(rho, draws)
    with np.errstate(invalid="ignore", divide="ignore"):
        found = total / np.maximum(tau, 1 / np.log10(total))
    constant = np.ptp(x.reshape(len(x), -1), axis=1) < np.finfo(float).resolution
    return np.where(constant, float(total), found)


def _autocov(x: np.ndarray) -> np.ndarray:
    """Autocovariance of each chain at every lag, through the FFT."""
    draws = x.shape[-1]
    size = next_fast_len(2 * draws)
    centred = x - x.mean(axis=-1, keepdims=True)
    spectrum = rfft(centred, n=size, axis=-1)
    return irfft(spectrum * np.conjugate(spectrum), n=size, axis=-1)[..., :draws] / draws


def _geyer_tau(rho: np.ndarray, draws: int) -> np.ndarray:
    """The integrated autocorrelation time from autocorrelations ``rho`` (element, lag).

    arviz-stats' loop, vectorised: pairs of lags (2k, 2k+1) are summed while the sums stay
    positive (Geyer's initial positive sequence, lags below ``draws - 3``); the summed pairs
    are made non-increasing (the initial monotone sequence); the first non-positive pair's
    even lag is added when positive, or when its pair sums to exactly zero.
    """
    rows = np.arange(len(rho))
    # Pair k (lags 2k, 2k+1) is read for k = 1..last, as arviz-stats' loop reads them.
    last = max(0, (draws - 2) // 2 - (draws % 2 == 0))
    pairs = rho[:, 0 : 2 * last + 2 : 2] + rho[:, 1 : 2 * last + 2 : 2]
    stop = ~(pairs[:, 1:] > 0)  # NaN stops too
    # length: how many pairs the positive sequence read after the first.
    length = np.full(len(rho), last)
    if last > 0:
        length = np.where(stop.any(axis=1), stop.argmax(axis=1) + 1, last)
    length = np.where(pairs[:, 0] > 0, length, 0)
    running = np.cumsum(np.minimum.accumulate(pairs, axis=1), axis=1)
    kept = np.where(length > 0, running[rows, np.maximum(length - 1, 0)], 0.0)
    even = rho[rows, 2 * length]
    closing = pairs[rows, length] >= 0
    term = np.where((even > 0) | closing | (length == 0), even, 0.0)
    tau = -1.0 + 2.0 * kept + term
    # arviz-stats gives NaN when any autocorrelation it kept is NaN.
    read = np.arange(rho.shape[1]) < (2 * length)[:, None]
    undefined = np.isnan(np.where(read, rho, 0.0)).any(axis=1) | np.isnan(term)
    return np.where(undefined, np.nan, tau)
