"""`python -m analyses bench`: time the expensive steps and print the figures.

Measures, on this machine, in one process: evidence loading, building and sampling the
primary model, a refit through a compiled model against a rebuild, the exact and MCMC
meta-regressions, and (unless --no-suite) the sensitivity suite's wall time and time per
scenario. Nothing here asserts on time; it only reports.
"""

from __future__ import annotations

import logging
import statistics
import time

import numpy as np
import pandas as pd


def _timed(fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


def run_bench(suite: bool = True) -> dict[str, float]:
    """Run every benchmark; print a table; return the figures (seconds)."""
    logging.getLogger("pymc").setLevel(logging.WARNING)  # no per-variable sampling log
    figures: dict[str, float] = {}
    started = time.perf_counter()
    import nutpie  # noqa: F401
    import pymc  # noqa: F401  (import cost is part of every run)

    figures["import pymc + nutpie"] = time.perf_counter() - started
    from analyses.inference.config import load_config
    from models.evidence import load_evidence
    from models.priors import load_priors

    base, figures["load and check evidence"] = _timed(load_evidence)
    evidence = base.resolve()
    priors = load_priors("neutral", evidence.literature)
    settings = load_config()[0].sampler
    figures |= _primary_fits(evidence, priors, settings)
    figures |= _meta_regression(settings)
    if suite:
        figures |= _suite(base, evidence, priors)
    width = max(map(len, figures))
    print(f"{'benchmark':<{width}}  value")
    for name, value in figures.items():
        unit = "" if name.endswith(("models", "fits")) else " s"
        print(f"{name:<{width}}  {value:8.2f}{unit}")
    return figures


def _primary_fits(evidence, priors, settings) -> dict[str, float]:
    """Build, sample, rebuild, compile once and refit the primary model."""
    import nutpie

    from analyses.inference.sampling import sample_compiled, sample_posterior
    from models.blockade import build_blockade_model
    from models.priors import load_priors

    figures = {}
    model, figures["build primary model"] = _timed(build_blockade_model, evidence, priors)
    _, figures["primary fit, pm.sample (compile + 4x2000 iterations)"] = _timed(
        sample_posterior, model, settings
    )
    _, figures["primary fit again, rebuilt (warm caches)"] = _timed(
        lambda: sample_posterior(build_blockade_model(evidence, priors), settings)
    )
    compiled, figures["nutpie.compile_pymc_model once"] = _timed(nutpie.compile_pymc_model, model)
    refits = []
    for name in ("neutral", "sceptical", "opioid_favouring"):
        other = build_blockade_model(evidence, load_priors(name, evidence.literature))
        data = {v.name: v.get_value() for v in other.data_vars}
        _, seconds = _timed(sample_compiled, compiled, data, settings)
        refits.append(seconds)
    figures["refit via with_data (mean of 3 prior sets)"] = statistics.mean(refits)
    return figures


def _meta_regression(settings) -> dict[str, float]:
    """The 8-study meta-regression, by exact quadrature and by MCMC."""
    from analyses.inference.sampling import sample_posterior
    from models.exact import exact_posterior
    from models.meta_regression import MetaTable, build_meta_regression

    rng = np.random.default_rng(1)
    table = MetaTable(
        tuple(f"s{i}" for i in range(8)),
        rng.normal(0.5, 0.4, 8),
        rng.uniform(0.2, 0.6, 8),
        pd.DataFrame({"acute": [1.0, 0, 1, 0, 1, 0, 1, 0]}),
    )
    meta_priors = {
        "mu": {"dist": "normal", "mu": 0, "sigma": 1},
        "tau": {"dist": "halfnormal", "sigma": 0.5},
        "acute": {"dist": "normal", "mu": 0, "sigma": 1},
    }
    figures = {}
    _, figures["meta-regression, exact quadrature (8 studies)"] = _timed(
        exact_posterior, table, meta_priors
    )
    _, figures["meta-regression, MCMC (8 studies)"] = _timed(
        sample_posterior, build_meta_regression(table, meta_priors), settings
    )
    return figures


def _suite(base, evidence, priors) -> dict[str, float]:
    """The sensitivity suite after a primary fit: wall time, compiles, fits."""
    from analyses.inference.config import load_config
    from analyses.inference.fit import fit_analysis
    from analyses.suite.runner import run_suite

    config, _ = load_config()
    primary = fit_analysis(
        evidence,
        priors,
        config.model.options(),
        config.sampler,
        config.hypotheses.thresholds,
        config.hypotheses.primary_grid,
        config.hypotheses.permissive_grid,
        posterior_predictive=True,
    )
    result, seconds = _timed(run_suite, base, config, priors, primary, say=lambda _: None)
    return {
        "sensitivity suite, wall time": seconds,
        "sensitivity suite, per scenario (wall / fits)": seconds / max(result.refits, 1),
        "sensitivity suite, compiled models": float(result.compiles),
        "sensitivity suite, fits": float(result.refits),
        "sensitivity suite, mean fit time inside a worker": float(
            result.table.loc[result.table.seconds > 0, "seconds"].mean()
        ),
    }
