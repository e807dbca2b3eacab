"""Run the sensitivity suite and the cumulative analysis (see docs/science.md).

Every scenario is one change from the primary analysis, refitted. Scenarios are grouped by the
structure of their model (a fingerprint of its log-density graph): a group compiles once with
nutpie in a worker process (:mod:`analyses.suite.worker`) and each scenario swaps in its own
data. Scenarios with the same structure and data are fitted once. Threshold scenarios need no
refit: they re-read the primary posterior.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from analyses.inference.hypotheses import HYPOTHESES
from analyses.suite.scenarios import Scenario, build_scenarios
from analyses.suite.table import (
    SuiteResult,
    cumulative_table,
    primary_row,
    psense,
    threshold_rows,
    with_agreement,
)
from analyses.suite.worker import fingerprint, fit_group, model_for
from models.evidence.load import Evidence
from models.priors import PriorSpec


def _cores() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def group_scenarios(
    base: Evidence, scenarios: list[Scenario]
) -> tuple[dict[str, list[Scenario]], dict[str, str]]:
    """Scenarios by model structure, and each scenario identical to an earlier one -> its twin."""
    groups: dict[str, list[Scenario]] = {}
    duplicates: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    for sc in scenarios:
        if sc.kind == "cumulative" and sc.studies is None:
            continue  # the primary fit itself
        model = model_for(base, sc)
        key = fingerprint(model)
        data = tuple(sorted((v.name, np.asarray(v.get_value()).tobytes()) for v in model.data_vars))
        if (key, data) in seen:
            duplicates[sc.name] = seen[(key, data)]
            continue
        seen[(key, data)] = sc.name
        groups.setdefault(key, []).append(sc)
    return groups, duplicates


def _fit_groups(payloads: list[dict], workers: int, say: Callable[[str], None]) -> list[dict]:
    rows: list[dict] = []
    context = multiprocessing.get_context("spawn")  # nutpie and numba threads do not survive fork
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for done, group_rows in enumerate(pool.map(fit_group, payloads), start=1):
            rows.extend(group_rows)
            names = ", ".join(r["scenario"] for r in group_rows)
            say(f"      structure {done}/{len(payloads)}: {names}")
    return rows


def _complete(scenarios, rows, duplicates, primary) -> list[dict]:
    """Every scenario's row, in scenario order: twins copy their fit, the last step is primary."""
    by_name = {r["scenario"]: r for r in rows}
    for sc in scenarios:
        own = {"scenario": sc.name, "change": sc.change, "kind": sc.kind, "step": sc.step}
        if sc.name in duplicates:
            twin = duplicates[sc.name]
            extra = {"compiled": False, "seconds": 0.0, "same_fit_as": twin}
            by_name[sc.name] = by_name[twin] | own | extra
        elif sc.name not in by_name:
            by_name[sc.name] = primary_row(primary) | own | {"same_fit_as": "primary"}
    return [by_name[sc.name] for sc in scenarios]


def run_suite(
    base: Evidence,
    config,
    priors: PriorSpec,
    primary,
    say: Callable[[str], None] = print,
    studies_dir: Path | None = None,
    workers: int | None = None,
) -> SuiteResult:
    """Run every scenario and the cumulative steps; returns the tables for the run folder."""
    started = time.monotonic()
    scenarios = build_scenarios(base, config, priors)
    thresholds = config.hypotheses.thresholds
    groups, duplicates = group_scenarios(base, scenarios)
    payloads = [
        {
            "scenarios": [asdict(sc) for sc in group],
            "settings": config.sampler.to_dict(),
            "thresholds": thresholds.to_dict(),
            "studies_dir": str(studies_dir) if studies_dir else None,
        }
        for group in groups.values()
    ]
    workers = workers or _cores()
    say(
        f"      {len(scenarios)} scenarios in {len(payloads)} model structures "
        f"({len(duplicates)} identical to another); fitting on {workers} processes"
    )
    rows = _fit_groups(payloads, workers, say)
    ordered = _complete(scenarios, rows, duplicates, primary)
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
    return SuiteResult(table, cumulative, psense(primary), leader, seconds, compiles, len(rows))
