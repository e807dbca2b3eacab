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


def model_for(base: Evidence, scenario: Scenario):
    from models.blockade import build_blockade_model

    evidence = base.resolve(scenario.readings)
    if scenario.studies is not None:
        keep = set(scenario.studies) | {s.id for s in evidence.studies if s.status != "included"}
        evidence = evidence.subset(keep)
    return build_blockade_model(evidence, _spec(scenario.priors), _options(scenario.options))


def _sample_gated(compiled, data: dict, settings) -> tuple:
    """Sample; retry once with stronger settings if the gate fails (as the primary fit does)."""
    from analyses.inference.sampling import convergence, sample_compiled

    attempts = []
    for attempt in (settings, settings.stronger()):
        trace = sample_compiled(compiled, data, attempt)
        diagnostics = convergence(trace, expected_draws=attempt.chains * attempt.draws)
        attempts.append(diagnostics.to_dict())
        if diagnostics.passed:
            break
    return trace, diagnostics, attempts


def fit_group(payload: dict) -> list[dict]:
    """Worker: compile one model structure once, then sample every scenario in the group."""
    import warnings

    import nutpie

    from analyses.inference.sampling import SamplerSettings
    from models.evidence.load import load_evidence

    # In this worker process only: the custom likelihoods' simulators run in object mode.
    warnings.filterwarnings("ignore", message="Numba will use object mode", category=UserWarning)
    base = load_evidence(Path(payload["studies_dir"]) if payload["studies_dir"] else None)
    settings = SamplerSettings(**payload["settings"])
    thresholds = Thresholds(**payload["thresholds"])
    compiled, rows = None, []
    for raw in payload["scenarios"]:
        scenario = Scenario(**{**raw, "studies": tuple(raw["studies"]) if raw["studies"] else None})
        started = time.monotonic()
        model = model_for(base, scenario)
        fresh = compiled is None
        if fresh:
            compiled = nutpie.compile_pymc_model(model)
        data = {v.name: v.get_value() for v in model.data_vars}
        trace, diagnostics, attempts = _sample_gated(compiled, data, settings)
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
        row = scenario_row(scenario, table, draws, diagnostics.passed, attempts)
        seconds = round(time.monotonic() - started, 2)
        studies = " ".join(model.coords["study"])
        rows.append(row | {"compiled": fresh, "seconds": seconds, "studies": studies})
    return rows
