"""Everything a run checks before it fits, in one place: `run` and `check-data` both call it.

So `check-data` accepting the inputs means `run` will not stop on them before fitting: the
configuration, the evidence and its readings, every prior set the run and its suite use (with
the literature rules behind them), the covariates, the model's log density at its starting
point, and the results folder.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analyses.commands.publish import results_root
from analyses.inference.config import RunConfig, load_config
from analyses.report.references import BIB_FILE
from models.evidence.load import Evidence, load_evidence
from models.evidence.problems import InputError, Problem
from models.priors import NAMED_SETS, PriorSpec, load_priors


@dataclass(frozen=True)
class RunInputs:
    """Everything a run reads before it fits: checked configuration, evidence and priors."""

    config: RunConfig
    raw_config: dict
    label: str
    base: Evidence  # every reading of every dispute, as in data/
    evidence: Evidence  # the readings this configuration chose
    priors: PriorSpec
    root: Path

    @property
    def options(self):
        return self.config.model.options()


def resolve_readings(evidence: Evidence, readings: dict, config_label: str) -> Evidence:
    """The evidence with each dispute read as the configuration says (exit 2 if unknown)."""
    try:
        return evidence.resolve(readings)
    except KeyError as err:
        problem = Problem(
            config_label,
            "config",
            "analysis.readings",
            str(err.args[0]),
            "a dispute and reading recorded in data/",
        )
        raise InputError([problem]) from None


def load_inputs(config_path: Path | None, studies_dir: Path | None) -> RunInputs:
    """Read and check the configuration, the evidence and the prior set."""
    config, raw_config = load_config(config_path)
    label = str(config_path or "analyses/primary.toml")
    base = load_evidence(studies_dir)
    evidence = resolve_readings(base, config.analysis.readings, label)
    priors = load_priors(config.analysis.priors, evidence.literature)
    root = results_root(config)
    return RunInputs(config, raw_config, label, base, evidence, priors, root)


def preflight(
    config_path: Path | None, studies_dir: Path | None, check_start: bool = True
) -> RunInputs:
    """Every check a run makes before fitting; raises InputError listing the problems.

    ``check_start=False`` leaves out the log density at the starting point (about 1 s): the
    command line's ``run`` makes that check only if its fit cannot start
    (:func:`start_failure`), where it names the term that stopped it.
    """
    inputs = load_inputs(config_path, studies_dir)
    for source in (*NAMED_SETS, *inputs.config.sensitivity.prior_files):
        load_priors(source, inputs.evidence.literature)  # the suite fits every one of them
    problems = output_problems(inputs.root, inputs.label)
    problems += covariate_problems(inputs)
    if not BIB_FILE.is_file():
        expected = "docs/references.bib in the project folder (the report's reference list)"
        problems.append(Problem(str(BIB_FILE), "project", "", "no such file", expected))
    if not problems and check_start:
        problems += start_problems(inputs)
    if problems:
        raise InputError(problems)
    return inputs


def output_problems(root: Path, label: str) -> list[Problem]:
    """The results folder must be a writable folder (or creatable), and ``latest`` ours."""
    field = "output.results_dir"

    def problem(found: str, expected: str) -> list[Problem]:
        return [Problem(label, "config", field, found, expected)]

    if root.is_symlink() and not root.exists():
        return problem(f"{root}, a link to nothing", "a folder, or a path where one can be made")
    if root.exists() and not root.is_dir():
        return problem(f"{root}, a file", "a folder, or a path where one can be made")
    existing = next(p for p in (root, *root.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return problem(f"{existing}, not writable", "a folder this user can write to")
    latest = root / "latest"
    if (latest.exists() or latest.is_symlink()) and not latest.is_symlink():
        kind = "a folder" if latest.is_dir() else "a file"
        expected = "nothing there, or the link the toolkit keeps to the newest run (move it away)"
        return problem(f"{latest}, {kind} the toolkit did not make", expected)
    return []


def output_file_problems(path: Path, option: str) -> list[Problem]:
    """A file a command writes (``--out``) must be a file path in a folder this user can write.

    Checked before the command's work: a validation or a benchmark takes minutes, and would
    otherwise end in a traceback where it writes. The folder is made (as the write would make
    it) and a file is created in it and removed: permission bits do not tell (root passes
    ``os.access`` on a read-only file system or under /proc).
    """

    def problem(found: str, expected: str) -> list[Problem]:
        return [Problem(str(path), "-", option, found, expected)]

    if path.is_symlink() and not path.exists():
        return problem("a link to nothing", "a file path, or a link to a file")
    if path.exists() and not path.is_file():
        return problem("a folder or another non-file", "a file path")
    existing = next(p for p in path.parents if p.exists())
    if not existing.is_dir():
        return problem(f"{existing}, a file, where a folder is needed", "a path under a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as err:
        found = f"a folder that cannot be written ({err.strerror or type(err).__name__})"
        return problem(found, "a path under a folder this user can write to")
    if path.exists() and not os.access(path, os.W_OK):
        return problem("a file this user cannot write", "a file this user can replace")
    return []


def covariate_problems(inputs: RunInputs) -> list[Problem]:
    """Each covariate the configuration names must be given by every included study."""
    out = []
    for name in inputs.options.covariates:
        missing = [s.id for s in inputs.evidence.included if name not in s.covariates]
        if missing:
            found = f"{name!r}, which {', '.join(missing)} do not give"
            expected = "a covariate every included study gives under [covariates]"
            out.append(Problem(inputs.label, "config", "model.covariates", found, expected))
    return out


def _infinite_terms(model, terms: list, rewrite: bool) -> list:
    """The terms whose log density at the starting point is -inf or NaN.

    Python's linker either way: one evaluation needs no numba compile. Rewriting the graph
    costs more than the one evaluation (0.2 s against 0.8 s on the primary model, AMD EPYC,
    2026-12-02), so a term is rewritten only if found non-finite without: then it is checked
    again as the sampler will evaluate it, with PyTensor's numerically stable forms (where
    ``log1p(exp(800))`` is 800, not inf).
    """
    from pytensor.compile.mode import Mode

    from analyses.inference.log_density import UNREWRITTEN

    mode = Mode(linker="py", optimizer="fast_run") if rewrite else UNREWRITTEN
    logp = model.logp(vars=terms, sum=False)
    compiled = model.compile_fn(logp, inputs=model.value_vars, mode=mode, on_unused_input="ignore")
    logps = compiled(model.initial_point())
    return [t for t, lp in zip(terms, logps, strict=True) if not np.isfinite(lp).all()]


def start_problems(inputs: RunInputs) -> list[Problem]:
    """The model's log density must be finite where sampling starts, term by term.

    A term that is -inf or NaN there (an impossible count, a degenerate prior) would make every
    chain fail to initialise; this names the term instead.
    """
    from models.blockade import build_blockade_model

    model = build_blockade_model(inputs.evidence, inputs.priors, inputs.options)
    bad = _infinite_terms(model, [*model.basic_RVs, *model.potentials], rewrite=False)
    if bad:  # unrewritten, a term may overflow where PyTensor's stable rewrites would not
        bad = _infinite_terms(model, bad, rewrite=True)
    if not bad:
        return []
    names = ", ".join(t.name for t in bad)
    found = f"a log density that is not finite (-inf, +inf or NaN) at the starting point in {names}"
    expected = "inputs under which every term is finite (check these studies' numbers and priors)"
    return [Problem(inputs.label, "model", "", found, expected)]


def start_failure(inputs: RunInputs, err: Exception) -> InputError | None:
    """If the sampler could not start, the input error that says why; else None.

    nutpie raises ``RuntimeError("All initialization points failed ...")``; the term-by-term
    check (:func:`start_problems`) then names the term that is not finite at the starting
    point. If every term is finite there, nutpie failed at the jittered points it starts its
    chains from, around that point: the error says so rather than show nutpie's traceback.
    """
    if not could_not_start(err):
        return None
    problems = start_problems(inputs)
    if not problems:
        found = (
            "no chain could start: the log density is finite at the model's starting point but "
            "not at the jittered points around it that nutpie tried"
        )
        expected = "inputs under which the log density is finite around the starting point"
        problems = [Problem(inputs.label, "model", "", found, f"{expected} ({_first_line(err)})")]
    return InputError(problems)


def _first_line(err: BaseException) -> str:
    return f"nutpie: {str(err).strip().splitlines()[0]}" if str(err).strip() else "nutpie"


def could_not_start(err: BaseException) -> bool:
    """Whether ``err`` is nutpie's failure to start any chain (its wording, nutpie 0.16.11)."""
    return isinstance(err, RuntimeError) and "initialization points failed" in str(err)
