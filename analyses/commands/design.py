"""`python -m analyses design DESIGN.toml`: how likely a candidate study is to settle the question.

A Bayesian design (preposterior, assurance) analysis. Today's posterior comes from the
primary fit of the configuration; for each sample size, each simulation draws the candidate
study's data from it (:mod:`analyses.design.simulate`), appends the study to the evidence and
refits. Each simulation is a Dask task with its own seed from one ``SeedSequence``, so the
tables do not depend on the number of workers. Writes ``results/<run-id>/``: ``design.csv``
(one row per simulation), ``assurance.csv`` (per sample size), ``assurance_thresholds.csv``
(per sample size and threshold pair), ``assurance_by_truth.csv`` (per sample size and true
hypothesis), ``assurance.png``, ``assurance_by_truth.png``, ``report.md`` and ``manifest.json``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from analyses.commands.preflight import preflight
from analyses.commands.publish import new_run_id
from analyses.design.spec import DesignSpec, load_design
from analyses.inference import signals
from analyses.inference.provenance import (
    code_version,
    file_hash,
    now_utc,
    package_versions,
    staged_directory,
)
from analyses.validation.cluster import dask_client, map_tasks, task_seeds

# A Bayes factor settles the question when it passes 10 either way (Kass and Raftery's
# "strong"); between 1/3 and 3 it is "not worth more than a bare mention".
DECISIVE = 10.0
UNSETTLED = 3.0
# Each assurance probability's interval: Jeffreys' (Beta(k + 1/2, m - k + 1/2) quantiles, the
# lower end 0 at no hit and the upper 1 at all hits, Brown, Cai & DasGupta 2001). Its Monte
# Carlo SE, sqrt(p(1 - p)/m), is 0 when no simulation hit, which would read as certainty.
ASSURANCE_INTERVAL = 0.95


def _say(message: str) -> None:
    print(message, flush=True)


def run_design(
    design_path: Path,
    sims: int,
    config_path: Path | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    say: Callable[[str], None] = _say,
    studies_dir: Path | None = None,
) -> Path:
    """Run the design analysis; returns the results folder."""
    from analyses.commands.run import fit_inputs
    from analyses.inference.fit import quiet_pymc

    started = time.monotonic()
    spec = load_design(design_path)
    inputs = preflight(config_path, studies_dir)
    say(f"[1/3] today's posterior: the primary fit of {inputs.label}")
    with quiet_pymc():
        primary = fit_inputs(inputs, predictive=False)
    signals.check()
    with dask_client(scheduler, workers) as client:
        table = simulate(spec, inputs, primary, sims, client, say, config_path, studies_dir)
    signals.check()
    return _publish(spec, design_path, inputs, primary, table, sims, started, say)


def simulate(
    spec: DesignSpec,
    inputs,
    primary,
    sims: int,
    client,
    say: Callable[[str], None] = _say,
    config_path: Path | None = None,
    studies_dir: Path | None = None,
) -> pd.DataFrame:
    """design.csv: ``sims`` simulated studies per sample size, each appended and refitted.

    Seeds come from the configuration's seed through one ``SeedSequence``: simulation i of
    sample size k always gets the same seed, whichever worker runs it. Every size simulates
    the same worlds (common random numbers): simulation i draws the same posterior draw, the
    same transport shift and the same candidate studies' own parameters at every size, so
    only its data and its refit's seed differ, and sizes compare pair by pair.
    """
    from analyses.design.simulate import fit_with_candidate, preposterior_draws
    from models.paths import STUDIES_DIR

    seeds = task_seeds(inputs.config.sampler.seed, len(spec.sample_sizes) * (sims + 1))
    post = primary.idata["posterior"].to_dataset()
    studies = str(studies_dir or STUDIES_DIR)
    config = str(config_path) if config_path else None
    say(f"[2/3] simulating {sims} studies per sample size from today's posterior")
    by_size = []
    for k, n in enumerate(spec.sample_sizes):
        block = seeds[k * (sims + 1) : (k + 1) * (sims + 1)]
        # seeds[0], the first size's: the worlds are common to all sizes. Each block keeps
        # its first seed unused, so the refits' seeds are those of the runs before.
        draws = preposterior_draws(spec, n, post, sims, seeds[0], inputs.priors, inputs.options)
        pairs = zip(draws, block[1:], strict=True)
        by_size.append([(spec.to_dict(), n, d, s, studies, config) for d, s in pairs])
    tasks = in_turn(by_size)
    say(f"[3/3] refitting {len(tasks)} times (one Dask task each)")
    rows = map_tasks(fit_with_candidate, tasks, client, say, label=lambda i: _label(tasks[i]))
    table = pd.DataFrame(size_by_size(rows, len(by_size)))
    table.insert(1, "simulation", table.groupby("n").cumcount())
    return table


def in_turn(by_size: list[list]) -> list:
    """The tasks of every size taken in turn: the first of each size, then the second, ...

    Each size is a model of its own. Workers that start on different sizes compile different
    models, where two starting on one size would both compile it afresh; the later compile of
    a size another worker has stored loads from PyTensor's and nutpie's disk caches (about 2 s
    against 5-19 s for a new model on the AMD EPYC, 2026-12-04).
    """
    return [task for turn in zip(*by_size, strict=True) for task in turn]


def size_by_size(rows: list, sizes: int) -> list:
    """The results of :func:`in_turn`'s tasks back in the design's order, size by size."""
    sims, left = divmod(len(rows), sizes)
    if left:
        raise ValueError(f"{len(rows)} results cannot be {sizes} sizes of equal simulations")
    return [rows[i * sizes + k] for k in range(sizes) for i in range(sims)]


def _label(task: tuple) -> str:
    return f"n = {task[1]}"


def jeffreys_interval(hits: int, m: int, prob: float = ASSURANCE_INTERVAL) -> tuple[float, float]:
    """Jeffreys' interval for a proportion of ``hits`` in ``m`` (see ASSURANCE_INTERVAL)."""
    from scipy.stats import beta

    tail = (1 - prob) / 2
    low = 0.0 if hits == 0 else float(beta.ppf(tail, hits + 0.5, m - hits + 0.5))
    high = 1.0 if hits == m else float(beta.ppf(1 - tail, hits + 0.5, m - hits + 0.5))
    return low, high


def assurance(table: pd.DataFrame) -> pd.DataFrame:
    """Per sample size: how often the candidate study settles it, with Monte Carlo SEs."""
    rows = []
    for n, group in table.groupby("n"):
        m = len(group)
        permissive, primary, unsettled = _settled(
            group["bf_permissive_vs_primary"], group["bf_bound"]
        )
        row = {"n": n, "simulations": m}
        for name, hit in (
            ("p_bf_decisive", permissive | primary),
            ("p_bf_permissive_10", permissive),
            ("p_bf_primary_10", primary),
            ("p_bf_between_third_and_3", unsettled),
        ):
            row |= _share(name, hit)
        for h in ("primary", "permissive"):
            values = group[f"p_{h}"]
            row[f"expected_p_{h}"] = float(values.mean())
            sd = float(values.std(ddof=1)) if m > 1 else np.nan
            row[f"expected_p_{h}_mcse"] = sd / math.sqrt(m)
        row["certified"] = float(group["certified"].mean())
        rows.append(row)
    return pd.DataFrame(rows)


def _settled(bf: pd.Series, bound: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Which simulations settled for permissive, for primary, or left it unsettled (a bound
    counts only on its own side)."""
    bound = bound.fillna("")
    permissive = (bf >= DECISIVE) & (bound != "<")
    primary = (bf <= 1 / DECISIVE) & (bound != ">")
    unsettled = (bf > 1 / UNSETTLED) & (bf < UNSETTLED) & (bound == "")
    return permissive, primary, unsettled


def _share(name: str, hit: pd.Series) -> dict:
    """A share of simulations, its Monte Carlo SE and its Jeffreys interval."""
    m, p = len(hit), float(hit.mean())
    low, high = jeffreys_interval(int(hit.sum()), m)
    return {
        name: p,
        f"{name}_mcse": math.sqrt(p * (1 - p) / m),
        f"{name}_lb": low,
        f"{name}_ub": high,
    }


def assurance_by_threshold(table: pd.DataFrame) -> pd.DataFrame:
    """assurance_thresholds.csv: per sample size and threshold pair of section 6's grid, how
    often the headline BF passed 10 each way (the same refits, the regions moved)."""
    from analyses.design.simulate import threshold_column
    from analyses.suite.scenarios import THRESHOLD_GRID

    rows = []
    for n, group in table.groupby("n"):
        for p, q in THRESHOLD_GRID:
            column = threshold_column(p, q)
            if column not in group:  # a table from before the grid was recorded
                return pd.DataFrame()
            permissive, primary, _ = _settled(group[column], group[f"{column}_bound"])
            row = {"n": n, "primary_threshold": p, "permissive_threshold": q}
            row |= _share("p_bf_permissive_10", permissive) | _share("p_bf_primary_10", primary)
            rows.append(row)
    return pd.DataFrame(rows)


def assurance_by_truth(table: pd.DataFrame) -> pd.DataFrame:
    """assurance_by_truth.csv: per sample size and true hypothesis (the region of the
    simulation's pooled fractions), how often the headline BF passed 10 each way: how well
    the design tells the truth when it is each hypothesis."""
    if "truth" not in table:  # a table from before the truth was recorded
        return pd.DataFrame()
    rows = []
    for (n, truth), group in table.groupby(["n", "truth"], sort=True):
        permissive, primary, unsettled = _settled(
            group["bf_permissive_vs_primary"], group["bf_bound"]
        )
        row = {"n": n, "truth": truth, "simulations": len(group)}
        row |= _share("p_bf_permissive_10", permissive) | _share("p_bf_primary_10", primary)
        row |= _share("p_bf_between_third_and_3", unsettled)
        rows.append(row)
    return pd.DataFrame(rows)


def _publish(spec: DesignSpec, design_path, inputs, primary, table, sims, started, say) -> Path:
    from analyses.design.report import assurance_figure, design_report, truth_figure
    from analyses.report.figures import save_figure

    summary = assurance(table)
    run_id = new_run_id(inputs.root, f"design-{spec.name}")
    inputs.root.mkdir(parents=True, exist_ok=True)
    with staged_directory(inputs.root / run_id, before_publish=signals.check) as stage:
        table.to_csv(stage / "design.csv", index=False)
        summary.to_csv(stage / "assurance.csv", index=False)
        by_threshold = assurance_by_threshold(table)
        by_threshold.to_csv(stage / "assurance_thresholds.csv", index=False)
        by_truth = assurance_by_truth(table)
        by_truth.to_csv(stage / "assurance_by_truth.csv", index=False)
        if not by_truth.empty:
            save_figure(truth_figure(by_truth, spec), stage / "assurance_by_truth.png")
        save_figure(assurance_figure(summary, spec), stage / "assurance.png")
        manifest = {
            "run_id": run_id,
            "created": now_utc(),
            "design_file": str(design_path),
            "design_sha256": file_hash(design_path),
            "design": spec.to_dict(),
            "simulations_per_size": sims,
            "config_file": inputs.label,
            "data_hash": inputs.evidence.data_hash,
            "priors": inputs.priors.to_dict(),
            "seed": inputs.config.sampler.seed,
            "primary_certified": primary.certified,
            "package_versions": package_versions(),
            "code": code_version(),  # the commit, and whether the tree had changes
            "runtime_seconds": round(time.monotonic() - started, 1),
        }
        (stage / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
        thresholds = inputs.config.hypotheses.thresholds
        (stage / "report.md").write_text(
            design_report(spec, summary, manifest, primary, thresholds, by_threshold, by_truth)
        )
    run_dir = inputs.root / run_id
    say(summary.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    say(f"wrote {run_dir}")
    return run_dir


def main_design(design: Path, sims: int, config: Path | None, scheduler: str | None) -> int:
    """The `design` command."""
    run_design(design, sims, config, scheduler)
    return 0
