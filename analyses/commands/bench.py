"""`python -m analyses bench`: time the expensive steps, print them beside their targets.

Measures, on this machine: the primary model's compile and fit, with nutpie and with PyMC's
own NUTS; a masked refit of a two-variant model against rebuilding and sampling; the median
refit over every scenario, each on its suite model; the meta-regression by MCMC and by exact
quadrature; the suite through one model per moderator form against one compile per structure;
and (unless ``--no-runs``) the command line end to end. Every ratio is measured in the same
run. Writes ``bench.json``; nothing here asserts on time.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from models.evidence.problems import InputError
from models.paths import ROOT

# The figures issue 11 measured before this work, and its targets (seconds).
BEFORE = {
    "primary fit, compile + sample (was pm.sample)": 11.9,
    "nutpie compile, primary model": 7.1,
    "refit via with_data": 1.02,
    "meta-regression, exact (8 studies)": 3.0,
    "suite, wall": 113.8,
    "run, end to end": 105.0,  # 90-120 s
    "run --quick": 54.0,
}
TARGETS = {
    "run, end to end": 45.0,
    "run --quick": 15.0,
    "median refit": 0.3,
    "meta-regression, exact (100 studies)": 0.1,
    "make test": 240.0,
}


def _timed(fn: Callable, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


def run_bench(
    suite: bool = True, runs: bool = True, out: Path | None = None, dask: bool = True
) -> dict:
    """Run every benchmark, print the table, write ``bench.json``; returns what it wrote."""
    from analyses.commands.preflight import output_file_problems

    path = Path(out or ROOT / "results" / "bench.json")
    problems = output_file_problems(path, "--out")
    if problems:
        raise InputError(problems)
    logging.getLogger("pymc").setLevel(logging.WARNING)  # no per-variable sampling log
    started = time.perf_counter()
    import nutpie  # noqa: F401
    import pymc  # noqa: F401  (import cost is part of every run)

    seconds = {"import pymc + nutpie": time.perf_counter() - started}
    from analyses.inference.config import load_config
    from models.evidence import load_evidence
    from models.priors import load_priors

    base = load_evidence()
    config, _ = load_config()
    priors = load_priors(config.analysis.priors, base.literature)
    ratios: dict[str, float] = {}
    for part in (_primary, _masked_refit, _median_refit, _meta_regression):
        part(base, priors, config, seconds, ratios)
    if suite:
        _suites(base, priors, config, seconds, ratios)
    if runs:
        _command_line(seconds)
    if dask:
        _dask_throughput(seconds, ratios)
    record = _record(seconds, ratios, time.perf_counter() - started)
    _print(record)
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.partial")  # an earlier bench.json stays whole
    staged.write_text(json.dumps(record, indent=2) + "\n")
    staged.replace(path)
    print(f"\nwritten: {path}")
    return record


def _ess_per_second(idata, seconds: float) -> dict[str, float]:
    import xarray as xr
    from arviz_stats import ess

    post = idata["posterior"]
    names = ("beta_acute", "beta_sustained")
    bulk = ess(xr.Dataset({name: post[name] for name in names}), method="bulk")
    return {name: float(bulk[name]) / seconds for name in names}


def _primary(base, priors, config, seconds: dict, ratios: dict) -> None:
    """The primary model: compile once, sample with nutpie, and with PyMC's own NUTS."""
    import pymc as pm

    from analyses.inference.callbacks import compile_pymc_model
    from analyses.inference.function_cache import bypassed
    from analyses.inference.sampling import compile_model, sample_compiled, sample_posterior
    from models.blockade import build_blockade_model

    settings = config.sampler
    evidence = base.resolve()
    model, seconds["build primary model"] = _timed(build_blockade_model, evidence, priors)
    fit_key = "primary fit, compile + sample (was pm.sample)"
    _, seconds[fit_key] = _timed(sample_posterior, model, settings)
    compiled, seconds["nutpie compile, primary model"] = _timed(compile_model, model)
    with bypassed():  # what compile_model costs without the rewritten functions from disk
        _, afresh = _timed(compile_model, model)
    seconds["nutpie compile, primary model, rewritten afresh"] = afresh
    ratios["compile, rewritten afresh / functions from disk, primary model"] = (
        afresh / seconds["nutpie compile, primary model"]
    )
    # nutpie's own callbacks second, so they meet the caches this process has warmed; ours
    # come from numba's disk cache once a machine has compiled this model (a new model's
    # first compile on a machine pays for them, as nutpie's do in every process). Both
    # rewrite the functions afresh, so that the ratio is the callbacks' alone.
    own = partial(compile_pymc_model, own_callbacks=False)
    _, seconds["nutpie compile, primary model, nutpie's own callbacks"] = _timed(own, model)
    ratios["compile, nutpie's own callbacks / ours, primary model"] = (
        seconds["nutpie compile, primary model, nutpie's own callbacks"] / afresh
    )
    idata, nutpie_s = _timed(sample_compiled, compiled, {}, settings)
    seconds["nutpie sampling only, primary model"] = nutpie_s
    with model:
        pymc_idata, pymc_s = _timed(
            pm.sample,
            draws=settings.draws,
            tune=settings.tune,
            chains=settings.chains,
            cores=1,
            random_seed=settings.seed,
            nuts_sampler="pymc",
            nuts={"target_accept": settings.target_accept},
            progressbar=False,
            compute_convergence_checks=False,
        )
    seconds["PyMC NUTS (compile + sample), primary model"] = pymc_s
    ratios["pm.sample with PyMC NUTS / nutpie, primary (compile + sample)"] = pymc_s / (
        seconds["nutpie compile, primary model"] + nutpie_s
    )
    for name, value in _ess_per_second(idata, nutpie_s).items():
        ratios[f"ESS per second, {name}, nutpie (sampling only)"] = value
    for name, value in _ess_per_second(pymc_idata, pymc_s).items():
        ratios[f"ESS per second, {name}, PyMC NUTS (compile + sample)"] = value


def _masked_refit(base, priors, config, seconds: dict, ratios: dict) -> None:
    """Leave Jelen 2025 out: data of the compiled model, against rebuild, compile and sample."""
    from analyses.inference.function_cache import bypassed
    from analyses.inference.sampling import compile_model, sample_compiled
    from models.blockade import Variant, build_blockade_model, build_variants_model

    evidence = base.resolve()
    kept = [s.id for s in evidence.studies if s.id != "jelen2025"]
    without = evidence.subset(kept)
    union, data = build_variants_model([Variant(evidence, priors), Variant(without, priors)])
    compiled = compile_model(union)
    _, masked = _timed(sample_compiled, compiled, data[1], config.refit_sampler)

    def rebuild():
        model = build_blockade_model(without, priors)
        return sample_compiled(compile_model(model), {}, config.refit_sampler)

    with bypassed():  # a scenario's own model, compiled for the first time
        _, rebuilt = _timed(rebuild)
    seconds["masked refit (leave out jelen2025)"] = masked
    seconds["rebuild, compile and sample without jelen2025"] = rebuilt
    ratios["rebuild-and-sample / masked refit"] = rebuilt / masked


def _median_refit(base, priors, config, seconds: dict, ratios: dict) -> None:
    """Every scenario of the suite, refitted in turn on its compiled model (one process).

    The suite's models are one per timing-moderator form; the main one (of most scenarios)
    has its build and compile timed.
    """
    from analyses.inference.sampling import compile_model, sample_compiled
    from analyses.suite.scenarios import build_scenarios, refitted
    from analyses.suite.worker import model_groups, variant_for
    from models.blockade import build_variants_model

    scenarios = refitted(build_scenarios(base, config, priors))
    variants = [variant_for(base, sc) for sc in scenarios]
    groups = model_groups(scenarios)
    main = max(groups, key=len)
    times = []
    for members in groups:
        chosen = [variants[i] for i in members]
        (model, data), built = _timed(build_variants_model, chosen)
        compiled, compiling = _timed(compile_model, model)
        if members is main:
            seconds["build the suite's main model"] = built
            seconds["nutpie compile, the suite's main model"] = compiling
        times += [_timed(sample_compiled, compiled, d, config.refit_sampler)[1] for d in data]
    ratios["suite models"] = float(len(groups))
    seconds["median refit"] = statistics.median(times)
    seconds["slowest refit"] = max(times)
    ratios["refits timed"] = float(len(times))


def _meta_regression(base, priors, config, seconds: dict, ratios: dict) -> None:
    """The normal-normal meta-regression: MCMC against exact quadrature, 8 and 100 studies."""
    from analyses.inference.sampling import sample_posterior
    from models.exact import exact_posterior
    from models.meta_regression import MetaTable, build_meta_regression

    rng = np.random.default_rng(1)
    meta_priors = {
        "mu": {"dist": "normal", "mu": 0, "sigma": 1},
        "tau": {"dist": "halfnormal", "sigma": 0.5},
        "acute": {"dist": "normal", "mu": 0, "sigma": 1},
    }

    def table(n: int) -> MetaTable:
        acute = pd.DataFrame({"acute": (np.arange(n) % 2).astype(float)})
        ids = tuple(f"s{i}" for i in range(n))
        return MetaTable(ids, rng.normal(0.5, 0.4, n), rng.uniform(0.2, 0.6, n), acute)

    exact_posterior(table(3), meta_priors)  # the quadrature nodes are computed once
    eight, hundred = table(8), table(100)
    _, exact8 = _timed(exact_posterior, eight, meta_priors)
    _, seconds["meta-regression, exact (100 studies)"] = _timed(
        exact_posterior, hundred, meta_priors
    )
    _, mcmc8 = _timed(sample_posterior, build_meta_regression(eight, meta_priors), config.sampler)
    seconds["meta-regression, exact (8 studies)"] = exact8
    seconds["meta-regression, MCMC (8 studies)"] = mcmc8
    ratios["meta-regression MCMC / exact (8 studies)"] = mcmc8 / exact8


def _suites(base, priors, config, seconds: dict, ratios: dict) -> None:
    """The suite through one model per moderator form, and the old way (one per structure)."""
    from analyses.inference.fit import fit_analysis
    from analyses.inference.function_cache import bypassed
    from analyses.suite.runner import run_suite

    primary = fit_analysis(
        base.resolve(config.analysis.readings),
        priors,
        config.model.options(),
        config.sampler,
        config.hypotheses.thresholds,
        config.hypotheses.primary_grid,
        config.hypotheses.permissive_grid,
        posterior_predictive=True,
    )
    quiet = lambda _: None  # noqa: E731
    new, seconds["suite, wall"] = _timed(run_suite, base, config, priors, primary, say=quiet)
    with bypassed():  # before: every structure rewritten and compiled in every run
        old, seconds["suite, one compile per structure (before)"] = _timed(
            run_suite, base, config, priors, primary, say=quiet, one_model=False
        )
    ratios["suite compiles, one model per moderator form"] = float(new.compiles)
    ratios["suite compiles, per structure (before)"] = float(old.compiles)
    ratios["suite fits"] = float(new.refits)
    ratios["suite before / suite now (wall)"] = (
        seconds["suite, one compile per structure (before)"] / seconds["suite, wall"]
    )


def _command_line(seconds: dict) -> None:
    """``python -m analyses run`` and ``--quick`` end to end, into a scratch results folder."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text(
            (ROOT / "analyses" / "primary.toml").read_text()
            + f'\n[output]\nresults_dir = "{Path(tmp) / "results"}"\n'
        )
        for label, extra in (("run, end to end", []), ("run --quick", ["--quick"])):
            command = [sys.executable, "-m", "analyses", "run", "--config", str(config), *extra]
            done, seconds[label] = _timed(
                subprocess.run, command, capture_output=True, text=True, cwd=ROOT
            )
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                raise SystemExit(f"bench: {' '.join(command)} exited {done.returncode}")


# Simulations timed per worker count: enough for each worker to take several.
DASK_SIMS = 6


def _dask_throughput(seconds: dict, ratios: dict) -> None:
    """SBC simulations (one Dask task each: build, compile, fit) per second, 1 and 2 workers."""
    from analyses.validation import sbc
    from analyses.validation.cluster import dask_client, map_tasks, task_seeds

    seeds = task_seeds(1, DASK_SIMS + 1)
    draws = sbc.prior_draws(DASK_SIMS, seeds[0])
    args = [(i, d, s) for i, (d, s) in enumerate(zip(draws, seeds[1:], strict=True))]
    for workers in (1, 2):
        with dask_client(workers=workers) as client:
            client.submit(sum, [1]).result()  # the cluster is up before the clock starts
            _, took = _timed(map_tasks, sbc.fit_one, args, client, say=lambda _: None)
        seconds[f"{DASK_SIMS} SBC simulations, {workers} Dask worker(s)"] = took
        ratios[f"SBC simulations per second, {workers} Dask worker(s)"] = DASK_SIMS / took


def _machine() -> dict:
    import nutpie
    import pymc

    return {
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "pymc": pymc.__version__,
        "nutpie": nutpie.__version__,
        "pytensor_flags": os.environ.get("PYTENSOR_FLAGS", ""),
    }


def _record(seconds: dict, ratios: dict, total: float) -> dict:
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": _machine(),
        "seconds": {k: round(v, 4) for k, v in seconds.items()},
        "ratios": {k: round(v, 4) for k, v in ratios.items()},
        "before": BEFORE,
        "targets": TARGETS,
        "bench_seconds": round(total, 1),
    }


def _print(record: dict) -> None:
    seconds, width = record["seconds"], max(map(len, record["seconds"] | record["ratios"]))
    print(f"{'step':<{width}}  {'now':>9}  {'before':>9}  {'target':>9}")
    for name, value in seconds.items():
        before, target = BEFORE.get(name), TARGETS.get(name)
        cells = [f"{v:8.2f}s" if v is not None else f"{'':>9}" for v in (value, before, target)]
        mark = "  (over target)" if target is not None and value > target else ""
        print(f"{name:<{width}}  {'  '.join(cells)}{mark}")
    print(f"\n{'ratio or rate':<{width}}  {'value':>9}")
    for name, value in record["ratios"].items():
        print(f"{name:<{width}}  {value:9.2f}")
    target = TARGETS["make test"]
    print(f"{'make test':<{width}}  not timed here (run: time make test); target {target:.0f} s")
