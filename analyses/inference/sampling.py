"""Sampling settings and the convergence gate every fit must pass to be certified."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import pymc as pm
import xarray as xr
from pydantic import BaseModel, ConfigDict, Field

from analyses.inference.diagnostics import gate_diagnostics

# The gate of SCIENCE.md section 7 (Vehtari et al. 2021 recommend R-hat <= 1.01 and bulk and
# tail ESS >= 400 with 4 chains).
RHAT_MAX = 1.01
ESS_MIN = 400
DIVERGENCES_MAX = 0
# Vehtari et al. (2021) define the tail ESS at the 5% and 95% quantiles (as ArviZ 0.x and the
# posterior R package do). arviz-stats takes an unset ``prob`` from ``stats.ci_prob`` (0.89),
# which would check the 11% and 89% quantiles instead, a weaker test: so it is always given.
TAIL_ESS_PROBS = (0.05, 0.95)


class SamplerSettings(BaseModel):
    """NUTS settings (nutpie): the ``[sampler]`` section of a run configuration.

    Serialisable and stored with every result. The seed has no default: it lives only in the
    configuration file, so every result names the seed it was drawn with.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    # Upper bounds catch slips (draws = 1e12 would run for days and fill the disk).
    draws: int = Field(default=1000, ge=100, le=100_000)
    tune: int = Field(default=1000, ge=100, le=100_000)
    chains: int = Field(default=4, ge=2, le=64)
    # 0.9 rather than 0.8: with few studies the non-centred heterogeneity parameters give a
    # few divergences at 0.8 (measured on this model's family), none at 0.9.
    target_accept: float = Field(default=0.9, gt=0.5, lt=1.0)
    seed: int = Field(ge=0, lt=2**32)
    prior_predictive_draws: int = Field(default=2000, ge=100, le=100_000)

    def stronger(self) -> SamplerSettings:
        """The retry after a failed gate: twice the draws and tuning, smaller steps."""
        return self.model_copy(
            update={
                "draws": 2 * self.draws,
                "tune": 2 * self.tune,
                "target_accept": max(0.99, self.target_accept),
            }
        )

    def attempts(self) -> tuple[SamplerSettings, ...]:
        """The settings a gated fit tries in turn, until one passes the gate.

        A retry after divergences alone keeps the first attempt's draws (see :func:`gated`).

        The last step (0.999, four times the tuning) is for a heavy-tailed posterior: under
        the half-Cauchy tau_beta scenario, trajectories starting at tau_beta of 3-7 diverged
        (1-3 in 8000 draws at 0.99 and 0.995, 1 at 0.999 with 2000 tuning steps, on some
        seeds); with 4000 tuning steps at 0.999 there were none (two seeds). A divergence is
        never waived: the adaptation gets longer and the steps smaller until there are none,
        and every attempt is recorded.
        """
        retry = self.stronger()
        last = retry.model_copy(
            update={"tune": 4 * self.tune, "target_accept": max(0.999, self.target_accept)}
        )
        return (self, retry, last)

    def to_dict(self) -> dict:
        return self.model_dump()


@dataclass(frozen=True)
class Diagnostics:
    """The convergence gate's findings for one fit."""

    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    divergences: int
    draws: int
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def only_divergent(self) -> bool:
        """Failed for divergent transitions alone (R-hat and ESS were fine)."""
        return self.divergences > 0 and len(self.failures) == 1

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def compile_model(model: pm.Model):
    """Compile the model's log density and gradient for nutpie (numba), once per fit.

    The gate's retries reuse it: compiling is most of a fit's cost (5.5 s of 7 s on the
    primary model), sampling the rest. Every compile of the toolkit comes through here, with
    the lean callbacks of :mod:`analyses.inference.callbacks`.
    """
    from analyses.inference.callbacks import compile_pymc_model

    return compile_pymc_model(model)


def chain_seed(seed: int, chains: int) -> int:
    """The seed nutpie gets, derived from the configuration's seed exactly as ``pm.sample`` does.

    So a fit compiled once here draws the same numbers as ``pm.sample(random_seed=seed)``.
    """
    rngs = np.random.default_rng(seed).spawn(chains)
    return int(rngs[0].integers(2**30))


def sample_posterior(model: pm.Model, settings: SamplerSettings, compiled=None) -> xr.DataTree:
    """Sample the model's posterior with nutpie; returns the DataTree (no progress bars).

    ``compiled`` (from :func:`compile_model`) skips compiling again. The result carries the
    observed and constant data groups, as ``pm.sample`` gives.
    """
    import nutpie
    from pymc.backends.arviz import patch_nutpie_idata

    compiled = compile_model(model) if compiled is None else compiled
    started = time.time()
    idata = nutpie.sample(
        compiled,
        draws=settings.draws,
        tune=settings.tune,
        chains=settings.chains,
        cores=min(4, os.cpu_count() or 1),
        seed=chain_seed(settings.seed, settings.chains),
        target_accept=settings.target_accept,
        progress_bar=False,
        save_warmup=False,
    )
    patch_nutpie_idata(idata, model, sampling_time=time.time() - started)
    return idata


def sample_compiled(compiled, data: dict, settings: SamplerSettings) -> xr.DataTree:
    """Sample a nutpie-compiled model with new shared data (no recompilation).

    Returns the ``posterior`` and ``sample_stats`` groups, built from nutpie's record batches
    by :func:`analyses.inference.trace.trace_from_arrow` (a refit's draws are never saved).
    """
    import nutpie

    from analyses.inference.trace import trace_from_arrow

    swapped = compiled.with_data(**data)
    raw = nutpie.sample(
        swapped,
        draws=settings.draws,
        tune=settings.tune,
        chains=settings.chains,
        seed=settings.seed,
        target_accept=settings.target_accept,
        progress_bar=False,
        save_warmup=False,
        return_raw_trace=True,
    )
    return trace_from_arrow(raw, swapped)


def convergence(
    idata: xr.DataTree, var_names: list[str] | None = None, expected_draws: int | None = None
) -> Diagnostics:
    """Check R-hat, bulk and tail ESS over the posterior variables, and divergences.

    Fails, never passes, on what it cannot check: a non-finite draw (an interrupted or broken
    chain), a missing divergence record, a non-finite diagnostic of a varying quantity, or
    fewer draws than ``expected_draws`` (chains x draws asked for).
    """
    posterior = idata["posterior"]
    names = list(posterior.data_vars) if var_names is None else var_names
    values = {v: posterior[v].transpose("chain", "draw", ...).values for v in names}
    broken = [v for v, a in values.items() if not np.isfinite(a).all()]
    draws = int(posterior.sizes.get("chain", 0) * posterior.sizes.get("draw", 0))
    failures = _unverifiable(idata, broken, draws, expected_draws)
    if draws == 0:  # stopped during tuning: nothing to check, and nothing to certify
        nan = float("nan")
        return Diagnostics(nan, nan, nan, _divergences(idata), 0, [*failures, "no draws"])
    # Constant variables (fixed priors, point ranges) have no R-hat or ESS to speak of.
    varies = {v: _varies(a) for v, a in values.items() if v not in broken}
    keep = {v: values[v] for v, moves in varies.items() if moves.any()}
    if not keep:
        nan = float("nan")
        failures = failures or ["no varying quantity whose convergence could be checked"]
        return Diagnostics(nan, nan, nan, _divergences(idata), draws, failures)
    # Elements that are constant by construction (e.g. the log hours of a study whose interval
    # is a point) give NaN diagnostics; they are skipped.
    found = gate_diagnostics(keep, TAIL_ESS_PROBS)
    worst_rhat = {v: _extreme(d.rhat, np.max) for v, d in found.items()}
    max_rhat = _extreme(np.array(list(worst_rhat.values())), np.max)
    min_bulk = _extreme(np.concatenate([d.bulk_ess.ravel() for d in found.values()]), np.min)
    min_tail = _extreme(np.concatenate([d.tail_ess.ravel() for d in found.values()]), np.min)
    divergences = _divergences(idata)
    failures += _undefined_diagnostics(varies, found)
    if max_rhat > RHAT_MAX:
        worst = max(worst_rhat, key=lambda v: np.nan_to_num(worst_rhat[v], nan=-np.inf))
        failures.append(f"R-hat {max_rhat:.3f} > {RHAT_MAX} (worst: {worst})")
    if min_bulk < ESS_MIN:
        failures.append(f"bulk ESS {min_bulk:.0f} < {ESS_MIN}")
    if min_tail < ESS_MIN:
        failures.append(f"tail ESS {min_tail:.0f} < {ESS_MIN}")
    if divergences > DIVERGENCES_MAX:
        failures.append(f"{divergences} divergent transitions")
    return Diagnostics(max_rhat, min_bulk, min_tail, divergences, draws, failures)


def _extreme(values: np.ndarray, fn) -> float:
    """``fn`` (max or min) of the finite values, or NaN when there are none."""
    finite = values[np.isfinite(values)]
    return float(fn(finite)) if finite.size else float("nan")


def _varies(draws: np.ndarray) -> np.ndarray:
    """Per element, whether its draws differ at all (max > min: a constant's SD can be 1e-16)."""
    return draws.max(axis=(0, 1)) > draws.min(axis=(0, 1))


def _divergences(idata: xr.DataTree) -> int:
    """The number of divergent transitions, or -1 when the trace does not record them."""
    if "sample_stats" not in idata or "diverging" not in idata["sample_stats"]:
        return -1
    return int(idata["sample_stats"]["diverging"].sum())


def _unverifiable(
    idata: xr.DataTree, broken: list[str], draws: int, expected: int | None
) -> list[str]:
    """What stops the gate from vouching for a trace at all."""
    out = []
    if broken:
        out.append(f"non-finite draws in {', '.join(sorted(broken))}")
    if expected is not None and draws < expected:
        out.append(f"{draws} draws where {expected} were asked for")
    if _divergences(idata) < 0:
        out.append("no record of divergent transitions")
    return out


def _undefined_diagnostics(varies: dict[str, np.ndarray], found: dict) -> list[str]:
    """Varying elements whose R-hat or ESS is not a number (a constant element may be NaN)."""
    out = sorted(
        name
        for name, d in found.items()
        if any((varies[name] & ~np.isfinite(v)).any() for v in (d.rhat, d.bulk_ess, d.tail_ess))
    )
    return [f"undefined R-hat or ESS for {', '.join(out)}"] if out else []


@dataclass(frozen=True)
class GatedFit:
    """A fit after the convergence gate: the draws, the verdict, and what it took."""

    idata: xr.DataTree
    diagnostics: Diagnostics
    settings: SamplerSettings
    attempts: list[dict]

    @property
    def certified(self) -> bool:
        return self.diagnostics.passed


def fit_with_gate(
    model: pm.Model,
    settings: SamplerSettings,
    var_names: list[str] | None = None,
    reuse: bool = False,
    inputs_key: str | None = None,
    posterior_only: bool = False,
) -> GatedFit:
    """Compile the model once, then sample it behind the gate (:func:`gated`).

    ``reuse``: take this process's compiled model of the same structure, with this model's
    data swapped in, when there is one (:func:`analyses.inference.compiled.compile_reusing`,
    which also says what ``inputs_key`` is). ``posterior_only``: the fit's DataTree holds the
    posterior and sampling statistics alone (no observed or constant data), read from
    nutpie's record batches (:func:`sample_compiled`: 0.1-0.2 s less a fit); the draws are
    the same.
    """
    if reuse:
        from analyses.inference.compiled import compile_reusing

        compiled, _ = compile_reusing(model, inputs_key)
    else:
        compiled = compile_model(model)
    if posterior_only:
        return gated(lambda attempt: _posterior_only(compiled, attempt), settings, var_names)
    return gated(lambda attempt: sample_posterior(model, attempt, compiled), settings, var_names)


def _posterior_only(compiled, settings: SamplerSettings) -> xr.DataTree:
    """:func:`sample_posterior`'s draws, with its seeds, through :func:`sample_compiled`."""
    seeded = settings.model_copy(update={"seed": chain_seed(settings.seed, settings.chains)})
    return sample_compiled(compiled, {}, seeded)


def gated(
    sample: Callable[[SamplerSettings], xr.DataTree],
    settings: SamplerSettings,
    var_names: list[str] | None = None,
) -> GatedFit:
    """Sample with each of :meth:`SamplerSettings.attempts` until the gate passes.

    ``sample`` draws one fit with the settings it is given (an already compiled model, so a
    retry costs sampling only). The last fit is kept whatever its verdict; an uncertified
    result is still returned, and the caller marks it NOT CERTIFIED.
    """
    attempts = []
    diagnostics = None
    for planned in settings.attempts():
        attempt = planned
        if diagnostics is not None and diagnostics.only_divergent:
            # More draws cannot remove a divergence; longer adaptation and smaller steps can.
            # Keeping the draws makes such a retry about half as costly.
            attempt = planned.model_copy(update={"draws": settings.draws})
        idata = sample(attempt)
        diagnostics = convergence(idata, var_names, attempt.chains * attempt.draws)
        attempts.append({"settings": attempt.to_dict(), "diagnostics": diagnostics.to_dict()})
        if diagnostics.passed:
            break
    return GatedFit(idata, diagnostics, attempt, attempts)
