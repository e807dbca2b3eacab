"""What the explorer (``notebooks/explore.py``) shows, as plain functions of a run folder.

The marimo app is a thin layer of widgets over these, so everything it computes is tested
without a browser: the hypothesis probabilities and Bayes factors re-read from the stored
draws at any thresholds (no refit: the regions move, the posterior does not), a sensitivity
scenario's row beside the primary's, the cumulative steps, and this run's posterior against
the previous run's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from analyses.inference.bayes_factors import bayes_factor_table
from analyses.inference.hypotheses import HYPOTHESES, Thresholds, hypothesis_table
from analyses.report.figures import COLOURS, StudyLabels
from analyses.report.folder import RunFolder
from analyses.report.symbols import text_symbol

HEADLINE = ("beta_acute", "beta_sustained")


@dataclass(frozen=True)
class RunView:
    """One run folder, opened for exploring: its draws, manifest and tables."""

    path: Path

    @classmethod
    def open(cls, path: Path | str) -> RunView:
        """Open a run folder (or ``results/latest``); raises ``FileNotFoundError`` naming
        what is missing."""
        path = Path(path).resolve()
        for needed in ("posterior.nc", "manifest.json"):
            if not (path / needed).is_file():
                raise FileNotFoundError(f"{path} is not a run folder: it has no {needed}")
        return cls(path)

    @cached_property
    def folder(self) -> RunFolder:
        """The run's files, read as the report reads them."""
        return RunFolder(self.path)

    @property
    def manifest(self) -> dict:
        return self.folder.manifest

    @property
    def idata(self) -> xr.DataTree:
        return self.folder.draws

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(**self.manifest["thresholds"])

    def prior(self, name: str) -> dict:
        """The prior spec of a headline slot, as the run stored it."""
        return self.manifest["priors"]["slots"][name]

    def table(self, name: str) -> pd.DataFrame | None:
        """A CSV of the run (``sensitivity``, ``cumulative``, ...), or None if it has none."""
        csv = self.path / f"{name}.csv"
        return pd.read_csv(csv) if csv.is_file() else None

    def previous(self) -> RunView | None:
        """The run before this one in the same results folder, if there is one."""
        runs = sorted(
            p
            for p in self.path.parent.iterdir()
            if p.is_dir() and p.name < self.path.name and (p / "posterior.nc").is_file()
        )
        for candidate in reversed(runs):
            try:
                return RunView.open(candidate)
            except FileNotFoundError:
                continue
        return None


def at_thresholds(run: RunView, primary: float, permissive: float) -> dict[str, pd.DataFrame]:
    """The hypothesis and Bayes-factor tables re-read from the draws at these thresholds.

    Raises ``ValueError`` if ``permissive`` exceeds ``primary`` (the regions would overlap).
    """
    t = Thresholds(primary=float(primary), permissive=float(permissive))
    post = run.idata["posterior"]
    a, s = post["beta_acute"], post["beta_sustained"]
    spec_a, spec_s = run.prior("beta_acute"), run.prior("beta_sustained")
    return {
        "hypotheses": hypothesis_table(a, s, spec_a, spec_s, t),
        "bayes_factors": bayes_factor_table(a, s, spec_a, spec_s, t),
    }


def scenario_choices(table: pd.DataFrame | None) -> dict[str, str]:
    """What a reader picks a scenario by (its label) -> its key in ``sensitivity.csv``,
    every scenario but the main analysis, in the table's order."""
    if table is None:
        return {}
    from analyses.report.robustness import with_shown

    rows = with_shown(table)
    rows = rows[rows["scenario"] != "primary"]
    return dict(zip(rows["shown"], rows["scenario"], strict=True))


def scenario_rows(run: RunView, scenario: str) -> pd.DataFrame:
    """The primary row and one scenario's row of ``sensitivity.csv``, side by side, each
    column headed by what the report calls it (its label)."""
    table = run.table("sensitivity")
    if table is None:
        raise FileNotFoundError(f"{run.path} has no sensitivity.csv (a --quick run)")
    columns = [
        "scenario",
        "method",
        *[f"p_{h}" for h in HYPOTHESES],
        "bf_permissive_vs_primary",
        "beta_acute_median",
        "beta_acute_eti95_lb",
        "beta_acute_eti95_ub",
        "beta_sustained_median",
        "beta_sustained_eti95_lb",
        "beta_sustained_eti95_ub",
        "certified",
    ]
    from analyses.report.robustness import with_shown

    rows = with_shown(table[table["scenario"].isin(["primary", scenario])])
    side = rows[[c for c in columns if c in rows.columns]].set_index("scenario").T
    side.columns = list(rows["shown"])
    return side.rename_axis("quantity")


def overlay(run: RunView, previous: RunView | None) -> Figure:
    """β_acute and β_sustained: this run's posterior density against the previous run's."""
    from scipy.stats import gaussian_kde

    fig = Figure(figsize=(9, 3.4))
    axes = fig.subplots(1, 2)
    for ax, name in zip(axes, HEADLINE, strict=True):
        for view, style, label in ((run, "-", "this run"), (previous, "--", "previous run")):
            if view is None or name not in view.idata["posterior"]:
                continue
            values = view.idata["posterior"][name].values.ravel()
            mine = run.idata["posterior"][name].values.ravel()
            if view is previous and np.array_equal(values, mine):
                label = "previous run (the same draws)"  # hidden under this run's curve
            grid = np.linspace(-1.0, 2.0, 300)
            colour = COLOURS["acute" if name == "beta_acute" else "sustained"]
            ax.plot(grid, gaussian_kde(values)(grid), style, color=colour, label=label)
        ax.set_xlabel(text_symbol(name))
        ax.set_yticks([])
        ax.legend(frameon=False, fontsize=8)
    title = "this run" if previous is None else f"this run against {previous.path.name}"
    fig.suptitle(f"Posterior of the pooled blockade fractions: {title}", fontsize=10)
    fig.tight_layout()
    return fig


def study_labels(run: RunView) -> StudyLabels:
    """Each study's name, regimen and design, from the run's ``evidence.csv``."""
    table = run.table("evidence")
    if table is None:
        raise FileNotFoundError(f"{run.path} has no evidence.csv")
    return StudyLabels.from_table(table)


def figure_names(run: RunView) -> list[str]:
    """The PNG figures the run wrote, by name (``forest``, ``joint``, ...)."""
    return sorted(p.stem for p in run.folder.figures_dir.glob("*.png"))
