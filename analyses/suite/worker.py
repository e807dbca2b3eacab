"""The suite's worker: compile each model once, then refit each scenario given to it.

Runs in a spawned process (nutpie and numba threads do not survive a fork).
"""

from __future__ import annotations

import dataclasses
import signal
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

from analyses.inference.hypotheses import Thresholds
from analyses.inference.sampling import GatedFit
from analyses.inference.signals import Orphaned, get_while_parent_lives
from analyses.suite.conflict_replicates import PREFIX, check_seed, left_out_check
from analyses.suite.scenarios import Scenario, _options, _spec
from analyses.suite.table import posterior_row
from models.evidence.load import Evidence


def fingerprint(model) -> str:
    """The model's structure: scenarios with equal fingerprints share one compile."""
    from analyses.inference.compiled import structure_key

    return structure_key(model)


def variant_for(base: Evidence, scenario: Scenario):
    """The scenario's inputs to the model: its readings, studies, priors and options."""
    from models.blockade import Variant

    evidence = base.resolve(scenario.readings)
    if scenario.studies is not None:
        keep = set(scenario.studies) | {s.id for s in evidence.studies if s.status != "included"}
        evidence = evidence.subset(keep)
    return Variant(evidence, _spec(scenario.priors), _options(scenario.options))


def model_for(base: Evidence, scenario: Scenario):
    """The scenario's own model, built alone (what a one-model refit must agree with)."""
    from models.blockade import build_blockade_model

    v = variant_for(base, scenario)
    return build_blockade_model(v.evidence, v.priors, v.options)


def _scenario(raw: dict) -> Scenario:
    return Scenario(**{**raw, "studies": tuple(raw["studies"]) if raw["studies"] else None})


def _row(base: Evidence, scenario: Scenario, fit: GatedFit, thresholds, seed: int) -> dict:
    post = fit.idata["posterior"]
    row = posterior_row(scenario, post, thresholds, fit.certified, fit.attempts)
    if row.get("left_out"):
        row |= _replicated_check(base, scenario, post.to_dataset(), row["left_out"], seed)
    return row


def _replicated_check(base: Evidence, scenario: Scenario, post, study: str, seed: int) -> dict:
    """The left-out study's data replicated from the refit, in the analysis with it back in.

    At the scenario's readings; then at each other reading of the study's own disputed
    numbers (the refit does not depend on them: the study's data are switched off), whose p
    goes in ``left_out_check_other_readings``.
    """
    row = _check_at(base, scenario, scenario.readings, post, study, seed)
    chosen = scenario.readings.get(study, {})
    others = []
    for sid, dispute, readings, default in base.disputes():
        current = chosen.get(dispute, default)
        for reading in (r for r in readings if sid == study and r != current):
            picks = {**scenario.readings, study: {**chosen, dispute: reading}}
            found = _check_at(base, scenario, picks, post, study, seed)
            label = found.get(f"{PREFIX}_statistic")
            other = f" ({label})" if label and label != row.get(f"{PREFIX}_statistic") else ""
            others.append(f"{dispute} = {reading}: {_p_text(found)}{other}")
    return row | {f"{PREFIX}_other_readings": "; ".join(others)}


def _check_at(base: Evidence, scenario: Scenario, readings: dict, post, study: str, seed: int):
    from models.blockade import build_blockade_model

    restored = variant_for(base, dataclasses.replace(scenario, studies=None, readings=readings))
    model = build_blockade_model(restored.evidence, restored.priors, restored.options)
    return left_out_check(
        model, restored.evidence, restored.options, post, study, check_seed(seed, study)
    )


def _p_text(found: dict) -> str:
    """A check's p (or its range) in a few characters; why not, if it could not be made."""
    if f"{PREFIX}_p" not in found:
        return f"not checked ({found.get(f'{PREFIX}_note', 'no reason given')})"
    low, high = (f"{found[f'{PREFIX}_{k}']:.2f}" for k in ("p", "p_high"))
    return f"p {low}" if low == high else f"p {low} to {high}"


def _indices(todo) -> Iterator[int]:
    """The scenarios to fit: a fixed list, or a queue shared with the other workers.

    A queue is read until its ``None``: the main process adds scenarios while the workers
    run (those it reweights never come), then one ``None`` per worker. A worker whose main
    process was killed outright stops (:class:`~analyses.inference.signals.Orphaned`).
    """
    if not hasattr(todo, "get"):
        yield from todo
        return
    while (index := get_while_parent_lives(todo)) is not None:
        yield index


def model_groups(scenarios: list[Scenario]) -> list[list[int]]:
    """The scenarios' indices by the model they are data of: one model per timing-moderator form.

    Everything else a scenario changes is data of one model. The moderator form changes which
    parameters exist (each study's place in its interval of hours), and one model holding both
    forms made every refit compute the log-hours line: 3.3 against 3.0 us per log density and
    gradient, 3-7% of each refit (AMD EPYC, 2026-12-03), for the one scenario that uses it.
    """
    groups: dict[str, list[int]] = {}
    for i, scenario in enumerate(scenarios):
        groups.setdefault(_options(scenario.options).moderator, []).append(i)
    return list(groups.values())


def fit_group(payload: dict) -> list[dict]:
    """Worker: compile each model once, then sample each scenario it is given.

    The payload's ``scenarios`` build one model per timing-moderator form (:func:`model_groups`)
    with what differs between them as data (:func:`models.blockade.build_variants_model`);
    ``fit`` is the ones this worker samples: a list, or a queue the workers share, ended by
    ``None`` (default: all of them, as in the fallback where a payload is one model
    structure). With ``eager`` the worker compiles the model of most scenarios at once rather
    than when its first scenario arrives. A model's first row says it compiled.
    """
    from analyses.inference.sampling import SamplerSettings, gated, sample_compiled
    from models.blockade import modelled_studies
    from models.evidence.load import load_evidence

    base = load_evidence(Path(payload["studies_dir"]) if payload["studies_dir"] else None)
    settings = SamplerSettings(**payload["settings"])
    thresholds = Thresholds(**payload["thresholds"])
    scenarios = [_scenario(raw) for raw in payload["scenarios"]]
    variants = [variant_for(base, sc) for sc in scenarios]
    models = _Models(variants, model_groups(scenarios))
    # Compiling before the first scenario arrives overlaps it with the primary fit.
    if payload.get("eager"):
        models.compile_largest()
    rows = []
    for i in _indices(payload.get("fit", range(len(scenarios)))):
        started = time.monotonic()
        compiled, data, fresh = models.of(i)
        fit = gated(partial(sample_compiled, compiled, data), settings)
        row = _row(base, scenarios[i], fit, thresholds, settings.seed)
        seconds = round(time.monotonic() - started, 2)
        modelled = modelled_studies(variants[i].evidence, variants[i].options)
        studies = " ".join(s.id for s in modelled)
        rows.append(row | {"compiled": fresh, "seconds": seconds, "studies": studies})
        if payload.get("progress") is not None:
            label = f"{scenarios[i].name} ({seconds:.1f} s)"
            payload["progress"].put((label, seconds, time.time()))
    return rows


class _Models:
    """A worker's models, one per group of scenarios, each compiled when first needed."""

    def __init__(self, variants: list, groups: list[list[int]]) -> None:
        from models.blockade import build_variants_model

        self.groups = groups
        self.place = {i: (g, k) for g, members in enumerate(groups) for k, i in enumerate(members)}
        self.built = [build_variants_model([variants[i] for i in members]) for members in groups]
        self.compiled: dict[int, object] = {}
        self.reported: set[int] = set()

    def compile_largest(self) -> None:
        """Compile the model of most scenarios now (it overlaps the primary fit)."""
        self._compiled(max(range(len(self.groups)), key=lambda g: len(self.groups[g])))

    def _compiled(self, group: int):
        from analyses.inference.sampling import compile_model

        if group not in self.compiled:
            self.compiled[group] = compile_model(self.built[group][0])
        return self.compiled[group]

    def of(self, i: int) -> tuple[object, dict, bool]:
        """Scenario ``i``'s compiled model, its data, and whether its row reports the compile."""
        group, k = self.place[i]
        fresh = group not in self.reported
        self.reported.add(group)
        return self._compiled(group), self.built[group][1][k], fresh


def serve(payload: dict, index: int, results) -> None:
    """A worker process's entry: fit the payload and put ``(index, rows, error)`` on ``results``.

    An error is sent as text, so the main process can name it even when the exception itself
    would not pickle; a worker that dies without sending is noticed by its exit code.
    """
    # Ctrl-C reaches the whole process group. The main process records it and terminates
    # this worker; a traceback from here would only clutter the terminal.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        rows = fit_group(payload)
    except Orphaned:
        return  # nobody is left to report to
    except Exception as err:  # reported in the main process, which stops the run
        results.put((index, None, f"{type(err).__name__}: {err}"))
        return
    results.put((index, rows, None))
