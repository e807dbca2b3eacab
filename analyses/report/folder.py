"""One object that names every file of a run folder, for the writers and for the report.

A run writes its outputs through these names, and the report reads them back through the same
names, so a renamed file is renamed in one place. The report is built from the folder alone:
``python -m analyses report RUN_DIR`` re-renders any earlier run without refitting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class RunFolder:
    """The files of one run folder ``results/<run-id>/``.

    Attributes are paths; the ``cached_property`` readers load a file once.
    """

    path: Path

    # --- the files a run writes -------------------------------------------------------------
    @property
    def manifest_file(self) -> Path:
        return self.path / MANIFEST

    @property
    def hypotheses_file(self) -> Path:
        return self.path / "hypotheses.csv"

    @property
    def bayes_factors_file(self) -> Path:
        return self.path / "bayes_factors.csv"

    @property
    def assay_file(self) -> Path:
        return self.path / "assay_sensitivity.csv"

    @property
    def summary_file(self) -> Path:
        return self.path / "summary.csv"

    @property
    def thresholds_file(self) -> Path:
        return self.path / "thresholds.csv"

    @property
    def estimates_file(self) -> Path:
        return self.path / "beta_estimates.csv"

    @property
    def evidence_file(self) -> Path:
        return self.path / "evidence.csv"

    @property
    def numbers_file(self) -> Path:
        return self.path / "numbers.csv"

    @property
    def cross_check_file(self) -> Path:
        return self.path / "cross_check.csv"

    @property
    def conflict_file(self) -> Path:
        """Each left-out study against the others' prediction (absent in quick runs)."""
        return self.path / "conflict.csv"

    @property
    def posterior_file(self) -> Path:
        return self.path / "posterior.nc"

    @property
    def robustness_file(self) -> Path:
        """The robustness section, written by the sensitivity suite (absent in quick runs)."""
        return self.path / "robustness.md"

    @property
    def report_md(self) -> Path:
        return self.path / "report.md"

    @property
    def report_html(self) -> Path:
        return self.path / "report.html"

    @property
    def figures_dir(self) -> Path:
        return self.path / "figures"

    def figure(self, name: str) -> Path:
        """The PNG of figure ``name`` (``forest``, ``joint``, ...)."""
        return self.figures_dir / f"{name}.png"

    # --- readers -----------------------------------------------------------------------------
    @cached_property
    def manifest(self) -> dict:
        return json.loads(self.manifest_file.read_text())

    @cached_property
    def hypotheses(self) -> pd.DataFrame:
        return pd.read_csv(self.hypotheses_file).set_index("hypothesis")

    @cached_property
    def bayes_factors(self) -> pd.DataFrame:
        # An empty bound means "a number, not a bound": keep it as "", not as NaN (truthy).
        table = pd.read_csv(self.bayes_factors_file, dtype={"bound": "string"})
        return table.assign(bound=table["bound"].fillna("")).set_index("question")

    @cached_property
    def assay(self) -> pd.DataFrame:
        """Per-study assay sensitivity; empty for runs made before it was written."""
        path = self.assay_file
        return pd.read_csv(path) if path.exists() else pd.DataFrame()

    @cached_property
    def draws(self):
        """The run's DataTree (``posterior.nc``), loaded once; None if the file is absent."""
        import xarray as xr

        if not self.posterior_file.exists():
            return None
        with xr.open_datatree(self.posterior_file, engine="h5netcdf") as tree:
            return tree.load()

    @cached_property
    def posterior(self):
        """The posterior group of ``posterior.nc`` alone (an ``xr.Dataset``); None if absent.

        What the report's text needs: opening only this group took 0.3 s, the whole tree
        1.4-1.7 s (2026-12-02, a quick run's file). Taken from :attr:`draws` if loaded.
        """
        import xarray as xr

        if "draws" in self.__dict__:
            return None if self.draws is None else self.draws["posterior"].to_dataset()
        if not self.posterior_file.exists():
            return None
        with xr.open_datatree(self.posterior_file, engine="h5netcdf", group="posterior") as tree:
            return tree.to_dataset().load()

    @cached_property
    def summary(self) -> pd.DataFrame:
        return pd.read_csv(self.summary_file).set_index("parameter")

    @cached_property
    def evidence(self) -> pd.DataFrame:
        return pd.read_csv(self.evidence_file)

    @cached_property
    def numbers(self) -> pd.DataFrame:
        return pd.read_csv(self.numbers_file)

    @cached_property
    def estimates(self) -> pd.DataFrame:
        return pd.read_csv(self.estimates_file)

    @cached_property
    def cross_check(self) -> pd.DataFrame:
        """The exact meta-regression; empty when it could not be run (one regimen only)."""
        path = self.cross_check_file
        return pd.read_csv(path) if path.stat().st_size > 1 else pd.DataFrame()

    @cached_property
    def psense_studies(self) -> pd.DataFrame:
        """Power-scaling to each study's likelihood alone; empty in a quick run."""
        path = self.path / "psense_studies.csv"
        return pd.read_csv(path) if path.exists() else pd.DataFrame()

    @cached_property
    def sensitivity(self) -> pd.DataFrame:
        """The sensitivity suite's table; empty in a quick run."""
        path = self.path / "sensitivity.csv"
        return pd.read_csv(path) if path.exists() else pd.DataFrame()

    @cached_property
    def conflict(self) -> pd.DataFrame:
        """The per-study conflict check; empty in a quick run or a run made before it."""
        path = self.conflict_file
        return pd.read_csv(path) if path.exists() else pd.DataFrame()

    @cached_property
    def robustness(self) -> str:
        return self.robustness_file.read_text() if self.robustness_file.exists() else ""

    def missing(self) -> list[str]:
        """Files the report needs that this folder lacks (a run by an older version)."""
        needed = (
            self.manifest_file,
            self.hypotheses_file,
            self.bayes_factors_file,
            self.summary_file,
            self.evidence_file,
            self.numbers_file,
            self.estimates_file,
            self.cross_check_file,
        )
        return [p.name for p in needed if not p.is_file()]

    def is_run(self) -> bool:
        """Whether this folder holds a completed run (it has a manifest)."""
        return self.path.is_dir() and not self.path.is_symlink() and self.manifest_file.exists()
