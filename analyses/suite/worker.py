"""The suite's worker: compile one model structure once, then refit each scenario of the group.

Runs in a spawned process (nutpie and numba threads do not survive a fork).
"""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path

from analyses.inference.fit import HEADLINE_VARS
from analyses.inference.hypotheses import Thresholds, hypothesis_table
from analyses.suite.scenarios import Scenario, _options, _spec
from analyses.suite.table import scenario_row
from models.evidence.load import Evidence


def fingerprint(model) -> str:
    import pytensor

    buf = io.StringIO()
    pytensor.dprint(model.logp(), file=buf)
    return hashlib.sha256(
        (buf.getvalue() + repr(sorted(model.coords.items()))).encode()
    ).hexdigest()


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


def _sample_gated(compiled, data: dict, settings) -> tuple:
    """Sample with each of the settings' attempts until the gate passes (as the primary does)."""
    from analyses.inference.sampling import convergence, sample_compiled

    attempts = []
    for attempt in settings.attempts():
        trace = sample_compiled(compiled, data, attempt)
        diagnostics = convergence(trace, expected_draws=attempt.chains * attempt.draws)
        attempts.append(diagnostics.to_dict())
        if diagnostics.passed:
            break
    return trace, diagnostics, attempts


def _scenario(raw: dict) -> Scenario:
    return Scenario(**{**raw, "studies": tuple(raw["studies"]) if raw["studies"] else None})


def _row(scenario: Scenario, trace, diagnostics, attempts, thresholds) -> dict:
    post = trace["posterior"]
    slots = scenario.priors["slots"]
    table = hypothesis_table(
        post["beta_acute"],
        post["beta_sustained"],
        slots["beta_acute"],
        slots["beta_sustained"],
        thresholds,
    )
    draws = {name: post[name].values.ravel() for name in HEADLINE_VARS}
    return scenario_row(scenario, table, draws, diagnostics.passed, attempts)


def fit_group(payload: dict) -> list[dict]:
    """Worker: compile one model once, then sample each scenario it is given.

    The payload's ``scenarios`` build one model with what differs between them as data
    (:func:`models.blockade.build_variants_model`); ``fit`` lists the ones this worker samples
    (default: all of them, as in the fallback where a payload is one model structure).
    """
    import warnings

    import nutpie

    from analyses.inference.sampling import SamplerSettings
    from models.blockade import build_variants_model, modelled_studies
    from models.evidence.load import load_evidence

    # In this worker process only: the custom likelihoods' simulators run in object mode.
    warnings.filterwarnings("ignore", message="Numba will use object mode", category=UserWarning)
    base = load_evidence(Path(payload["studies_dir"]) if payload["studies_dir"] else None)
    settings = SamplerSettings(**payload["settings"])
    thresholds = Thresholds(**payload["thresholds"])
    scenarios = [_scenario(raw) for raw in payload["scenarios"]]
    variants = [variant_for(base, sc) for sc in scenarios]
    model, data = build_variants_model(variants)
    compiled, rows = None, []
    for i in payload.get("fit", range(len(scenarios))):
        started = time.monotonic()
        fresh = compiled is None
        if fresh:
            compiled = nutpie.compile_pymc_model(model)
        trace, diagnostics, attempts = _sample_gated(compiled, data[i], settings)
        row = _row(scenarios[i], trace, diagnostics, attempts, thresholds)
        seconds = round(time.monotonic() - started, 2)
        modelled = modelled_studies(variants[i].evidence, variants[i].options)
        studies = " ".join(s.id for s in modelled)
        rows.append(row | {"compiled": fresh, "seconds": seconds, "studies": studies})
        if payload.get("progress") is not None:
            payload["progress"].put(f"{scenarios[i].name} ({seconds:.1f} s)")
    return rows
