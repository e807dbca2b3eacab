"""The suite's worker: compile one model structure once, then refit each scenario of the group.

Runs in a spawned process (nutpie and numba threads do not survive a fork).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

from analyses.inference.hypotheses import Thresholds
from analyses.inference.sampling import GatedFit
from analyses.inference.signals import Orphaned, get_while_parent_lives
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


def _row(scenario: Scenario, fit: GatedFit, thresholds) -> dict:
    post = fit.idata["posterior"]
    return posterior_row(scenario, post, thresholds, fit.certified, fit.attempts)


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


def fit_group(payload: dict) -> list[dict]:
    """Worker: compile one model once, then sample each scenario it is given.

    The payload's ``scenarios`` build one model with what differs between them as data
    (:func:`models.blockade.build_variants_model`); ``fit`` is the ones this worker samples: a
    list, or a queue the workers share, ended by ``None`` (default: all of them, as in the
    fallback where a payload is one model structure). With ``eager`` the worker compiles at
    once rather than when its first scenario arrives. The first row says it compiled.
    """
    from analyses.inference.sampling import (
        SamplerSettings,
        compile_model,
        gated,
        sample_compiled,
    )
    from models.blockade import build_variants_model, modelled_studies
    from models.evidence.load import load_evidence

    base = load_evidence(Path(payload["studies_dir"]) if payload["studies_dir"] else None)
    settings = SamplerSettings(**payload["settings"])
    thresholds = Thresholds(**payload["thresholds"])
    scenarios = [_scenario(raw) for raw in payload["scenarios"]]
    variants = [variant_for(base, sc) for sc in scenarios]
    model, data = build_variants_model(variants)
    compiled, rows = None, []
    # Compiling before the first scenario arrives overlaps it with the primary fit.
    if payload.get("eager"):
        compiled = compile_model(model)
    fresh = True
    for i in _indices(payload.get("fit", range(len(scenarios)))):
        started = time.monotonic()
        if compiled is None:
            compiled = compile_model(model)
        fit = gated(partial(sample_compiled, compiled, data[i]), settings)
        row = _row(scenarios[i], fit, thresholds)
        seconds = round(time.monotonic() - started, 2)
        modelled = modelled_studies(variants[i].evidence, variants[i].options)
        studies = " ".join(s.id for s in modelled)
        rows.append(row | {"compiled": fresh, "seconds": seconds, "studies": studies})
        fresh = False
        if payload.get("progress") is not None:
            payload["progress"].put((f"{scenarios[i].name} ({seconds:.1f} s)", seconds))
    return rows


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
