"""A run's figures: which are drawn, from what, and on which core.

Every figure is drawn from a :class:`FigureInputs`, built from the fit in memory or read back
from a run's files (the explorer). In a run without the sensitivity suite the second core
would idle while the main process writes and draws; :class:`FigureHelper` puts it to work. It
starts with the run, so its imports overlap the compile, and it is sent the figure inputs
pickled (4 MB, 10 ms; reading them back from the run's netCDF took 1.3-1.7 s), so it draws
its share while the main process writes the tables.
"""

from __future__ import annotations

import multiprocessing
import pickle
import queue
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from analyses.inference import signals
from analyses.inference.hypotheses import Thresholds
from analyses.report import FiguresFailed, views
from analyses.report import figures as plots
from analyses.report.folder import RunFolder

if TYPE_CHECKING:
    from analyses.commands.preflight import RunInputs

# The figures a second process draws, chosen so that both cores finish at about the same
# time. Drawing and saving, AMD EPYC, 2026-12-03: the prior-posterior grid 2.2 s, the rank
# plots 1.2 s, power-scaling 1.3 s, prior predictive checks 0.9 s (5.6 s); the main process
# writes the tables (2.4 s) and draws the other seven (3.9 s). Measured in quick runs: the
# tables and figures took 5.7-5.8 s with this share, and 5.7-5.8 s with the pair plot moved
# to the helper as well (it then finished last); before the helper was sent its inputs
# (reading them from the folder after the tables), 7.2-7.9 s.
HELPER_SHARE = ("prior_posterior_all", "rank", "power_scaling", "prior_predictive")


@dataclass(frozen=True)
class FigureInputs:
    """What the figures of a run are drawn from (all of it is in the run's files)."""

    idata: xr.DataTree
    labels: plots.StudyLabels
    estimates: pd.DataFrame
    hypotheses: pd.DataFrame
    grid: pd.DataFrame
    cross: pd.DataFrame
    thresholds: Thresholds

    @classmethod
    def from_folder(cls, path: Path, thresholds: Thresholds) -> FigureInputs:
        """Read a (staged) run folder's draws and tables, as the explorer does."""
        folder = RunFolder(path)
        if folder.draws is None:
            raise FileNotFoundError(f"{folder.posterior_file} is missing: no draws to draw from")
        return cls(
            idata=folder.draws,
            labels=plots.StudyLabels.from_table(_table(folder.evidence_file)),
            estimates=_table(folder.estimates_file),
            hypotheses=_table(folder.hypotheses_file),
            grid=_table(folder.thresholds_file),
            cross=_table(folder.cross_check_file),
            thresholds=thresholds,
        )


def _table(path: Path) -> pd.DataFrame:
    """A run's CSV; an empty table may have been written without a header."""
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def drawers(inputs: FigureInputs) -> dict[str, Callable[[], Figure]]:
    """Every figure of a run, by name, in the order they are drawn.

    Parameters
    ----------
    inputs : FigureInputs
        The draws and tables the figures are drawn from.

    Returns
    -------
    dict of str to callable
        Figure name (the PNG's stem) -> a function drawing it.
    """
    i = inputs
    names = i.labels.names
    drawn = {
        "forest": lambda: plots.forest(i.idata, i.labels, i.estimates, i.thresholds),
        "joint": lambda: plots.joint(i.idata, i.hypotheses, i.thresholds),
        "prior_posterior": lambda: plots.prior_posterior(i.idata),
        "thresholds": lambda: plots.thresholds_curve(i.grid, i.thresholds),
        "ppc": lambda: plots.predictive_checks(
            i.idata,
            "posterior_predictive",
            "Posterior predictive checks: does the model reproduce what each study reported?",
            names,
        ),
        "prior_predictive": lambda: plots.predictive_checks(
            i.idata,
            "prior_predictive",
            "Prior predictive checks: what the model expected before seeing the data",
            names,
        ),
    }
    if not i.cross.empty:  # no closed-form estimate, no cross-check to draw
        drawn["cross_check"] = lambda: plots.cross_check_figure(i.idata, i.cross)
    # The standard ArviZ views, drawn by arviz-plots from the same DataTree.
    return drawn | {name: partial(view, i.idata, names) for name, view in views.VIEWS.items()}


def draw(inputs: FigureInputs, names: Sequence[str], figures_dir: Path) -> None:
    """Draw the named figures into ``figures_dir``, one PNG each.

    Parameters
    ----------
    inputs : FigureInputs
        The draws and tables the figures are drawn from.
    names : sequence of str
        Names from :func:`drawers`.
    figures_dir : Path
        An existing folder; ``<name>.png`` is written there.
    """
    available = drawers(inputs)
    for name in names:
        plots.save_figure(available[name](), figures_dir / f"{name}.png")


def _draw_share(job: bytes) -> None:
    """The helper's task: ``(inputs, names, figures_dir)``, pickled by the main process."""
    inputs, names, figures_dir = pickle.loads(job)
    draw(inputs, names, Path(figures_dir))


def _prior_predictive(job: dict) -> xr.DataTree:
    """The helper's first task: the run's prior predictive draws, from the run's own inputs.

    The study files are read again here (the evidence does not pickle); if they changed since
    the run read them, the draws are refused and the run draws its own.
    """
    from analyses.inference.predictive import prior_predictive
    from models.blockade import build_blockade_model
    from models.evidence.load import load_evidence

    base = load_evidence(Path(job["studies_dir"]) if job["studies_dir"] else None)
    evidence = base.resolve(job["readings"])
    if evidence.data_hash != job["data_hash"]:
        raise ValueError("the study files changed after the run read them")
    model = build_blockade_model(evidence, job["priors"], job["options"])
    return prior_predictive(model, job["draws"], job["seed"])


def _serve(jobs, done) -> None:
    """The helper process: import while the main process compiles, draw the prior predictive
    draws if asked, then draw one share of the figures. Each reply is ``(kind, result, error)``.
    """
    # Ctrl-C reaches the whole process group; the main process records it and stops this one.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import arviz_plots  # noqa: F401  (importing now is the point: it overlaps the compile)

    tasks = {"prior": _prior_predictive, "figures": _draw_share}
    kind = None
    while kind != "figures":  # the figures are the last task
        try:
            job = signals.get_while_parent_lives(jobs)
        except signals.Orphaned:
            return
        if job is None:
            return
        kind, args = job
        try:
            done.put((kind, tasks[kind](args), None))
        except Exception as err:  # reported by the main process
            done.put((kind, None, f"{type(err).__name__}: {err}"))


class FigureHelper:
    """A second process that draws a share of the figures (:data:`HELPER_SHARE`).

    Use as a context manager around the run: leaving it, normally or not, ends the process,
    so nothing is drawn into a folder after the run gave it up.
    """

    # Why the helper's prior predictive draws were not used, if they were not.
    prior_error: str | None = None

    def __enter__(self) -> FigureHelper:
        context = multiprocessing.get_context("spawn")
        self._jobs, self._done = context.Queue(), context.Queue()
        self._process = context.Process(target=_serve, args=(self._jobs, self._done), daemon=True)
        signals.start_ignoring_interrupts(self._process)
        return self

    def __exit__(self, *exc) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        # A job the helper never read (it died, or was stopped) would otherwise hold this
        # process at exit: the queue's feeder thread waits for a reader of the pipe forever.
        self._jobs.cancel_join_thread()
        self._jobs.close()

    def start_prior_predictive(
        self, inputs: RunInputs, studies_dir: Path | None
    ) -> Callable[[], xr.DataTree | None]:
        """Have the helper draw the run's prior predictive draws while this process compiles.

        Returns a function giving the draws, or None if the helper failed (the caller then
        draws them itself: the same draws, from the same model and seed).
        """
        sampler = inputs.config.sampler
        job = {
            "studies_dir": str(studies_dir) if studies_dir else None,
            "readings": {k: dict(v) for k, v in inputs.evidence.readings.items()},
            "data_hash": inputs.evidence.data_hash,
            "priors": inputs.priors,
            "options": inputs.options,
            "draws": sampler.prior_predictive_draws,
            "seed": sampler.seed,
        }
        self._jobs.put(("prior", job))
        return self._prior_draws

    def _prior_draws(self) -> xr.DataTree | None:
        reply = self._receive()
        if reply is None:
            self.prior_error = f"it died (exit code {self._process.exitcode})"
            return None
        self.prior_error = reply[2]
        return reply[1]

    def draw(
        self, inputs: FigureInputs, folder: RunFolder, meanwhile: Callable[[], None] = lambda: None
    ) -> None:
        """Draw every figure into ``folder``'s existing figures folder: the helper its share,
        this process the rest, after running ``meanwhile`` (the run writes its tables).

        Raises :class:`~analyses.report.FiguresFailed` if the helper fails or dies.
        """
        names = list(drawers(inputs))
        theirs = [n for n in names if n in HELPER_SHARE]
        # Pickled here, not by the queue's feeder thread, so that a failure raises here.
        job = pickle.dumps((inputs, theirs, str(folder.figures_dir)), protocol=5)
        self._jobs.put(("figures", job))
        try:
            meanwhile()
            draw(inputs, [n for n in names if n not in theirs], folder.figures_dir)
            self._wait()
        except BaseException:
            # Not one more file from the helper once this run is giving its folder up.
            self._process.terminate()
            self._process.join()
            raise

    def _wait(self) -> None:
        reply = self._receive()
        while reply is not None and reply[0] != "figures":  # a reply nobody asked for
            reply = self._receive()
        if reply is None:
            code = self._process.exitcode
            raise FiguresFailed(f"the figure-drawing process died (exit code {code})")
        if reply[2] is not None:
            raise FiguresFailed(f"the figure-drawing process failed: {reply[2]}")

    def _receive(self) -> tuple | None:
        """The helper's next reply, or None if it died without one."""
        while True:
            try:
                return self._done.get(timeout=signals.POLL_SECONDS)
            except queue.Empty:
                # A signal to the process group also stops the helper: report the signal.
                signals.check()
                if self._process.is_alive():
                    continue
                try:  # it may have replied between the wait and the check
                    return self._done.get_nowait()
                except queue.Empty:
                    return None
