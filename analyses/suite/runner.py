"""Run the sensitivity suite and the cumulative analysis (see docs/science.md).

Every scenario is one change from the primary analysis, refitted. All of them are data of one
model per timing-moderator form (:func:`models.blockade.build_variants_model`: a study left out
is a likelihood weighted 0, a reading is a choice between terms, a prior's parameters and a
fixed nuisance are data; :func:`~analyses.suite.worker.model_groups`), so each worker process
compiles each model once and samples its share of the scenarios with ``with_data``. Scenarios
whose data are equal are fitted once. If one model cannot hold them all (a study's regimen
read two ways, different covariates), the suite falls back to one compile per model structure.
Threshold scenarios need no refit: they re-read the primary posterior; a scenario that changes
only a prior reweights it where PSIS is reliable (:mod:`analyses.suite.reweight`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from analyses.inference import compile_flags, signals
from analyses.inference.hypotheses import HYPOTHESES
from analyses.progress import Progress
from analyses.suite import SuiteFailed
from analyses.suite.reweight import changed_slots, describe, reweight_scenarios
from analyses.suite.scenarios import Scenario, build_scenarios, primary_scenario, refitted
from analyses.suite.table import (
    SuiteResult,
    cumulative_table,
    primary_row,
    psense,
    psense_by_study,
    threshold_rows,
    with_agreement,
)
from analyses.suite.worker import fingerprint, model_for, model_groups, serve, variant_for
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
    """Every scenario as data of one model per moderator form: the scenarios to fit, the twins.

    Two scenarios whose data are equal are one fit (e.g. leaving out the only single-arm study
    and excluding single-arm evidence). Raises ``VariantsDiffer`` if one model cannot hold
    the scenarios of its moderator form.
    """
    variants = [variant_for(base, sc) for sc in scenarios]
    keys: dict[int, tuple] = {}
    for g, members in enumerate(model_groups(scenarios)):
        _, data = build_variants_model([variants[i] for i in members])
        for i, d in zip(members, data, strict=True):
            keys[i] = (g, *sorted((k, np.asarray(v).tobytes()) for k, v in d.items()))
    unique: list[int] = []
    duplicates: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    for i, sc in enumerate(scenarios):
        if keys[i] in seen:
            duplicates[sc.name] = seen[keys[i]]
        else:
            seen[keys[i]] = sc.name
            unique.append(i)
    return unique, duplicates


def _workers(config, one_model: bool) -> int:
    """Worker processes: for one model, as many as the cores can run chains for at once.

    nutpie samples a fit's chains in parallel threads, so on this 2-core machine one worker
    keeps both cores busy, and a second would only add a second compile of the same model.
    The fallback's compiles differ, so it uses every core.
    """
    return max(1, _cores() // config.sampler.chains) if one_model else _cores()


class SuiteRun:
    """The suite, started before the primary fit so that its compile overlaps the fit.

    Use as a context manager: entering starts the worker processes, which compile the model of
    most scenarios at once and begin with the scenarios that need no primary posterior (studies left
    out, readings, structure, cumulative steps). :meth:`finish` takes the primary fit,
    reweights the prior-only scenarios it can, queues the rest and collects every row.
    Leaving the block stops any worker still running, so a failed or interrupted run leaves
    no process behind. If one model cannot hold every scenario, nothing starts early and
    :meth:`finish` runs the fallback, one compile per model structure.
    """

    def __init__(
        self,
        base: Evidence,
        config,
        priors: PriorSpec,
        say: Callable[[str], None] = print,
        studies_dir: Path | None = None,
        workers: int | None = None,
        one_model: bool = True,
    ) -> None:
        self.base, self.config, self.priors, self.say = base, config, priors, say
        self.started = time.monotonic()
        self.scenarios = build_scenarios(base, config, priors)
        self.fitted = refitted(self.scenarios)
        self.here = primary_scenario(config, priors)
        self.common = {
            "settings": config.refit_sampler.to_dict(),
            "thresholds": config.hypotheses.thresholds.to_dict(),
            "studies_dir": str(studies_dir) if studies_dir else None,
        }
        self.unique, self.duplicates = None, {}
        if one_model:
            try:
                self.unique, self.duplicates = one_model_plan(base, self.fitted)
            except VariantsDiffer as err:
                say(
                    f"      one model cannot hold every scenario ({err}); one compile per structure"
                )
        self.workers = workers or _workers(config, self.unique is not None)
        self._processes: list = []

    def _candidate(self, index: int) -> bool:
        """A scenario that reweighting may stand in for: it waits for the primary fit."""
        reweight = self.config.sensitivity.reweight
        return reweight and changed_slots(self.fitted[index], self.here) is not None

    def __enter__(self) -> SuiteRun:
        if not self.unique:
            return self
        self._start()
        self._early = [i for i in self.unique if not self._candidate(i)]
        for i in self._early:
            self._todo.put(i)
        payload = self.common | {
            "scenarios": [asdict(sc) for sc in self.fitted],
            "fit": self._todo,
            "eager": True,
        }
        self._spawn([payload] * self.workers)
        self.say(
            f"      sensitivity suite: {self.workers} process(es) compiling its model in the"
            f" background; {len(self._early)} refits queued now, the prior-only scenarios"
            " once the primary posterior shows which reweighting can stand in for"
        )
        return self

    def _start(self) -> None:
        compile_flags.apply()  # the worker processes inherit the environment
        self._context = multiprocessing.get_context("spawn")  # nutpie's threads die in a fork
        # Plain queues, not a Manager's: a manager is a server process that outlives a main
        # process killed outright (SIGKILL); these die with their processes.
        self._finished, self._todo = self._context.Queue(), self._context.Queue()
        self._results = self._context.Queue()

    def _spawn(self, payloads: list[dict]) -> None:
        self._processes = []
        for index, payload in enumerate(payloads):
            args = (payload | {"progress": self._finished}, index, self._results)
            process = self._context.Process(target=serve, args=args, daemon=True)
            signals.start_ignoring_interrupts(process)
            self._processes.append(process)

    def __exit__(self, *exc) -> None:
        for process in self._processes:
            if process.is_alive():
                process.terminate()  # mid-compile it would otherwise finish the compile first
            process.join()
        self._processes = []

    def finish(self, primary) -> SuiteResult:
        """Reweight what PSIS can stand in for, refit the rest, and return the tables."""
        thresholds = self.config.hypotheses.thresholds
        unique = self.unique if self.unique is not None else range(len(self.fitted))
        reweighted, k_hats = {}, {}
        if self.config.sensitivity.reweight:
            candidates = [self.fitted[i] for i in unique if self._candidate(i)]
            reweighted, k_hats = reweight_scenarios(
                self.base, primary, self.here, candidates, thresholds
            )
            describe(reweighted, k_hats, self.say)
        # What needs the primary alone is computed while the worker refits, not after it.
        primary_only = (
            threshold_rows(primary, thresholds, self.priors),
            psense(primary),
            psense_by_study(primary),
        )
        if self.unique is None:
            rows = self._fallback([sc for sc in self.fitted if sc.name not in reweighted])
        else:
            rows = self._one_model(reweighted)
        return self._tables(primary, rows, reweighted, k_hats, primary_only)

    def _one_model(self, reweighted: dict) -> list[dict]:
        """Queue what reweighting left, end the queue, and collect every worker's rows."""
        if not self._processes:
            return []
        late = [i for i in self.unique if self._candidate(i)]
        late = [i for i in late if self.fitted[i].name not in reweighted]
        for i in late:
            self._todo.put(i)
        for _ in range(self.workers):
            self._todo.put(None)
        fits = len(self._early) + len(late)
        self.say(
            f"      {fits} refits ({len(self.duplicates)} identical to another) on "
            f"{self.workers} process(es), each compiling one model per timing-moderator form"
        )
        return self._collect(fits)

    def _fallback(self, remaining: list[Scenario]) -> list[dict]:
        """One compile per model structure, in parallel workers."""
        groups, self.duplicates = group_scenarios(self.base, remaining)
        fits = sum(len(g) for g in groups.values())
        self.say(
            f"      {fits} refits ({len(self.duplicates)} identical to another) on "
            f"{len(groups)} model structures, one compile each"
        )
        if not groups:
            return []
        self._start()
        self._spawn(
            [self.common | {"scenarios": [asdict(sc) for sc in g]} for g in groups.values()]
        )
        return self._collect(fits)

    def _collect(self, fits: int) -> list[dict]:
        """Every worker's rows, saying each scenario as it finishes; a signal stops at once."""
        progress = Progress(fits, self.say, parallel=len(self._processes))
        rows: dict[int, list[dict]] = {}
        while len(rows) < len(self._processes):
            signals.check()  # an interrupt stops waiting at once; nothing is written
            with contextlib.suppress(queue.Empty):
                progress.step(*self._finished.get(timeout=0.2))
            with contextlib.suppress(queue.Empty):
                while True:
                    index, found, error = self._results.get_nowait()
                    if error is not None:
                        raise SuiteFailed(f"a sensitivity-suite worker failed: {error}")
                    rows[index] = found
            self._check_alive(rows)
        while not self._finished.empty():
            progress.step(*self._finished.get())
        return [row for index in sorted(rows) for row in rows[index]]

    def _check_alive(self, rows: dict) -> None:
        for index, process in enumerate(self._processes):
            if index not in rows and process.exitcode is not None and self._results.empty():
                raise SuiteFailed(
                    f"a sensitivity-suite worker stopped (exit code {process.exitcode}) "
                    "before sending its results"
                )

    def _tables(self, primary, rows, reweighted, k_hats, primary_only) -> SuiteResult:
        thresholds_rows, power_scaling, by_study = primary_only
        done = [r | {"method": "refit"} for r in rows] + [
            r | {"method": "reweighted", "compiled": False} for r in reweighted.values()
        ]
        ordered = _complete(self.scenarios, done, self.duplicates, primary)
        for row in ordered:
            row["pareto_k"] = k_hats.get(row["scenario"], np.nan)
        probs = primary.hypotheses.set_index("hypothesis")["posterior_prob"]
        leader = max(HYPOTHESES, key=lambda h: float(probs[h]))
        sensitivity = [r for r in ordered if r["kind"] == "sensitivity"]
        table = with_agreement(
            pd.DataFrame(
                [
                    primary_row(primary),
                    *sensitivity,
                    *thresholds_rows,
                ]
            ),
            leader,
        )
        names = {s.id: s.label for s in self.base.studies}
        cumulative = cumulative_table([r for r in ordered if r["kind"] == "cumulative"], names)
        compiles = sum(1 for r in rows if r["compiled"])
        seconds = time.monotonic() - self.started
        return SuiteResult(
            table,
            cumulative,
            power_scaling,
            leader,
            seconds,
            compiles,
            len(rows),
            len(reweighted),
            self.config.refit_sampler.target_accept,
            by_study,
            names,
        )


def _complete(scenarios, rows, duplicates, primary) -> list[dict]:
    """Every scenario's row, in scenario order: twins copy their fit, the last step is primary."""
    by_name = {r["scenario"]: r for r in rows}
    for sc in scenarios:
        own = {
            "scenario": sc.name,
            "label": sc.shown,
            "change": sc.change,
            "kind": sc.kind,
            "step": sc.step,
        }
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
    """Run every scenario and the cumulative steps after the primary fit; returns the tables.

    ``one_model=False`` compiles once per model structure instead (the fallback, and how the
    suite ran before; ``make bench`` times both). A run starts :class:`SuiteRun` before its
    primary fit instead, so that the compile overlaps it.
    """
    with SuiteRun(base, config, priors, say, studies_dir, workers, one_model) as suite:
        return suite.finish(primary)
