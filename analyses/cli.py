"""`python -m analyses <command>`: the one entry point for users.

Every command turns bad input into a message that names the file, the study, the field, what
was found and what was expected, and exits with status 2. A traceback is a bug.
"""

from __future__ import annotations

import argparse
import atexit
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from signal import SIGINT

from analyses import __version__
from analyses.inference import compile_flags
from analyses.inference.signals import Interrupted, received, recorded_signals
from analyses.report import FiguresFailed
from analyses.suite import SuiteFailed
from analyses.validation import SECTIONS
from models.evidence.problems import InputError

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1  # a suite worker failed: nothing written


def _check_data(args: argparse.Namespace) -> int:
    from analyses.commands.check_data import run

    return run(args.paths, args.config)


def _new_study(args: argparse.Namespace) -> int:
    from analyses.commands.new_study import write_template

    return write_template(args.id, args.dir)


# Whether this process ends through entry(), without the interpreter's teardown. Only then
# may a run leave the starting-point check until nutpie fails to start: after such a failure
# nutpie's threads crash the interpreter's teardown (a segfault, exit code 139, seen with
# nutpie 0.16.11), which a caller of ``main`` in Python would meet.
_LEAVES_AT_ONCE = {"yes": False}


def _run(args: argparse.Namespace) -> int:
    from analyses.commands.run import main_run

    verbosity = 1 + args.verbose - args.quiet
    return main_run(args.config, args.quick, verbosity, check_start=not _LEAVES_AT_ONCE["yes"])


def _report(args: argparse.Namespace) -> int:
    from analyses.commands.report import main_report

    return main_report(args.run_dir, args.format)


def _meta(args: argparse.Namespace) -> int:
    from analyses.commands.meta import run_meta

    summary = run_meta(args.table, args.out, args.priors, tuple(args.moderator), args.method)
    print(summary.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"wrote {args.out}/summary.csv and {args.out}/posterior.nc")
    return 0


def _count(text: str) -> int:
    """A number of simulations: a whole number from 1 to 10000 (argparse says which, if not)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"found {text!r}; expected a whole number") from None
    if not 1 <= value <= 10_000:
        raise argparse.ArgumentTypeError(f"found {value}; expected 1 to 10000")
    return value


def _design(args: argparse.Namespace) -> int:
    from analyses.commands.design import main_design

    return main_design(args.design, args.sims, args.config, args.scheduler)


def _bench(args: argparse.Namespace) -> int:
    from analyses.commands.bench import run_bench

    run_bench(suite=not args.no_suite, runs=not args.no_runs, out=args.out, dask=not args.no_dask)
    return 0


def _validate(args: argparse.Namespace) -> int:
    from analyses.commands.validate import run_validation, sections_run, verdict

    record = run_validation(args.out, quick=args.quick, only=args.only, scheduler=args.scheduler)
    return verdict(record, sections_run(args.only or ()))[1]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ketamine-opioid",
        description="Bayesian reanalysis of naltrexone x ketamine studies "
        "(also run as `python -m analyses`).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _analysis_commands(sub)
    _other_commands(sub)
    return parser


def _analysis_commands(sub) -> None:
    """check-data, run, report and meta: the commands of an analysis."""
    p = sub.add_parser(
        "check-data", help="every check `run` makes before fitting (or PATHS: those files only)"
    )
    p.add_argument("paths", nargs="*", type=Path, help="study files or folders")
    p.add_argument("--config", type=Path, default=None, help="a run configuration file")
    p.set_defaults(func=_check_data)

    p = sub.add_parser("run", help="run an analysis (default: analyses/primary.toml)")
    p.add_argument("--config", type=Path, default=None, help="a run configuration file")
    p.add_argument("--quick", action="store_true", help="skip the sensitivity suite")
    loud = p.add_mutually_exclusive_group()
    loud.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="stamp every line; show PyMC's messages",
    )
    loud.add_argument("-q", "--quiet", action="count", default=0, help="print only the result")
    p.set_defaults(func=_run)

    p = sub.add_parser("report", help="re-render the report of an earlier run (no refit)")
    p.add_argument("run_dir", type=Path, help="a run folder, e.g. results/latest")
    p.add_argument(
        "--format",
        choices=("html", "docx"),
        default="html",
        help="docx: also a Word file, report.docx, for co-authors who edit in Word",
    )
    p.set_defaults(func=_report)

    p = sub.add_parser("meta", help="normal-normal meta-regression on a table of estimates")
    p.add_argument("table", type=Path, help="CSV with columns study, estimate, se, moderators")
    p.add_argument("--priors", type=Path, default=None, help="TOML: mu, tau, <moderator> specs")
    p.add_argument("--moderator", action="append", default=[], help="a moderator column")
    p.add_argument("--method", choices=("mcmc", "exact"), default="mcmc")
    p.add_argument("--out", type=Path, required=True, help="a new folder for the results")
    p.set_defaults(func=_meta)


def _other_commands(sub) -> None:
    """design, bench, validate and new-study."""
    p = sub.add_parser("design", help="assurance of a candidate next study (preposterior)")
    p.add_argument("design", type=Path, help="a design file, e.g. analyses/designs/mket2.toml")
    p.add_argument(
        "--sims", type=_count, default=50, help="simulations per sample size (1 to 10000)"
    )
    p.add_argument("--config", type=Path, default=None, help="a run configuration file")
    p.add_argument(
        "--scheduler", default=None, help="address of a Dask scheduler (default: a local cluster)"
    )
    p.set_defaults(func=_design)

    p = sub.add_parser("bench", help="time the expensive steps and print the figures")
    p.add_argument("--no-suite", action="store_true", help="skip the sensitivity suites")
    p.add_argument("--no-runs", action="store_true", help="skip timing `run` end to end")
    p.add_argument("--no-dask", action="store_true", help="skip timing Dask simulations")
    p.add_argument("--out", type=Path, default=None, help="default: results/bench.json")
    p.set_defaults(func=_bench)

    p = sub.add_parser("validate", help="slow statistical validation; writes a results file")
    p.add_argument("--out", type=Path, default=None, help="default: validation/results.json")
    p.add_argument("--quick", action="store_true", help="fewer replications (a smoke test)")
    p.add_argument(
        "--only",
        action="append",
        default=[],
        choices=SECTIONS,
        help="rerun this section alone, keeping the others in the record (repeatable)",
    )
    p.add_argument(
        "--scheduler", default=None, help="address of a Dask scheduler (default: a local cluster)"
    )
    p.set_defaults(func=_validate)

    p = sub.add_parser("new-study", help="write a commented template for a new study")
    p.add_argument("id", help="study id: lower case, e.g. smith2027")
    p.add_argument("--dir", type=Path, default=None, help="folder (default: data/studies)")
    p.set_defaults(func=_new_study)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit status."""
    compile_flags.apply()  # before any command imports PyTensor
    args = build_parser().parse_args(argv)
    with recorded_signals():
        try:
            return args.func(args)
        except InputError as err:
            for problem in err.problems:
                print(f"error: {problem}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except (SuiteFailed, FiguresFailed) as err:
            print(
                f"error: {err}; nothing was written, earlier results are untouched", file=sys.stderr
            )
            return EXIT_FAILED
        except (Interrupted, KeyboardInterrupt) as err:
            stop = err if isinstance(err, Interrupted) else Interrupted(received() or SIGINT)
            print(
                f"interrupted ({signal.Signals(stop.signum).name}): nothing was written; "
                "earlier results are untouched",
                file=sys.stderr,
            )
            return stop.exit_code


def entry() -> None:
    """The command line's entry point: run one command, then leave at once.

    Tearing down an interpreter that imported PyMC, numba and LLVM took 3.5 s after a quick
    run had finished (2026-12-02), freeing memory the operating system frees anyway. So the
    exit handlers run (multiprocessing's, logging's), the output is flushed, and the process
    ends without the teardown. ``main`` itself returns, for callers in Python.
    """
    _LEAVES_AT_ONCE["yes"] = True
    code = main()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
