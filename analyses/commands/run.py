"""`python -m analyses run [--config FILE] [--quick]`: the primary analysis, end to end.

A run reads the evidence and a configuration, fits the blockade model behind the
convergence gate, and writes a new folder ``results/<run-id>/``. Everything is written into
a staging folder first and moved into place only when complete: a failed or interrupted run
leaves no folder and touches no earlier run. ``results/latest`` points at the newest
certified run.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from contextlib import ExitStack, nullcontext
from functools import partial
from pathlib import Path

import pandas as pd
import xarray as xr

from analyses.commands.preflight import RunInputs, preflight, start_failure
from analyses.commands.publish import (
    new_run_id,
    previous_runs,
    unreadable_runs,
    update_latest,
)
from analyses.inference import signals
from analyses.inference.fit import (
    HEADLINE_VARS,
    FitResult,
    assay_sensitivity,
    fit_analysis,
    parameter_summary,
    quiet_pymc,
)
from analyses.inference.intervals import Interval, interval
from analyses.inference.provenance import (
    code_version,
    json_attrs,
    now_utc,
    package_versions,
    staged_directory,
)
from analyses.progress import RunLog
from analyses.report import figures as plots
from analyses.report.drawing import FigureHelper, FigureInputs, draw, drawers
from analyses.report.folder import RunFolder
from analyses.report.render import write_report
from analyses.suite.conflict import conflict_table
from analyses.validation import record_path, record_summary
from models.blockade import bounded_observations, controlled_studies
from models.contrasts import beta_estimates
from models.cross_check import cross_check
from models.evidence.tables import quantities_table, studies_table
from models.forms.base import SEP
from models.paths import ROOT
from models.priors import NAMED_SETS, load_priors


def _say(message: str) -> None:
    print(message, flush=True)


def fit_inputs(
    inputs: RunInputs,
    predictive: bool,
    drawn_elsewhere: Callable[[], xr.DataTree | None] | None = None,
) -> FitResult:
    """Fit the blockade model as the configuration says, behind the convergence gate.

    ``predictive`` adds the prior and posterior predictive groups and the log-likelihood;
    ``drawn_elsewhere`` gives prior predictive draws another process made, or None.
    """
    hyp = inputs.config.hypotheses
    return fit_analysis(
        inputs.evidence,
        inputs.priors,
        inputs.options,
        inputs.config.sampler,
        hyp.thresholds,
        hyp.primary_grid,
        hyp.permissive_grid,
        prior_predictive_draws=inputs.config.sampler.prior_predictive_draws if predictive else 0,
        posterior_predictive=predictive,
        drawn_elsewhere=drawn_elsewhere,
    )


def fit_primary(
    inputs: RunInputs,
    say: Callable[[str], None],
    helper: FigureHelper | None = None,
    studies_dir: Path | None = None,
) -> FitResult:
    """The primary fit, with both predictive groups, behind the convergence gate.

    A figure ``helper`` draws the prior predictive draws while this process compiles.
    """
    included = [s.id for s in inputs.evidence.included]
    say(
        f"      {len(included)} included studies: {', '.join(included)}; "
        f"prior set '{inputs.priors.name}'"
    )
    say("[2/5] fitting the blockade model (NUTS, 4 chains; compiling takes a few seconds)")
    drawn = helper.start_prior_predictive(inputs, studies_dir) if helper else None
    try:
        result = fit_inputs(inputs, predictive=True, drawn_elsewhere=drawn)
    except RuntimeError as err:
        named = start_failure(inputs, err)
        if named is None:
            raise
        raise named from None
    if helper is not None and helper.prior_error:
        say(f"      prior predictive draws made here: the helper's failed ({helper.prior_error})")
    gate = result.gated.diagnostics
    verdict = "passed" if result.certified else "FAILED: " + "; ".join(gate.failures)
    tries = len(result.gated.attempts) - 1
    plural = "retry" if tries == 1 else "retries"
    retry = f" (after {tries} {plural} with smaller steps)" if tries else ""
    say(f"      convergence gate {verdict}{retry}")
    return result


def _earlier_runs(root: Path, say: Callable[[str], None]) -> tuple[list[Path], list[str]]:
    """The earlier runs to compare with, and those whose manifest cannot be read (named)."""
    root.mkdir(parents=True, exist_ok=True)
    for stale in sorted(root.glob(".*.partial-*")):
        say(f"      note: {stale.name} is left from a killed run; ignored (remove it by hand)")
    skipped = [p.name for p in unreadable_runs(root)]
    for name in skipped:
        say(f"      note: {name} has an unreadable manifest.json; skipped as an earlier run")
    return previous_runs(root), skipped


def run(
    config_path: Path | None = None,
    quick: bool = False,
    say: Callable[[str], None] = _say,
    studies_dir: Path | None = None,
    check_start: bool = True,
) -> Path:
    """Run an analysis and return its results folder.

    Parameters
    ----------
    config_path : Path, optional
        A run configuration (default ``analyses/primary.toml``).
    quick : bool
        Skip the sensitivity suite.
    say : callable
        Where progress lines go.
    studies_dir : Path, optional
        Another folder of study files (tests use a private copy).
    check_start : bool
        Check the log density at the starting point before fitting (about 1 s). False leaves
        it until nutpie cannot start (:func:`~analyses.commands.preflight.start_failure`):
        only for a process that then ends without the interpreter's teardown, as the command
        line does, since nutpie's failed start crashes that teardown.
    """
    started = time.monotonic()
    say = say if isinstance(say, RunLog) else RunLog(out=say)
    inputs = preflight(config_path, studies_dir, check_start)
    say(f"[1/5] evidence, priors, configuration and output folder checked ({inputs.label})")
    previous, skipped = _earlier_runs(inputs.root, say)
    with ExitStack() as stack:
        suite, helper = _start_helpers(inputs, quick, say, studies_dir, stack)
        with quiet_pymc() if say.verbosity < 2 else nullcontext():
            result = fit_primary(inputs, say, helper, studies_dir)
        signals.check()  # a library may have swallowed an interrupt during the fit
        say("[3/5] cross-check: closed-form per-study estimates and exact meta-regression")
        estimates = beta_estimates(inputs.evidence, inputs.priors, inputs.options)
        cross = cross_check(estimates, inputs.priors, interval())
        # Everything is written into a staging folder, published only when complete. The
        # primary analysis's tables and figures go in while the suite's worker refits.
        run_id = new_run_id(inputs.root, inputs.config.analysis.name)
        stage = stack.enter_context(
            staged_directory(inputs.root / run_id, before_publish=signals.check)
        )
        folder = RunFolder(stage)
        bounded = bounded_observations(inputs.evidence, inputs.options)
        add_bounds(result.idata, bounded)  # before the figures' inputs are taken from it
        tables = partial(_write_tables, folder, inputs, result, estimates, cross, run_id, bounded)
        _write_figures(folder, inputs, result, estimates, cross, tables, helper)
        if suite is not None:
            say("[4/5] sensitivity analyses and cumulative evidence")
        else:
            say("[4/5] sensitivity analyses skipped (quick mode or disabled in the configuration)")
        sensitivity = suite.finish(result) if suite is not None else None
        signals.check()
        say("[5/5] writing results")
        if sensitivity is not None:
            sensitivity.write(stage, folder.figures_dir)
            conflict_table(sensitivity.table, estimates).to_csv(folder.conflict_file, index=False)
        manifest = _manifest(inputs, result, run_id, quick, time.monotonic() - started)
        manifest["skipped_earlier_runs"] = skipped
        folder.manifest_file.write_text(json.dumps(manifest, indent=2, default=str))
        say(f"      writing {inputs.root / run_id}")
        say.write(stage / "run.log")
        write_report(stage, previous[-1] if previous else None)
    run_dir = inputs.root / run_id
    if result.certified and not update_latest(inputs.root, run_dir):
        say(f"      note: {inputs.root / 'latest'} is not the toolkit's link; left as it is")
    _headline(result, run_dir, say.result)
    return run_dir


def _start_helpers(inputs: RunInputs, quick: bool, say, studies_dir, stack: ExitStack):
    """The processes beside the main one, started before the fit so they overlap its compile.

    Returns ``(suite, helper)``: the sensitivity suite with its worker, or, in quick mode or
    when the suite is disabled, a figure helper (the second core would idle otherwise).
    """
    if not inputs.config.sensitivity.enabled or quick:
        return None, stack.enter_context(FigureHelper())
    from analyses.suite.runner import SuiteRun

    suite = SuiteRun(inputs.base, inputs.config, inputs.priors, say, studies_dir)
    return stack.enter_context(suite), None


def add_bounds(idata: xr.DataTree, bounded: dict[str, tuple[float, float]]) -> None:
    """Store each count known only as a range with its bounds in ``observed_data``.

    The observed variable holds the lower bound (what the likelihood conditions on, with the
    upper bound); ``<name>__lower`` and ``<name>__upper`` hold both, so a predictive check
    drawn from this file alone shows the range, not a single misleading number.
    """
    if not bounded or "observed_data" not in idata:
        return
    observed = idata["observed_data"].to_dataset()
    for name, (lower, upper) in bounded.items():
        if name in observed:
            observed[f"{name}{SEP}lower"] = lower
            observed[f"{name}{SEP}upper"] = upper
            observed[name].attrs["bounded"] = "only a range was reported: see __lower, __upper"
    idata["observed_data"] = xr.DataTree(observed)


def _write_tables(
    folder: RunFolder,
    inputs: RunInputs,
    result: FitResult,
    estimates: pd.DataFrame,
    cross: pd.DataFrame,
    run_id: str,
    bounded: dict[str, tuple[float, float]],
) -> None:
    idata = result.idata
    idata.attrs.update(
        json_attrs(
            run_id=run_id,
            priors=inputs.priors.to_dict(),
            options=inputs.options.to_dict(),
            config=inputs.raw_config,
            data_hash=inputs.evidence.data_hash,
            readings=inputs.evidence.readings,
            package_versions=package_versions(),
            seed=result.gated.settings.seed,
            sampler=result.gated.settings.to_dict(),
            bounded_counts={k: list(v) for k, v in bounded.items()},
        )
    )
    result.hypotheses.to_csv(folder.hypotheses_file, index=False)
    result.bayes_factors.to_csv(folder.bayes_factors_file, index=False)
    parameter_summary(idata).to_csv(folder.summary_file)
    controlled = controlled_studies(inputs.evidence)
    assay_sensitivity(idata, controlled).to_csv(folder.assay_file, index=False)
    result.thresholds.to_csv(folder.thresholds_file, index=False)
    estimates.to_csv(folder.estimates_file, index=False)
    studies_table(inputs.evidence).to_csv(folder.evidence_file, index=False)
    quantities_table(inputs.base).to_csv(folder.numbers_file, index=False)
    cross.to_csv(folder.cross_check_file, index=False)
    idata.to_netcdf(folder.posterior_file, engine="h5netcdf")


def _write_figures(
    folder: RunFolder,
    inputs: RunInputs,
    result: FitResult,
    estimates: pd.DataFrame,
    cross: pd.DataFrame,
    tables: Callable[[], None],
    helper: FigureHelper | None = None,
) -> None:
    """Every figure of the run, after writing its ``tables``; with a ``helper`` (a second
    process), the helper draws its share while the tables are written."""
    folder.figures_dir.mkdir()
    figure_inputs = FigureInputs(
        idata=result.idata,
        labels=plots.StudyLabels.from_evidence(inputs.evidence),
        estimates=estimates,
        hypotheses=result.hypotheses,
        grid=result.thresholds,
        cross=cross,
        thresholds=inputs.config.hypotheses.thresholds,
    )
    if helper is None:
        tables()
        draw(figure_inputs, list(drawers(figure_inputs)), folder.figures_dir)
    else:
        helper.draw(figure_inputs, folder, meanwhile=tables)
    # The validation record's reliability diagram as it stood, so the report stands alone.
    calibration = record_path().parent / "calibration.png"
    if calibration.is_file():
        shutil.copyfile(calibration, folder.figure("calibration"))


def _study_record(inputs: RunInputs, study) -> dict:
    path = inputs.base.files[study.id]
    return {
        "id": study.id,
        "file": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
        "sha256": inputs.base.file_hashes[study.id],
        "ipd_sha256": {
            key.split("/", 1)[1]: digest
            for key, digest in inputs.base.file_hashes.items()
            if key.startswith(f"{study.id}/")
        },
        "status": study.status,
        "included": study.id in {s.id for s in inputs.evidence.included},
    }


def _manifest(
    inputs: RunInputs, result: FitResult, run_id: str, quick: bool, seconds: float
) -> dict:
    gated = result.gated
    return {
        "run_id": run_id,
        "created": now_utc(),
        "config_file": inputs.label,
        "config": inputs.raw_config,
        "data_hash": inputs.evidence.data_hash,
        "studies": [_study_record(inputs, s) for s in inputs.base.studies],
        "literature_sha256": inputs.base.file_hashes["literature"],
        "readings": inputs.evidence.readings,
        "priors": inputs.priors.to_dict(),
        "prior_sets": _prior_sets(inputs),
        "options": inputs.options.to_dict(),
        "thresholds": inputs.config.hypotheses.thresholds.to_dict(),
        "package_versions": package_versions(),
        "code": code_version(),
        "seed": gated.settings.seed,
        "sampler": gated.settings.to_dict(),
        "refit_sampler": inputs.config.refit_sampler.to_dict(),  # the suite's first attempts
        "diagnostics": {"attempts": gated.attempts, "final": gated.diagnostics.to_dict()},
        "certified": result.certified,
        "headline": result.headline(),
        "quick": quick or not inputs.config.sensitivity.enabled,
        "validation": record_summary(),
        "runtime_seconds": round(seconds, 1),
    }


def _prior_sets(inputs: RunInputs) -> dict[str, dict]:
    """Every prior set this run reports on: its own, the named sets, and the user's files."""
    sets = {inputs.priors.name: inputs.priors.slots}
    for source in (*NAMED_SETS, *inputs.config.sensitivity.prior_files):
        spec = load_priors(source, inputs.evidence.literature)
        sets.setdefault(spec.name, spec.slots)
    return sets


def _headline(result, run_dir: Path, say) -> None:
    say("")
    if not result.certified:
        say(
            "*** NOT CERTIFIED: the convergence gate failed; treat these numbers as provisional ***"
        )
    say(f"{'question':<56}{'BF':>9}  {'log10 ± MCSE':<15} evidence")
    for _, row in result.bayes_factors.head(6).iterrows():
        bf = f"{row['bound']}{row['bf']:.3g}"
        spread = "" if row["bound"] else f"{row['log10_bf']:+.2f} ± {row['log10_bf_mcse']:.2f}"
        say(f"{row['question']:<56}{bf:>9}  {spread:<15} {row['evidence']}")
    say("")
    table = result.hypotheses.set_index("hypothesis")
    say(f"{'hypothesis':<12}{'prior':>8}{'posterior':>11}{'± MCSE':>9}{'equal odds':>12}")
    for h, row in table.iterrows():
        say(
            f"{h:<12}{row.prior_prob:>8.3f}{row.posterior_prob:>11.3f}"
            f"{row.posterior_prob_mcse:>9.3f}{row.posterior_prob_equal_odds:>12.3f}"
        )
    head = result.headline()
    ci = Interval(head["interval"])
    for name in HEADLINE_VARS:
        h = head[name]
        say(f"{name:<15} {ci.describe('median', h['median'], h['lower'], h['upper'])}")
    say(f"report: {run_dir / 'report.html'}")


def main_run(config: Path | None, quick: bool, verbosity: int = 1, check_start: bool = True) -> int:
    """The `run` command (interrupts are reported by analyses.cli)."""
    run(config, quick, say=RunLog(verbosity), check_start=check_start)
    return 0
