"""The sensitivity suite and the cumulative analysis (SCIENCE.md section 6).

Every scenario is one change from the primary analysis, refitted. Scenarios are grouped by the
structure of their model (a fingerprint of its log-density graph): a group compiles once with
nutpie and each scenario swaps in its own data (`CompiledModel.with_data`). Only the prior
parameters of the two blockade fractions and the within-subject correlation are shared data
(more sharing made every compile 2-3x slower; see models.distributions.make_rv), so prior sets
and fixed correlations share a compile, while leaving a study out or reading a number
differently changes the graph and compiles anew. Groups run in parallel, one process per core.
Threshold scenarios need no refit: they re-read the primary posterior.
"""

from __future__ import annotations

import hashlib
import io
import logging
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analyses.inference.fit import HEADLINE_VARS
from analyses.inference.hypotheses import HEADLINE, HYPOTHESES, Thresholds, hypothesis_table
from analyses.inference.intervals import interval
from models.blockade import ModelOptions
from models.evidence.load import Evidence
from models.priors import NAMED_SETS, PriorSpec, load_priors

THRESHOLD_GRID = [(p, q) for p in (0.4, 0.5, 0.6) for q in (0.1, 0.2, 0.3)]


@dataclass(frozen=True)
class Scenario:
    """One refit: what differs from the primary analysis, as data."""

    name: str
    change: str
    priors: dict  # PriorSpec as JSON-able dict
    options: dict  # ModelOptions as dict
    readings: dict = field(default_factory=dict)
    studies: tuple[str, ...] | None = None  # None: every included study
    kind: str = "sensitivity"  # or "cumulative"
    step: int | None = None


def _prior_dict(spec: PriorSpec) -> dict:
    return spec.to_dict()


def _spec(d: dict) -> PriorSpec:
    return PriorSpec(d["name"], d["slots"], d.get("derivations", {}), d.get("source", ""))


def _options(d: dict) -> ModelOptions:
    return ModelOptions(
        **{**d, "covariates": tuple(d["covariates"]), "unknown_hours": tuple(d["unknown_hours"])}
    )


def build_scenarios(base: Evidence, config, priors: PriorSpec) -> list[Scenario]:
    """Every scenario of the suite, plus the cumulative steps."""
    options = config.model.options()
    opt = asdict(options)
    readings = {k: dict(v) for k, v in config.analysis.readings.items()}
    resolved = base.resolve(readings)
    included = [s.id for s in resolved.included]
    primary = _prior_dict(priors)
    out: list[Scenario] = []

    def add(name, change, **kw):
        out.append(
            Scenario(
                name,
                change,
                kw.pop("priors", primary),
                kw.pop("options", opt),
                kw.pop("readings", readings),
                **kw,
            )
        )

    for name in NAMED_SETS:
        if name != priors.name:
            add(
                f"priors: {name}",
                f"prior set '{name}' instead of '{priors.name}'",
                priors=_prior_dict(load_priors(name, base.literature)),
            )
    for path in config.sensitivity.prior_files:
        spec = load_priors(path, base.literature)
        add(f"priors: {spec.name}", f"user prior file {path}", priors=_prior_dict(spec))
    for sid in included:
        add(f"leave out {sid}", f"{sid} removed", studies=tuple(s for s in included if s != sid))
    add(
        "early-stopping bias " + ("off" if options.early_stopping_bias else "on"),
        "bias term for early-stopped trials "
        + ("removed" if options.early_stopping_bias else "added"),
        options={**opt, "early_stopping_bias": not options.early_stopping_bias},
    )
    for sid, dispute, alternatives, default in base.disputes():
        if sid not in included:
            continue
        used = readings.get(sid, {}).get(dispute, default)
        for reading in alternatives:
            if reading != used:
                picks = {**readings, sid: {**readings.get(sid, {}), dispute: reading}}
                add(
                    f"reading {sid}.{dispute} = {reading}",
                    f"{sid} {dispute}: '{reading}' instead of '{used}'",
                    readings=picks,
                )
    for rho in config.sensitivity.correlations:
        add(
            f"within-subject correlation {rho:g}",
            f"correlation fixed at {rho:g} (not reported by any study)",
            priors={
                **primary,
                "name": f"{priors.name}+rho{rho:g}",
                "slots": {
                    **primary["slots"],
                    "within_subject_correlation": {"dist": "fixed", "value": rho},
                },
            },
        )
    if config.sensitivity.specific_share_one:
        add(
            "specific share fixed at 1",
            "reported attenuation read as a share of ketamine's specific effect",
            priors={
                **primary,
                "name": f"{priors.name}+kappa1",
                "slots": {**primary["slots"], "specific_share": {"dist": "fixed", "value": 1.0}},
            },
        )
    add(
        "single-arm evidence " + ("excluded" if options.include_single_arm else "included"),
        "single-arm studies " + ("dropped" if options.include_single_arm else "added"),
        options={**opt, "include_single_arm": not options.include_single_arm},
    )
    other = "log_hours" if options.moderator == "regimen" else "regimen"
    add(
        f"timing moderator: {other}",
        f"{'continuous log-hours' if other == 'log_hours' else 'two-level'} timing moderator",
        options={**opt, "moderator": other},
    )
    years = sorted({s.citation.year for s in resolved.included})
    for step, year in enumerate(years, start=1):
        upto = tuple(s.id for s in resolved.included if s.citation.year <= year)
        # The last step holds every study: it is the primary analysis, not refitted.
        add(
            f"cumulative to {year}",
            f"studies published up to {year}: {', '.join(upto)}",
            studies=None if len(upto) == len(included) else upto,
            kind="cumulative",
            step=step,
        )
    return out


def _fingerprint(model) -> str:
    import pytensor

    buf = io.StringIO()
    pytensor.dprint(model.logp(), file=buf)
    return hashlib.sha256(
        (buf.getvalue() + repr(sorted(model.coords.items()))).encode()
    ).hexdigest()


def _model_for(base: Evidence, scenario: Scenario):
    from models.blockade import build_blockade_model

    evidence = base.resolve(scenario.readings)
    if scenario.studies is not None:
        keep = set(scenario.studies) | {s.id for s in evidence.studies if s.status != "included"}
        evidence = evidence.subset(keep)
    return build_blockade_model(evidence, _spec(scenario.priors), _options(scenario.options))


def _fit_group(payload: dict) -> list[dict]:
    """Worker: compile one model structure once, then sample every scenario in the group."""
    import warnings

    import nutpie

    from analyses.inference.sampling import SamplerSettings, convergence, sample_compiled
    from models.evidence.load import load_evidence

    warnings.filterwarnings("ignore", message="Numba will use object mode", category=UserWarning)
    base = load_evidence(Path(payload["studies_dir"]) if payload["studies_dir"] else None)
    settings = SamplerSettings(**payload["settings"])
    compiled = None
    rows = []
    for raw in payload["scenarios"]:
        scenario = Scenario(**{**raw, "studies": tuple(raw["studies"]) if raw["studies"] else None})
        started = time.monotonic()
        model = _model_for(base, scenario)
        data = {v.name: v.get_value() for v in model.data_vars}
        fresh = compiled is None
        if fresh:
            compiled = nutpie.compile_pymc_model(model)
        attempts = []
        for attempt in (settings, settings.stronger()):
            trace = sample_compiled(compiled, data, attempt)
            diagnostics = convergence(trace)
            attempts.append(diagnostics.to_dict())
            if diagnostics.passed:
                break
        post = trace["posterior"]
        t = Thresholds(**payload["thresholds"])
        table = hypothesis_table(
            post["beta_acute"],
            post["beta_sustained"],
            scenario.priors["slots"]["beta_acute"],
            scenario.priors["slots"]["beta_sustained"],
            t,
        )
        draws = {name: post[name].values.ravel() for name in HEADLINE_VARS}
        rows.append(
            _row(
                scenario,
                table,
                draws,
                diagnostics.passed,
                attempts,
                compiled_here=fresh,
                seconds=time.monotonic() - started,
                studies=list(model.coords["study"]),
            )
        )
    return rows


def _row(scenario, table, draws, certified, attempts, compiled_here, seconds, studies) -> dict:
    t = table.set_index("hypothesis")
    row = {
        "scenario": scenario.name,
        "change": scenario.change,
        "kind": scenario.kind,
        "step": scenario.step,
        "studies": " ".join(studies),
    }
    for h in HYPOTHESES:
        row[f"p_{h}"] = float(t.loc[h, "posterior_prob"])
        row[f"prior_{h}"] = float(t.loc[h, "prior_prob"])
    row["bf_permissive_vs_primary"] = t.loc[HEADLINE[0], f"bf_vs_{HEADLINE[1]}"]
    for name, values in draws.items():
        row[f"{name}_median"] = float(np.median(values))
        ci = interval()
        row[f"{name}_{ci.columns[0]}"], row[f"{name}_{ci.columns[1]}"] = ci.bounds(values)
    row["p_delta_positive"] = float((draws["delta_timing"] > 0).mean())
    row["certified"] = bool(certified)
    row["attempts"] = len(attempts)
    row["compiled"] = bool(compiled_here)
    row["seconds"] = round(seconds, 2)
    return row


@dataclass
class SuiteResult:
    """Everything the suite produced, ready to be written into a run folder."""

    table: pd.DataFrame
    cumulative: pd.DataFrame
    psense: pd.DataFrame
    leader: str
    wall_seconds: float
    compiles: int
    refits: int

    def write(self, stage: Path, figures: Path) -> None:
        from analyses.report import robustness as sensitivity_report
        from analyses.report.figures import save_figure

        self.table.to_csv(stage / "sensitivity.csv", index=False)
        self.cumulative.to_csv(stage / "cumulative.csv", index=False)
        self.psense.to_csv(stage / "psense.csv")
        save_figure(
            sensitivity_report.robustness_figure(self.table, self.leader),
            figures / "robustness.png",
        )
        save_figure(
            sensitivity_report.cumulative_figure(self.cumulative), figures / "cumulative.png"
        )
        (stage / "robustness.md").write_text(sensitivity_report.robustness_section(self))


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
    settings = config.sampler.to_dict()

    # Group by model structure; identical (structure, data) scenarios are fitted once.
    groups: dict[str, list[Scenario]] = {}
    duplicates: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    for sc in scenarios:
        if sc.kind == "cumulative" and sc.studies is None:
            continue  # the primary fit itself
        model = _model_for(base, sc)
        key = _fingerprint(model)
        data_key = (
            key,
            tuple(sorted((v.name, np.asarray(v.get_value()).tobytes()) for v in model.data_vars)),
        )
        if data_key in seen:
            duplicates[sc.name] = seen[data_key]
            continue
        seen[data_key] = sc.name
        groups.setdefault(key, []).append(sc)
    payloads = [
        {
            "scenarios": [asdict(sc) for sc in group],
            "settings": settings,
            "thresholds": thresholds.to_dict(),
            "studies_dir": str(studies_dir) if studies_dir else None,
        }
        for group in groups.values()
    ]
    say(
        f"      {len(scenarios)} scenarios in {len(payloads)} model structures "
        f"({len(duplicates)} identical to another); fitting on {workers or _cores()} processes"
    )
    rows: list[dict] = []
    context = multiprocessing.get_context("spawn")  # nutpie and numba threads do not survive fork
    with ProcessPoolExecutor(max_workers=workers or _cores(), mp_context=context) as pool:
        for done, group_rows in enumerate(pool.map(_fit_group, payloads), start=1):
            rows.extend(group_rows)
            say(
                f"      structure {done}/{len(payloads)}: "
                + ", ".join(r["scenario"] for r in group_rows)
            )
    by_name = {r["scenario"]: r for r in rows}
    for name, twin in duplicates.items():
        sc = next(x for x in scenarios if x.name == name)
        by_name[name] = {
            **by_name[twin],
            "scenario": name,
            "change": sc.change,
            "kind": sc.kind,
            "step": sc.step,
            "compiled": False,
            "seconds": 0.0,
            "same_fit_as": twin,
        }
    for sc in scenarios:
        if sc.name not in by_name:  # the last cumulative step is the primary fit
            by_name[sc.name] = _primary_row(primary) | {
                "scenario": sc.name,
                "change": sc.change,
                "kind": sc.kind,
                "step": sc.step,
                "same_fit_as": "primary",
            }
    ordered = [by_name[sc.name] for sc in scenarios]

    leader = max(
        HYPOTHESES,
        key=lambda h: float(primary.hypotheses.set_index("hypothesis").loc[h, "posterior_prob"]),
    )
    primary_row = _primary_row(primary)
    table = pd.DataFrame(
        [primary_row]
        + [r for r in ordered if r["kind"] == "sensitivity"]
        + _threshold_rows(primary, thresholds, priors)
    )
    table["leader"] = table[[f"p_{h}" for h in HYPOTHESES]].idxmax(axis=1).str[2:]
    table["agrees"] = table["leader"] == leader
    cumulative = pd.DataFrame([r for r in ordered if r["kind"] == "cumulative"])
    if len(cumulative):
        cumulative["leader"] = cumulative[[f"p_{h}" for h in HYPOTHESES]].idxmax(axis=1).str[2:]
        prev = set()
        added = []
        for studies in cumulative["studies"]:
            now = set(studies.split())
            added.append(" ".join(sorted(now - prev)))
            prev = now
        cumulative.insert(2, "added", added)
    compiles = sum(1 for r in rows if r["compiled"])
    return SuiteResult(
        table, cumulative, _psense(primary), leader, time.monotonic() - started, compiles, len(rows)
    )


def _cores() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def _primary_row(primary) -> dict:
    post = primary.idata["posterior"]
    draws = {name: post[name].values.ravel() for name in HEADLINE_VARS}
    scenario = Scenario("primary", "the primary analysis", {}, {})
    studies = list(post["beta_study"].coords["study"].values)
    return _row(
        scenario,
        primary.hypotheses,
        draws,
        primary.certified,
        primary.gated.attempts,
        compiled_here=True,
        seconds=0.0,
        studies=studies,
    ) | {"kind": "primary"}


def _threshold_rows(primary, base: Thresholds, priors: PriorSpec) -> list[dict]:
    post = primary.idata["posterior"]
    spec_a, spec_s = priors["beta_acute"], priors["beta_sustained"]
    rows = []
    for p, q in THRESHOLD_GRID:
        if (p, q) == (base.primary, base.permissive):
            continue
        t = Thresholds(p, q)
        table = hypothesis_table(post["beta_acute"], post["beta_sustained"], spec_a, spec_s, t)
        draws = {name: post[name].values.ravel() for name in HEADLINE_VARS}
        sc = Scenario(
            f"thresholds {p:g}/{q:g}",
            f"primary threshold {p:g}, permissive threshold {q:g} (no refit)",
            {},
            {},
        )
        rows.append(
            _row(
                sc,
                table,
                draws,
                primary.certified,
                [],
                False,
                0.0,
                list(post["beta_study"].coords["study"].values),
            )
            | {"kind": "thresholds"}
        )
    return rows


def _psense(primary) -> pd.DataFrame:
    """Power-scaling sensitivity of the primary fit to its prior and likelihood."""
    import pymc as pm
    from arviz_stats import psense_summary

    idata = primary.idata
    if "log_prior" not in idata:
        pm.stats.compute_log_prior(idata, model=primary.model, progressbar=False)
    # Prior sensitivity of the headline quantities, with the nuisance priors scaled too.
    # psense_summary logs a pointer to its documentation when it flags anything; the report
    # explains the flags instead, so that message is held back.
    logger = logging.getLogger("arviz_stats.psense")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        table = psense_summary(
            idata, var_names=[*list(HEADLINE_VARS), "tau_beta", "ketamine_effect"]
        )
    finally:
        logger.setLevel(level)
    return table
