"""`python -m analyses validate`: slow statistical validation, recorded in a results file.

Ten checks, each against a named threshold:

1. exact vs MCMC: the meta-regression's MCMC posterior against the quadrature oracle, on a
   grid of simulated tables and priors (discrepancy in posterior-SD units);
2. simulation-based calibration of the meta-regression, using the exact posterior: for data
   simulated from the prior, the posterior CDF at the true value (the PIT) is uniform when
   model and computation are right;
3. parameter recovery for the blockade model: simulated studies of every evidence form from a
   grid of known (beta_acute, beta_sustained), refitted; coverage of the 90% intervals and
   standardized errors;
4. the full analysis of the shipped data, as `make analysis` runs it: every scenario and
   cumulative step certified by the convergence gate, from at most two compiles;
5. reweighted prior-only scenarios against their own refits;
6. simulation-based calibration of the blockade model (Dask tasks);
7. the design analysis's tables, identical with one and with two Dask workers;
8. the suite's models, given each scenario's data, have that scenario's own log density
   (every scenario; `make test` checks one of each kind);
9. the conflict check on replicated data: for data simulated from the model, each left-out
   study's PIT among its replicates is uniform (Dask tasks);
10. the same for a study reporting two items: each item's PIT, and the PIT of the study's
    smallest item p among the replicates' smallest (the p the report shows), uniform (each
    KS test at 0.01/3).

The record goes to validation/results.json; tests/test_validation_record.py checks it cheaply
on every `make test`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from analyses.commands.preflight import output_file_problems
from analyses.inference.provenance import code_version, now_utc, package_versions
from analyses.progress import Progress
from analyses.validation import SECTIONS, record_path
from analyses.validation.cluster import task_seeds
from models.evidence.problems import InputError, Problem
from models.paths import ROOT

DEFAULT_OUT = record_path()

# Thresholds, with where they come from:
# MCMC vs exact: each posterior mean and SD must lie within AGREEMENT_Z of its Monte Carlo
# standard errors (arviz-stats' mcse of the mean and of the SD) of the exact answer. About 20
# comparisons a case, 12 cases: at 4.5 MCSE a correct sampler fails by chance about once in
# 600 validations (two-sided normal tail 6.8e-6 per comparison). A fixed 0.1 posterior SD
# (the check until 2026-12-03) assumed an ESS of 2000 and the MCSE of a mean; the SD of a
# half-Cauchy tau has a far larger MCSE, and a certified fit missed it by 0.1002 SD.
AGREEMENT_Z = 4.5
# SBC: a KS test of PIT uniformity per parameter, failing below p = 0.01 (with 3 parameters a
# correct model fails about 3% of the time per validation run).
SBC_MIN_P = 0.01
# Recovery: with R replications per cell, nominal 90% coverage has binomial SD
# sqrt(0.09 / R_total); coverage must be within 3 SDs of 0.9.
COVERAGE_NOMINAL = 0.9
# Reweighting vs refit: each hypothesis probability of a reweighted scenario must be within 4
# combined MCSEs of its refit's. Two independent estimates; with about 24 comparisons a
# 4-sigma band fails by chance about once in 700 validation runs.
REWEIGHT_MAX_Z = 4.0


def _exact_vs_mcmc(n_cases: int, rng) -> dict:
    from analyses.inference.sampling import SamplerSettings, fit_with_gate
    from models.exact import exact_posterior
    from models.meta_regression import build_meta_regression

    tau_priors = [
        {"dist": "halfnormal", "sigma": 0.5},
        {"dist": "halfcauchy", "beta": 0.3},
        {"dist": "uniform", "lower": 0.0, "upper": 2.0},
        {"dist": "exponential", "lam": 3.0},
    ]
    cases = []
    progress = Progress(n_cases, print)
    for i in range(n_cases):
        table, priors = _random_meta_case(i, rng, tau_priors[i % len(tau_priors)])
        exact = exact_posterior(table, priors).summary().set_index("parameter")
        # Behind the gate, as every fit of the toolkit: a funnel's divergences (a half-Cauchy
        # tau with three studies) bias the draws that would be compared with the exact answer.
        fit = fit_with_gate(
            build_meta_regression(table, priors),
            SamplerSettings(draws=2000, tune=1000, target_accept=0.95, seed=100 + i),
        )
        cases.append(
            {
                "studies": len(table.study),
                "moderator": bool(table.moderator_names),
                "tau_prior": priors["tau"],
                **_discrepancy(exact, fit.idata["posterior"]),
                "divergences": fit.diagnostics.divergences,
                "min_ess_bulk": fit.diagnostics.min_ess_bulk,
                "attempts": len(fit.attempts),
                "certified": fit.certified,
            }
        )
        progress.step(f"exact vs MCMC, case {i + 1}")
    worst = max(c["worst_z"] for c in cases)
    certified = all(c["certified"] for c in cases)
    return {
        "cases": cases,
        "max_discrepancy_mcse": worst,
        "threshold_mcse": AGREEMENT_Z,
        "max_discrepancy_sd": max(c["worst_sd"] for c in cases),
        "passed": worst < AGREEMENT_Z and certified,
    }


def _random_meta_case(i: int, rng, tau_prior: dict):
    """A random table of 3-10 studies (every other one with a 0/1 moderator) and its priors."""
    from models.meta_regression import MetaTable

    k = int(rng.integers(3, 11))
    moderated = bool(i % 2)
    mods = (
        pd.DataFrame({"m": rng.integers(0, 2, k).astype(float)})
        if moderated
        else pd.DataFrame(index=range(k))
    )
    se = rng.uniform(0.1, 0.6, k)
    y = rng.normal(0.4, 0.3, k) + rng.normal(0, se)
    table = MetaTable(tuple(f"s{j}" for j in range(k)), y, se, mods)
    priors = {"mu": {"dist": "normal", "mu": 0.0, "sigma": 1.0}, "tau": tau_prior}
    if moderated:
        priors["m"] = {"dist": "normal", "mu": 0.0, "sigma": 1.0}
    return table, priors


def _discrepancy(exact: pd.DataFrame, post) -> dict[str, float]:
    """The largest |MCMC - exact| over every parameter's mean and SD, in MCSEs and in SDs."""
    from arviz_stats import mcse

    worst_z = worst_sd = 0.0
    for name in exact.index:
        if name in ("mu", "tau"):
            draws = post[name]
        elif name.startswith("coef_"):
            draws = post["coef"].sel(moderator=name[5:])
        else:
            draws = post["theta"].sel(study=name)
        want_mean, want_sd = exact.loc[name, "mean"], exact.loc[name, "sd"]
        off_mean = abs(float(draws.mean()) - want_mean)
        off_sd = abs(float(draws.std()) - want_sd)
        se_mean, se_sd = (float(mcse(draws, method=m)) for m in ("mean", "sd"))
        worst_z = max(worst_z, off_mean / se_mean, off_sd / se_sd)
        worst_sd = max(worst_sd, off_mean / want_sd, off_sd / want_sd)
    return {"worst_z": worst_z, "worst_sd": worst_sd}


def _sbc_meta(n_sims: int, rng) -> dict:
    from models.exact import exact_posterior
    from models.meta_regression import MetaTable

    priors = {
        "mu": {"dist": "normal", "mu": 0.0, "sigma": 1.0},
        "tau": {"dist": "halfnormal", "sigma": 0.5},
        "m": {"dist": "normal", "mu": 0.0, "sigma": 0.5},
    }
    pits = {"mu": [], "tau": [], "coef_m": []}
    for _ in range(n_sims):
        k = 6
        mu, tau, coef = rng.normal(0, 1), abs(rng.normal(0, 0.5)), rng.normal(0, 0.5)
        m = np.array([0.0, 1, 0, 1, 0, 1])
        se = rng.uniform(0.15, 0.5, k)
        theta = mu + coef * m + tau * rng.standard_normal(k)
        y = theta + se * rng.standard_normal(k)
        post = exact_posterior(
            MetaTable(tuple(f"s{j}" for j in range(k)), y, se, pd.DataFrame({"m": m})), priors
        )
        for name, truth in (("mu", mu), ("tau", tau), ("coef_m", coef)):
            means, sds = post.components[name]
            w = post.weights
            if name == "tau":
                pit = float(np.sum(w[means <= truth]))
            else:
                pit = float(np.sum(w * stats.norm.cdf((truth - means) / sds)))
            pits[name].append(pit)
    result = {}
    for name, values in pits.items():
        ks = stats.kstest(values, "uniform")
        counts = np.histogram(values, bins=10, range=(0, 1))[0].tolist()
        result[name] = {"ks_p": float(ks.pvalue), "bins": counts}
    return {
        "simulations": n_sims,
        "parameters": result,
        "threshold_p": SBC_MIN_P,
        "passed": all(r["ks_p"] > SBC_MIN_P for r in result.values()),
    }


def _recovery(truths: list[tuple[float, float]], replications: int, rng) -> dict:
    from models.simulate import Truth

    plan = [
        ("paired_binary", "acute", 60),
        ("contrast_statistic", "acute", 40),
        ("arm_means", "acute", 40),
        ("arm_counts", "sustained", 80),
        ("ipd", "sustained", 50),
        ("single_arm_binary", "sustained", 50),
    ]
    cells = []
    progress = Progress(len(truths) * replications, print)
    for a, s in truths:
        for rep in range(replications):
            truth = Truth(beta_acute=a, beta_sustained=s, tau_beta=0.1, tau_ketamine=0.1)
            fit = _fit_simulated(truth, plan, rng)
            progress.step(f"recovery, truth ({a:g}, {s:g}), replication {rep + 1}")
            post = fit.idata["posterior"]
            for name, value in (("beta_acute", a), ("beta_sustained", s)):
                v = post[name].values.ravel()
                lo, hi = np.quantile(v, [0.05, 0.95])
                cells.append(
                    {
                        "truth_acute": a,
                        "truth_sustained": s,
                        "replication": rep,
                        "parameter": name,
                        "truth": value,
                        "mean": float(v.mean()),
                        "sd": float(v.std()),
                        "covered90": bool(lo <= value <= hi),
                        "z": float((v.mean() - value) / v.std()),
                        "certified": fit.certified,
                    }
                )
    frame = pd.DataFrame(cells)
    coverage = float(frame["covered90"].mean())
    band = 3 * np.sqrt(COVERAGE_NOMINAL * (1 - COVERAGE_NOMINAL) / len(frame))
    return {
        "cells": cells,
        "coverage90": coverage,
        "coverage_band": [COVERAGE_NOMINAL - band, COVERAGE_NOMINAL + band],
        "mean_abs_z": float(frame["z"].abs().mean()),
        "certified": float(frame["certified"].mean()),
        "passed": bool(abs(coverage - COVERAGE_NOMINAL) <= band),
    }


def _fit_simulated(truth, plan: list[tuple[str, str, int]], rng):
    """Simulate one study per (form, regimen, n) of ``plan`` from ``truth``; fit behind the gate."""
    from analyses.inference.sampling import SamplerSettings, fit_with_gate
    from models.blockade import build_blockade_model
    from models.evidence import load_evidence
    from models.priors import load_priors
    from models.simulate import simulate_study, write_study

    with tempfile.TemporaryDirectory() as folder:
        for j, (kind, regimen, n) in enumerate(plan):
            study, ipd, _ = simulate_study(
                kind, f"sim{j}", regimen, truth, n, seed=int(rng.integers(1 << 31))
            )
            write_study(study, Path(folder), ipd)
        evidence = load_evidence(Path(folder)).resolve()
        priors = load_priors("neutral", evidence.literature)
        return fit_with_gate(
            build_blockade_model(evidence, priors),
            SamplerSettings(seed=int(rng.integers(1 << 31))),
        )


def _shipped_analysis() -> dict:
    """The full analysis of the shipped data, as `make analysis` runs it, into a private folder.

    Every scenario and cumulative step must pass the convergence gate with the retries the
    configuration allows, from at most two compiled models.
    """
    from analyses.commands import run as run_module

    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "primary.toml"
        results = Path(folder) / "results"
        text = (ROOT / "analyses" / "primary.toml").read_text()
        config.write_text(text + f'\n[output]\nresults_dir = "{results}"\n')
        run_dir = run_module.run(config, quick=False, say=lambda line: print(line, flush=True))
        table = pd.read_csv(run_dir / "sensitivity.csv")
        cumulative = pd.read_csv(run_dir / "cumulative.csv")
        manifest = json.loads((run_dir / "manifest.json").read_text())
        report = (run_dir / "report.md").read_text()
    columns = [
        *("scenario", "kind", "certified", "attempts", "retried_because"),
        *("compiled", "seconds", "same_fit_as", "method", "pareto_k"),
    ]
    fits = pd.concat([table[table.kind != "thresholds"], cumulative])
    scenarios = fits[(fits.kind != "primary") & (fits["same_fit_as"].fillna("") != "primary")]
    refits = scenarios[scenarios["method"] != "reweighted"]
    return {
        "data_hash": manifest["data_hash"],
        "certified": manifest["certified"],
        "headline": manifest["headline"],
        "runtime_seconds": manifest["runtime_seconds"],
        "fits": fits[columns].astype(object).where(fits[columns].notna(), None).to_dict("records"),
        "refits": len(refits),
        "reweighted": int((scenarios["method"] == "reweighted").sum()),
        "compiles": int(refits["compiled"].sum()),
        "threshold_rows": int((table.kind == "thresholds").sum()),
        "cumulative_added": cumulative["added"].tolist(),
        "report_sections": {
            name: name in report
            for name in ("## Robustness", "## Cumulative evidence", "Power-scaling")
        },
        "passed": bool(fits["certified"].all() and refits["compiled"].sum() <= 2),
    }


# The design analysis's determinism check: a tiny parallel design on one study (short fits).
TINY_DESIGN = """[design]
name = "determinism"
regimen = "acute"
type = "parallel"
control = "saline"
sample_sizes = [15]

[design.population]
label = "depression"
"""
DETERMINISM_STUDY = "jelen2025"
DETERMINISM_SIMS = 2  # per sample size, with each worker count


def _design_determinism() -> dict:
    """The design analysis gives identical tables with one and with two Dask workers.

    Simulation seeds come from one ``SeedSequence`` whatever the number of workers, so
    design.csv must not depend on it. Fitted on a private copy of one study's file.
    """
    from analyses.commands.design import simulate
    from analyses.commands.preflight import preflight
    from analyses.commands.run import fit_inputs
    from analyses.design.simulate import candidate_inputs, preposterior_draws
    from analyses.design.spec import load_design
    from analyses.inference.sampling import compile_model
    from analyses.validation.cluster import dask_client

    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        studies = base / "studies"
        studies.mkdir()
        shutil.copy(ROOT / "data" / "studies" / f"{DETERMINISM_STUDY}.toml", studies)
        config = base / "config.toml"
        text = (ROOT / "analyses" / "primary.toml").read_text()
        config.write_text(text + f'\n[output]\nresults_dir = "{base / "results"}"\n')
        (base / "tiny.toml").write_text(TINY_DESIGN)
        spec, inputs = load_design(base / "tiny.toml"), preflight(config, studies)
        primary = fit_inputs(inputs, predictive=False)
        # The first compile of a new model writes PyTensor's numba cache and samples with
        # slightly different rounding than later compiles, which read it: warm it first, so
        # both worker counts read it.
        post = primary.idata["posterior"].to_dataset()
        n = spec.sample_sizes[0]
        draw = preposterior_draws(spec, n, post, 1, 0, inputs.priors, inputs.options)[0]
        compile_model(candidate_inputs(spec.to_dict(), n, draw, str(studies), str(config))[1])
        tables = {}
        for workers in (1, 2):
            with dask_client(workers=workers) as client:
                tables[workers] = simulate(
                    spec, inputs, primary, DETERMINISM_SIMS, client, lambda _: None, config, studies
                )
    digest = {w: hashlib.sha256(t.to_csv().encode()).hexdigest() for w, t in tables.items()}
    identical = tables[1].equals(tables[2])
    return {
        "study": DETERMINISM_STUDY,
        "design": TINY_DESIGN,
        "simulations": DETERMINISM_SIMS,
        "workers": [1, 2],
        "sha256": {str(w): d for w, d in digest.items()},
        "rows": len(tables[1]),
        "identical": identical,
        "passed": bool(identical and len(tables[1]) == DETERMINISM_SIMS),
    }


def _plain(value):
    """JSON for numpy scalars and arrays (comparisons of numpy floats give numpy bools)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to the validation record")


def _sbc_blockade(n_sims: int, seed: int, scheduler: str | None, folder: Path) -> dict:
    """SBC and hypothesis calibration of the blockade model, one Dask task per simulation."""
    from dataclasses import asdict

    from analyses.report.figures import save_figure
    from analyses.validation import calibration, sbc
    from analyses.validation.cluster import task_seeds

    seeds = task_seeds(seed, n_sims + 1)
    draws = sbc.prior_draws(n_sims, seeds[0])
    records = _simulated(sbc, draws, seeds, scheduler, "SBC simulation")
    ranks = calibration.rank_summary(records, seed)
    hypotheses = calibration.hypothesis_calibration(records)
    folder.mkdir(parents=True, exist_ok=True)
    save_figure(calibration.rank_ecdf_figure(records, seed), folder / "sbc_blockade.png")
    save_figure(calibration.reliability_figure(hypotheses), folder / "calibration.png")
    return {
        "simulations": n_sims,
        "design": [asdict(e) for e in sbc.DESIGN],
        "rank_draws": sbc.RANK_DRAWS,
        "parameters": ranks,
        "calibration": hypotheses,
        "uncertified": sum(not r["certified"] for r in records),
        "figures": ["sbc_blockade.png", "calibration.png"],
        "records": records,
        "passed": all(v["passed"] for v in ranks.values())
        and hypotheses["brier"] < hypotheses["brier_prior"],
    }


def _simulated(module, draws: list[dict], seeds: list[int], scheduler, label: str) -> list:
    """Each simulation of a calibration section as a Dask task: ``module.fit_one``."""
    from analyses.validation.cluster import dask_client, map_tasks

    args = [(i, draw, seeds[i + 1]) for i, draw in enumerate(draws)]
    with dask_client(scheduler) as client:
        return map_tasks(module.fit_one, args, client, label=lambda i: f"{label} {i + 1}")


def _conflict_calibration(n_sims: int, seed: int, scheduler: str | None, folder: Path) -> dict:
    """The replicated-data conflict check's PIT, under data simulated from the model."""
    from analyses.report.figures import save_figure
    from analyses.validation import conflict_calibration, sbc
    from analyses.validation.cluster import task_seeds

    seeds = task_seeds(seed, n_sims + 1)
    draws = sbc.prior_draws(n_sims, seeds[0])
    records = _simulated(conflict_calibration, draws, seeds, scheduler, "conflict check")
    studies = conflict_calibration.summarise(records)
    folder.mkdir(parents=True, exist_ok=True)
    figure = "conflict_calibration.png"
    save_figure(conflict_calibration.pit_figure(records, seed), folder / figure)
    return {
        "simulations": n_sims,
        "studies": studies,
        "threshold_p": conflict_calibration.SBC_MIN_P,
        "uncertified": sum(s["uncertified"] for s in studies.values()),
        "figures": [figure],
        "records": records,
        "passed": all(s["passed"] for s in studies.values()),
    }


def _conflict_items(n_sims: int, seed: int, scheduler: str | None, folder: Path) -> dict:
    """The conflict check of a study with two items: its PITs under data from the model."""
    from analyses.report.figures import save_figure
    from analyses.validation import conflict_items
    from analyses.validation.cluster import task_seeds

    seed = conflict_items.confirmation_seed(seed)
    seeds = task_seeds(seed, n_sims + 1)
    draws = conflict_items.prior_draws(n_sims, seeds[0])
    records = _simulated(conflict_items, draws, seeds, scheduler, "two-item check")
    folder.mkdir(parents=True, exist_ok=True)
    figure = "conflict_items.png"
    save_figure(conflict_items.pit_figure(records, seed), folder / figure)
    return {
        "simulations": n_sims,
        "seed": seed,
        "arm_size": conflict_items.ARM_SIZE,
        **conflict_items.summarise(records),
        "threshold_p": conflict_items.SBC_MIN_P,
        "figures": [figure],
        "records": records,
    }


def _reweighting() -> dict:
    """Reweighted prior-only scenarios against their own refits, on the shipped data.

    The suite reweights the primary posterior for a scenario that changes only a prior (where
    the Pareto k-hat allows it); here each such scenario is also refitted, and every
    hypothesis probability is compared in units of the two estimates' combined MCSE.
    """
    from dataclasses import asdict

    from analyses.commands.preflight import load_inputs
    from analyses.commands.run import fit_inputs
    from analyses.inference.hypotheses import HYPOTHESES
    from analyses.suite.reweight import reweight_scenarios
    from analyses.suite.scenarios import build_scenarios, primary_scenario, refitted
    from analyses.suite.worker import fit_group

    inputs = load_inputs(None, None)
    config, base, priors = inputs.config, inputs.base, inputs.priors
    primary = fit_inputs(inputs, predictive=False)
    scenarios = refitted(build_scenarios(base, config, priors))
    here = primary_scenario(config, priors)
    thresholds = config.hypotheses.thresholds
    rows, k_hats = reweight_scenarios(base, primary, here, scenarios, thresholds)
    chosen = [asdict(sc) for sc in scenarios if sc.name in rows]
    payload = {
        "scenarios": chosen,
        "settings": config.refit_sampler.to_dict(),  # as the suite refits
        "thresholds": thresholds.to_dict(),
        "studies_dir": None,
    }
    refits = {r["scenario"]: r for r in fit_group(payload)}
    cases = []
    for name, row in rows.items():
        for h in HYPOTHESES:
            a, b = row[f"p_{h}"], refits[name][f"p_{h}"]
            se = float(np.hypot(row[f"p_{h}_mcse"], refits[name][f"p_{h}_mcse"]))
            cases.append(
                {
                    "scenario": name,
                    "hypothesis": h,
                    "pareto_k": k_hats[name],
                    "importance_ess": row["importance_ess"],
                    "reweighted": a,
                    "refit": b,
                    "refit_certified": bool(refits[name]["certified"]),
                    "z": (a - b) / se if se > 0 else 0.0,
                }
            )
    worst = max((abs(c["z"]) for c in cases), default=0.0)
    return {
        "scenarios": len(rows),
        "k_hats": k_hats,
        "cases": cases,
        "max_abs_z": worst,
        "passed": bool(cases) and worst < REWEIGHT_MAX_Z,
    }


SEED = 20261123


def section_seeds() -> dict[str, int]:
    """Each section's seed, spawned from :data:`SEED` in the order of ``SECTIONS``."""
    return dict(zip(SECTIONS, task_seeds(SEED, len(SECTIONS)), strict=True))


def _run_section(name: str, sizes: dict, seed: int, scheduler: str | None, out: Path) -> dict:
    rng = np.random.default_rng(seed)
    if name == "exact_vs_mcmc":
        return _exact_vs_mcmc(sizes["exact_cases"], rng)
    if name == "sbc_meta_regression":
        return _sbc_meta(sizes["sbc_sims"], rng)
    if name == "recovery_blockade":
        truths = [(0.8, 0.0), (0.5, 0.5), (0.0, 0.0), (0.3, 0.9)]
        return _recovery(truths, sizes["replications"], rng)
    if name == "shipped_analysis":
        return _shipped_analysis()
    if name == "reweighting":
        return _reweighting()
    if name == "design_determinism":
        return _design_determinism()
    if name == "union_log_density":
        from analyses.validation.union_density import union_log_density

        return union_log_density()
    if name == "conflict_calibration":
        return _conflict_calibration(sizes["conflict_sims"], seed, scheduler, out.parent)
    if name == "conflict_items":
        return _conflict_items(sizes["conflict_items_sims"], seed, scheduler, out.parent)
    return _sbc_blockade(sizes["sbc_blockade_sims"], seed, scheduler, out.parent)


def _summary(name: str, result: dict) -> str:
    if name == "exact_vs_mcmc":
        return (
            f"worst discrepancy {result['max_discrepancy_mcse']:.2f} MCSE "
            f"({result['max_discrepancy_sd']:.3f} posterior SD)"
        )
    if name == "recovery_blockade":
        return f"90% coverage {result['coverage90']:.2f}; mean |z| {result['mean_abs_z']:.2f}"
    if name == "reweighting":
        worst = result["max_abs_z"]
        return f"{result['scenarios']} reweighted scenarios; worst |z| against a refit {worst:.2f}"
    if name == "design_determinism":
        same = "identical" if result["identical"] else "DIFFERENT"
        return f"design.csv with 1 and 2 Dask workers: {same}"
    if name == "union_log_density":
        worst, limit = result["max_abs_diff"], result["threshold"]
        return f"{result['scenarios']} scenarios; worst |difference| {worst:.1e} (< {limit:g})"
    if name == "conflict_calibration":
        ks = ", ".join(f"{k} {v['ks_p']:.3f}" for k, v in result["studies"].items())
        return f"KS p of the left-out studies' PITs: {ks}"
    if name == "conflict_items":
        ks = ", ".join(f"{k} {v:.3f}" for k, v in result["ks_p"].items())
        rates = result["rejection_rate"]
        return (
            f"KS p of the PITs: {ks}; below 0.05: study p "
            f"{rates['study_p']['0.05']:.1%}, naive smallest item p "
            f"{rates['naive_smallest_item_p']['0.05']:.1%}"
        )
    if name == "shipped_analysis":
        bad = [f["scenario"] for f in result["fits"] if not f["certified"]] or "none"
        return f"{result['refits']} refits from {result['compiles']} compiles; uncertified: {bad}"
    ks = ", ".join(f"{k} {v['ks_p']:.3f}" for k, v in result["parameters"].items())
    extra = ""
    if name == "sbc_blockade":
        c = result["calibration"]
        extra = f"; Brier {c['brier']:.3f} (prior alone {c['brier_prior']:.3f})"
    return f"KS p: {ks}{extra}"


def run_validation(
    out: Path | None = None,
    quick: bool = False,
    only: Sequence[str] = (),
    scheduler: str | None = None,
) -> dict:
    """Run the checks (all, or ``only`` some, kept beside the others) and write the record."""
    out = Path(out or DEFAULT_OUT)
    record = _checked_arguments(out, only, scheduler)
    started = time.monotonic()
    sizes = {
        "exact_cases": 4 if quick else 12,
        "sbc_sims": 40 if quick else 300,
        "replications": 1 if quick else 3,
        "sbc_blockade_sims": 8 if quick else 200,
        "conflict_sims": 8 if quick else 200,
        # One refit a simulation (the study with two items left out), about 1 s each.
        "conflict_items_sims": 8 if quick else 400,
    }
    names = sections_run(only)
    seeds = section_seeds()
    for k, name in enumerate(names, 1):
        print(f"[{k}/{len(names)}] {name.replace('_', ' ')}", flush=True)
        section_started = time.monotonic()
        result = _run_section(name, sizes, seeds[name], scheduler, out)
        result["created"] = now_utc()
        # Sections are rerun one at a time (--only): each says which code it ran.
        result["code"] = code_version()
        result["section_seconds"] = round(time.monotonic() - section_started, 1)
        record[name] = result
        print(f"      {_summary(name, result)}", flush=True)
    record |= {
        "created": now_utc(),
        "quick": quick,
        "sizes": sizes,
        "package_versions": package_versions(),
    }
    # The whole validation's time; a run of ``only`` some sections gives each its own.
    if not only:
        record["runtime_seconds"] = round(time.monotonic() - started, 1)
    record["passed"] = all(record.get(n, {}).get("passed", False) for n in SECTIONS)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".partial")
    tmp.write_text(json.dumps(record, indent=1, default=_plain))
    tmp.replace(out)
    print(f"{verdict(record, names)[0]}; wrote {out} ({round(time.monotonic() - started, 1)} s)")
    return record


def _checked_arguments(out: Path, only: Sequence[str], scheduler: str | None) -> dict:
    """Refuse a bad ``--out`` or ``--scheduler`` before any section runs (they take minutes).

    Returns the earlier record that ``--only`` adds its sections to ({} for a full run).
    """
    problems = output_file_problems(out, "--out")
    if problems:
        raise InputError(problems)
    record = _earlier_record(out) if only else {}
    simulated = {"sbc_blockade", "conflict_calibration", "conflict_items"}
    if scheduler and simulated & set(sections_run(only)):
        from analyses.validation.cluster import dask_client

        with dask_client(scheduler):  # only connects: a bad address is InputError
            pass
    return record


def _earlier_record(out: Path) -> dict:
    """The record that ``--only`` adds its sections to: {} if there is none yet."""
    if not out.exists():
        return {}
    try:
        record = json.loads(out.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        found = f"a file that is not a validation record ({type(err).__name__})"
        raise InputError([Problem(str(out), "-", "--out", found, _RECORD)]) from None
    if not isinstance(record, dict):
        found = f"JSON holding {type(record).__name__}, not an object"
        raise InputError([Problem(str(out), "-", "--out", found, _RECORD)])
    return record


_RECORD = "a validation record (JSON object) to add the sections to, or a new path"


def sections_run(only: Sequence[str] = ()) -> list[str]:
    """The sections a validation runs: all, or those in ``only``, in the record's order."""
    return [n for n in SECTIONS if not only or n in only]


def verdict(record: dict, ran: Sequence[str]) -> tuple[str, int]:
    """What a validation says of its record, and its exit code (1 if a section run failed).

    A record written by ``--only`` into a new file lacks the other sections: it is
    incomplete, which is not a failure of the sections that were run.
    """
    failed = [n for n in ran if not record[n].get("passed", False)]
    code = 1 if failed else 0
    if failed:
        text = f"FAILED: {', '.join(failed)}"
    elif record["passed"]:
        text = "PASSED"
    else:
        missing = [n for n in SECTIONS if n not in record]
        text = f"PASSED the sections run; INCOMPLETE record, without {', '.join(missing)}"
    return text, code
