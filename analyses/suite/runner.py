"""Run the sensitivity suite and the cumulative analysis (see docs/science.md).

Every scenario is one change from the primary analysis, refitted. All of them are data of one
model (:func:`models.blockade.build_variants_model`: a study left out is a likelihood weighted
0, a reading is a choice between terms, a prior's parameters and a fixed nuisance are data), so
each worker process compiles that model once and samples its share of the scenarios with
``with_data``. Scenarios whose data are equal are fitted once. If one model cannot hold them
all (a study's regimen read two ways, different covariates), the suite falls back to one
compile per model structure. Threshold scenarios need no refit: they re-read the primary
posterior; a scenario that changes only a prior reweights it where PSIS is reliable
(:mod:`analyses.suite.reweight`).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from analyses.inference import compile_flags, signals
from analyses.inference.hypotheses import HYPOTHESES
from analyses.progress import Progress
from analyses.suite.reweight import describe, reweight_scenarios
from analyses.suite.scenarios import Scenario, build_scenarios, primary_scenario, refitted
from analyses.suite.table import (
    SuiteResult,
    cumulative_table,
    primary_row,
    psense,
    threshold_rows,
    with_agreement,
)
from analyses.suite.worker import fingerprint, fit_group, model_for, variant_for
from models.blockade import build_variants_model
from models.evidence.load import Evidence
from models.priors import PriorSpec
from models.switchboard import VariantsDiffer


def _cores() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def group_scenarios(
    base: Evidence, scenarios: list[Scenario]
) -> tuple[dict[str, list[Scenario]], dict[str, str]]:
    """Fallback: scenarios by model structure, and each twin of an earlier one -> that one."""
    groups: dict[str, list[Scenario]] = {}
    duplicates: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    for sc in scenarios:
        model = model_for(base, sc)
        key = fingerprint(model)
        data = tuple(sorted((v.name, np.asarray(v.get_value()).tobytes()) for v in model.data_vars))
        if (key, data) in seen:
            duplicates[sc.name] = seen[(key, data)]
            continue
        seen[(key, data)] = sc.name
        groups.setdefault(key, []).append(sc)
    return groups, duplicates


def one_model_plan(base: Evidence, scenarios: list[Scenario]) -> tuple[list[int], dict[str, str]]:
    """Every scenario as data of one model: the scenarios to fit, and the twins.

    Two scenarios whose data are equal are one fit (e.g. leaving out the only single-arm study
    and excluding single-arm evidence). Raises ``VariantsDiffer`` if one model cannot hold
    them all.
    """
    _, data = build_variants_model([variant_for(base, sc) for sc in scenarios])
    unique: list[int] = []
    duplicates: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    for i, (sc, d) in enumerate(zip(scenarios, data, strict=True)):
        key = tuple(sorted((k, np.asarray(v).tobytes()) for k, v in d.items()))
        if key in seen:
            duplicates[sc.name] = seen[key]
        else:
            seen[key] = sc.name
            unique.append(i)
    return unique, duplicates


def _payloads(
    base, scenarios, workers, common, say, one_model: bool = True
) -> tuple[list[dict], dict[str, str]]:
    """One model for every scenario (split over the workers), or one per structure."""
    try:
        if not one_model:
            raise VariantsDiffer("asked for one compile per structure")
        unique, duplicates = one_model_plan(base, scenarios)
    except VariantsDiffer as err:
        say(f"      one model cannot hold every scenario ({err}); one compile per structure")
        groups, duplicates = group_scenarios(base, scenarios)
        payloads = [common | {"scenarios": [asdict(sc) for sc in g]} for g in groups.values()]
        return payloads, duplicates
    # Every worker compiles the same model and takes the next scenario from one shared list
    # when it is free, so a slow scenario (a heavy-tailed prior that needs the gate's retries)
    # does not hold up a fixed share behind it. Each scenario's seed is the configuration's,
    # so which worker fits it changes nothing.
    raw = [asdict(sc) for sc in scenarios]
    count = min(workers, len(unique))
    return [common | {"scenarios": raw, "fit": unique, "shared": True}] * count, duplicates


def _fit_groups(payloads: list[dict], workers: int, say: Callable[[str], None]) -> list[dict]:
    """Fit every payload in worker processes, showing each scenario as it finishes."""
    shared = [p for p in payloads if p.get("shared")]
    own = [p for p in payloads if not p.get("shared")]
    total = sum(len(p["scenarios"]) for p in own) + (len(shared[0]["fit"]) if shared else 0)
    progress = Progress(total, say)
    context = multiprocessing.get_context("spawn")  # nutpie and numba threads do not survive fork
    with context.Manager() as manager, ProcessPoolExecutor(workers, mp_context=context) as pool:
        finished, todo = manager.Queue(), manager.Queue()
        for i in shared[0]["fit"] if shared else ():
            todo.put(i)
        payloads = own + [p | {"fit": todo} for p in shared]
        futures = [pool.submit(fit_group, p | {"progress": finished}) for p in payloads]
        while not all(f.done() for f in futures) or not finished.empty():
            signals.check()  # an interrupt stops waiting at once; nothing is written
            try:
                progress.step(finished.get(timeout=0.2))
            except queue.Empty:
                continue
        return [row for f in futures for row in f.result()]


def _complete(scenarios, rows, duplicates, primary) -> list[dict]:
    """Every scenario's row, in scenario order: twins copy their fit, the last step is primary."""
    by_name = {r["scenario"]: r for r in rows}
    for sc in scenarios:
        own = {"scenario": sc.name, "change": sc.change, "kind": sc.kind, "step": sc.step}
        if sc.name in duplicates:
            twin = duplicates[sc.name]
            extra = {"compiled": False, "seconds": 0.0, "same_fit_as": twin, "method": "twin"}
            by_name[sc.name] = by_name[twin] | own | extra
        elif sc.name not in by_name:
            twin = {"same_fit_as": "primary", "method": "twin"}
            by_name[sc.name] = primary_row(primary) | own | twin
    return [by_name[sc.name] for sc in scenarios]


def run_suite(
    base: Evidence,
    config,
    priors: PriorSpec,
    primary,
    say: Callable[[str], None] = print,
    studies_dir: Path | None = None,
    workers: int | None = None,
    one_model: bool = True,
) -> SuiteResult:
    """Run every scenario and the cumulative steps; returns the tables for the run folder.

    ``one_model=False`` compiles once per model structure instead (the fallback, and how the
    suite ran before; ``make bench`` times both).
    """
    started = time.monotonic()
    scenarios = build_scenarios(base, config, priors)
    thresholds = config.hypotheses.thresholds
    fitted = refitted(scenarios)
    reweighted, k_hats = {}, {}
    if config.sensitivity.reweight:
        here = primary_scenario(config, priors)
        reweighted, k_hats = reweight_scenarios(base, primary, here, fitted, thresholds)
        describe(reweighted, k_hats, say)
        fitted = [sc for sc in fitted if sc.name not in reweighted]
    common = {
        "settings": config.sampler.to_dict(),
        "thresholds": thresholds.to_dict(),
        "studies_dir": str(studies_dir) if studies_dir else None,
    }
    workers = workers or _cores()
    payloads, duplicates = _payloads(base, fitted, workers, common, say, one_model)
    say(
        f"      {len(fitted)} refits ({len(duplicates)} identical to another) on "
        f"{len(payloads)} processes, one compile each"
    )
    compile_flags.apply()  # the worker processes inherit the environment
    rows = _fit_groups(payloads, min(workers, len(payloads)), say) if payloads else []
    done = [r | {"method": "refit"} for r in rows] + [
        r | {"method": "reweighted", "compiled": False} for r in reweighted.values()
    ]
    ordered = _complete(scenarios, done, duplicates, primary)
    for row in ordered:
        row["pareto_k"] = k_hats.get(row["scenario"], np.nan)
    probs = primary.hypotheses.set_index("hypothesis")["posterior_prob"]
    leader = max(HYPOTHESES, key=lambda h: float(probs[h]))
    sensitivity = [r for r in ordered if r["kind"] == "sensitivity"]
    table = with_agreement(
        pd.DataFrame(
            [primary_row(primary), *sensitivity, *threshold_rows(primary, thresholds, priors)]
        ),
        leader,
    )
    cumulative = cumulative_table([r for r in ordered if r["kind"] == "cumulative"])
    compiles = sum(1 for r in rows if r["compiled"])
    seconds = time.monotonic() - started
    return SuiteResult(
        table, cumulative, psense(primary), leader, seconds, compiles, len(rows), len(reweighted)
    )
