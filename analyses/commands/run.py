"""`python -m analyses run [--config FILE] [--quick]`: the primary analysis, end to end.

A run reads the evidence and a configuration, fits the blockade model behind the
convergence gate, and writes a new folder ``results/<run-id>/``. Everything is written into
a staging folder first and moved into place only when complete: a failed or interrupted run
leaves no folder and touches no earlier run. ``results/latest`` points at the newest
certified run.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from analyses.inference.config import RunConfig, load_config
from analyses.inference.fit import fit_analysis, parameter_summary
from analyses.inference.hypotheses import Thresholds
from analyses.inference.provenance import json_attrs, now_utc, package_versions, staged_directory
from analyses.inference.sampling import SamplerSettings
from analyses.report import figures as plots
from analyses.report.sections import write_report
from models.blockade import bounded_observations
from models.contrasts import beta_estimates
from models.evidence.load import ROOT, Evidence, load_evidence
from models.evidence.problems import InputError, Problem
from models.evidence.tables import quantities_table, studies_table
from models.exact import exact_posterior
from models.meta_regression import MetaTable
from models.priors import PriorSpec, load_priors

MANIFEST = "manifest.json"


def _say(message: str) -> None:
    print(message, flush=True)


def results_root(config: RunConfig) -> Path:
    root = Path(config.output.results_dir)
    return root if root.is_absolute() else ROOT / root


def new_run_id(root: Path, name: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_id = f"{stamp}-{name}"
    n = 2
    while (root / run_id).exists():
        run_id = f"{stamp}-{name}-{n}"
        n += 1
    return run_id


def previous_runs(root: Path) -> list[Path]:
    """Completed runs (folders with a manifest), oldest first."""
    if not root.exists():
        return []
    runs = [
        p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and (p / MANIFEST).exists()
    ]
    return sorted(runs, key=lambda p: json.loads((p / MANIFEST).read_text())["created"])


def resolve_readings(evidence: Evidence, readings: dict, config_label: str) -> Evidence:
    try:
        return evidence.resolve(readings)
    except KeyError as err:
        raise InputError(
            [
                Problem(
                    config_label,
                    "config",
                    "analysis.readings",
                    str(err.args[0]),
                    "a dispute and reading recorded in data/",
                )
            ]
        ) from None


def cross_check(estimates: pd.DataFrame, priors: PriorSpec) -> pd.DataFrame:
    """The transparent meta-regression on the closed-form estimates, by exact quadrature.

    Two fits put each regimen at the intercept in turn, so both pooled values (and their
    difference) are read directly. Priors follow the analysis's prior set where it has
    normal priors, else the meta-regression's defaults.
    """
    if estimates.empty or estimates["regimen"].nunique() < 2:
        return pd.DataFrame()
    rows = []
    for regimen, other in (("acute", "sustained"), ("sustained", "acute")):
        mod = f"is_{other}"
        table = MetaTable(
            tuple(estimates["study"]),
            estimates["estimate"].to_numpy(),
            estimates["se"].to_numpy(),
            pd.DataFrame({mod: (estimates["regimen"] == other).astype(float).to_numpy()}),
        )
        here, there = priors[f"beta_{regimen}"], priors[f"beta_{other}"]
        normal = here["dist"] == there["dist"] == "normal"
        mu = here if normal else {"dist": "normal", "mu": 0.5, "sigma": 1.0}
        coef = (
            {
                "dist": "normal",
                "mu": there["mu"] - here["mu"],
                "sigma": (here["sigma"] ** 2 + there["sigma"] ** 2) ** 0.5,
            }
            if normal
            else {"dist": "normal", "mu": 0.0, "sigma": 1.0}
        )
        tau = (
            priors["tau_beta"]
            if priors["tau_beta"]["dist"] != "fixed"
            else {"dist": "halfnormal", "sigma": 0.2}
        )
        post = exact_posterior(table, {"mu": mu, "tau": tau, mod: coef})
        summary = post.summary().set_index("parameter")
        rows.append({"parameter": f"beta_{regimen}", **summary.loc["mu"].to_dict()})
        if regimen == "acute":
            rows.append(
                {"parameter": "delta_timing", **(summary.loc[f"coef_{mod}"] * -1).to_dict()}
            )
            rows.append({"parameter": "tau_beta", **summary.loc["tau"].to_dict()})
    out = pd.DataFrame(rows)
    # the sign flip above reverses the quantiles of the difference
    flip = out["parameter"] == "delta_timing"
    out.loc[flip, ["q2.5", "q97.5"]] = out.loc[flip, ["q97.5", "q2.5"]].to_numpy()
    out.loc[flip, "sd"] = out.loc[flip, "sd"].abs()
    return out


def update_latest(root: Path, run_dir: Path) -> None:
    """Point results/latest at run_dir, atomically (a new link renamed over the old)."""
    link = root / "latest"
    tmp = root / f".latest-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, link)


def run(
    config_path: Path | None = None,
    quick: bool = False,
    say: Callable[[str], None] = _say,
    studies_dir: Path | None = None,
) -> Path:
    """Run an analysis and return its results folder."""
    started = time.monotonic()
    # PyMC logs every variable it forward-samples; the run prints its own progress instead.
    logging.getLogger("pymc").setLevel(logging.WARNING)
    config, raw_config = load_config(config_path)
    label = str(config_path or "analyses/primary.toml")
    say(f"[1/5] evidence: checking data/ ({label})")
    base = load_evidence(studies_dir)
    evidence = resolve_readings(base, config.analysis.readings, label)
    priors = load_priors(config.analysis.priors, evidence.literature)
    options = config.model.options()
    thresholds = Thresholds(config.hypotheses.primary, config.hypotheses.permissive)
    sampler = config.sampler
    settings = SamplerSettings(
        sampler.draws, sampler.tune, sampler.chains, sampler.target_accept, sampler.seed
    )
    root = results_root(config)
    root.mkdir(parents=True, exist_ok=True)
    previous = previous_runs(root)

    included = [s.id for s in evidence.included]
    say(f"      {len(included)} included studies: {', '.join(included)}; prior set '{priors.name}'")
    say("[2/5] fitting the blockade model (NUTS, 4 chains; compiling takes a few seconds)")
    result = fit_analysis(
        evidence,
        priors,
        options,
        settings,
        thresholds,
        config.hypotheses.primary_grid,
        config.hypotheses.permissive_grid,
        prior_predictive_draws=sampler.prior_predictive_draws,
        posterior_predictive=True,
    )
    gate = result.gated.diagnostics
    verdict = "passed" if result.certified else "FAILED: " + "; ".join(gate.failures)
    retry = " (after one retry with stronger settings)" if len(result.gated.attempts) > 1 else ""
    say(f"      convergence gate {verdict}{retry}")

    say("[3/5] cross-check: closed-form per-study estimates and exact meta-regression")
    estimates = beta_estimates(evidence, priors, options.early_stopping_bias)
    cross = cross_check(estimates, priors)

    sensitivity = None
    if config.sensitivity.enabled and not quick:
        from analyses.suite.scenarios import run_suite

        say("[4/5] sensitivity analyses and cumulative evidence")
        sensitivity = run_suite(base, config, priors, result, say=say, studies_dir=studies_dir)
    else:
        say("[4/5] sensitivity analyses skipped (quick mode or disabled in the configuration)")

    say("[5/5] writing results")
    run_id = new_run_id(root, config.analysis.name)
    idata = result.idata
    bounded = bounded_observations(evidence, options)
    idata.attrs.update(
        json_attrs(
            run_id=run_id,
            priors=json.loads(priors.to_json()),
            options=json.loads(options.to_json()),
            config=raw_config,
            data_hash=evidence.data_hash,
            readings=evidence.readings,
            package_versions=package_versions(),
            seed=result.gated.settings.seed,
            sampler=json.loads(result.gated.settings.to_json()),
            bounded_counts={k: list(v) for k, v in bounded.items()},
        )
    )
    with staged_directory(root / run_id) as stage:
        figures = stage / "figures"
        figures.mkdir()
        result.hypotheses.to_csv(stage / "hypotheses.csv", index=False)
        parameter_summary(idata).to_csv(stage / "summary.csv")
        result.thresholds.to_csv(stage / "thresholds.csv", index=False)
        estimates.to_csv(stage / "beta_estimates.csv", index=False)
        studies_table(evidence).to_csv(stage / "evidence.csv", index=False)
        quantities_table(base).to_csv(stage / "numbers.csv", index=False)
        cross.to_csv(stage / "cross_check.csv", index=False)
        idata.to_netcdf(stage / "posterior.nc", engine="h5netcdf")
        plots.forest(idata, evidence, estimates, thresholds, figures / "forest.png")
        plots.joint(idata, result.hypotheses, thresholds, figures / "joint.png")
        plots.prior_posterior(idata, figures / "prior_posterior.png")
        plots.thresholds_curve(result.thresholds, thresholds, figures / "thresholds.png")
        plots.predictive_checks(
            idata,
            "posterior_predictive",
            figures / "ppc.png",
            "Posterior predictive checks: does the model reproduce what each study reported?",
        )
        plots.predictive_checks(
            idata,
            "prior_predictive",
            figures / "prior_predictive.png",
            "Prior predictive checks: what the model expected before seeing the data",
        )
        if sensitivity is not None:
            sensitivity.write(stage, figures)
        manifest = {
            "run_id": run_id,
            "created": now_utc(),
            "config_file": label,
            "config": raw_config,
            "data_hash": evidence.data_hash,
            "studies": [
                {
                    "id": s.id,
                    "file": str(base.files[s.id].relative_to(ROOT))
                    if base.files[s.id].is_relative_to(ROOT)
                    else str(base.files[s.id]),
                    "sha256": base.file_hashes[s.id],
                    "status": s.status,
                    "included": s.id in included,
                }
                for s in base.studies
            ],
            "literature_sha256": base.file_hashes["literature"],
            "readings": evidence.readings,
            "priors": json.loads(priors.to_json()),
            "options": json.loads(options.to_json()),
            "package_versions": package_versions(),
            "seed": result.gated.settings.seed,
            "sampler": json.loads(result.gated.settings.to_json()),
            "diagnostics": {"attempts": result.gated.attempts, "final": gate.to_dict()},
            "certified": result.certified,
            "headline": result.headline(),
            "quick": quick or not config.sensitivity.enabled,
            "runtime_seconds": round(time.monotonic() - started, 1),
        }
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
        write_report(stage, previous[-1] if previous else None)
    run_dir = root / run_id
    if result.certified:
        update_latest(root, run_dir)
    _headline(result, run_dir, say)
    return run_dir


def _headline(result, run_dir: Path, say) -> None:
    table = result.hypotheses.set_index("hypothesis")
    say("")
    if not result.certified:
        say(
            "*** NOT CERTIFIED: the convergence gate failed; treat these numbers as provisional ***"
        )
    say(f"{'hypothesis':<12}{'prior':>8}{'posterior':>11}{'± MCSE':>9}   BF vs primary")
    for h, row in table.iterrows():
        bf = "" if h == "primary" else row["bf_vs_primary"]
        bf = f"{bf:.3g}" if isinstance(bf, float) else str(bf)
        say(
            f"{h:<12}{row.prior_prob:>8.3f}{row.posterior_prob:>11.3f}"
            f"{row.posterior_prob_mcse:>9.3f}   {bf}"
        )
    head = result.headline()
    for name in ("beta_acute", "beta_sustained", "delta_timing"):
        h = head[name]
        say(
            f"{name:<15} median {h['median']:+.2f}  "
            f"95% interval {h['q2.5']:+.2f} to {h['q97.5']:+.2f}"
        )
    say(f"P(acute blockade removes more than sustained) = {head['p_delta_positive']:.2f}")
    say(f"report: {run_dir / 'report.html'}")


def main_run(config: Path | None, quick: bool) -> int:
    """The `run` command (interrupts are reported by analyses.cli)."""
    run(config, quick)
    return 0
