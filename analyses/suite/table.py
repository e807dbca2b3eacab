"""The suite's tables: one row per scenario, the threshold rows, and power-scaling."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analyses.inference.bayes_factors import (
    ACUTE_STRONG_VS_NONE,
    acute_strong_vs_none,
    log10_ratio_mcse,
    reverses_within_bare_band,
    same_band_and_direction,
)
from analyses.inference.fit import HEADLINE_VARS
from analyses.inference.hypotheses import (
    HEADLINE,
    HYPOTHESES,
    Thresholds,
    Weights,
    hypothesis_table,
)
from analyses.inference.intervals import interval, weighted_quantile
from analyses.suite.conflict import left_out_prediction
from analyses.suite.scenarios import MAIN, THRESHOLD_GRID, Scenario
from models.priors import PriorSpec


def scenario_row(
    scenario: Scenario,
    table: pd.DataFrame,
    draws: dict,
    certified: bool,
    attempts: list,
    weights: np.ndarray | None = None,
    acute_bf: float = float("nan"),
) -> dict:
    """One row of sensitivity.csv / cumulative.csv from a fit's hypothesis table and draws.

    ``weights`` (normalised, one per draw) make the medians and intervals those of a
    reweighted posterior; ``acute_bf`` is the row's Bayes factor of a strong acute block
    against none (:func:`acute_strong_vs_none`).
    """
    w = None if weights is None else np.asarray(weights, dtype=float).ravel()
    t = table.set_index("hypothesis")
    row = {
        "scenario": scenario.name,
        "label": scenario.shown,
        "change": scenario.change,
        "kind": scenario.kind,
        "step": scenario.step,
    }
    for h in HYPOTHESES:
        row[f"p_{h}"] = float(t.loc[h, "posterior_prob"])
        row[f"p_{h}_mcse"] = float(t.loc[h, "posterior_prob_mcse"])
        row[f"prior_{h}"] = float(t.loc[h, "prior_prob"])
    row["bf_permissive_vs_primary"] = t.loc[HEADLINE[0], f"bf_vs_{HEADLINE[1]}"]
    row["log10_bf_permissive_vs_primary_mcse"] = log10_ratio_mcse(
        *(float(t.loc[h, c]) for h in HEADLINE for c in ("posterior_prob", "posterior_prob_mcse"))
    )
    row["bf_acute_strong_vs_none"] = acute_bf
    ci = interval()
    for name, values in draws.items():
        median = np.median(values) if w is None else weighted_quantile(values, w, 0.5)
        row[f"{name}_median"] = float(median)
        row[f"{name}_{ci.columns[0]}"], row[f"{name}_{ci.columns[1]}"] = ci.bounds(values, w)
    positive = np.asarray(draws["delta_timing"]).ravel() > 0
    row["p_delta_positive"] = float(positive.mean() if w is None else np.sum(w * positive))
    row["certified"] = bool(certified)
    row["attempts"] = len(attempts)
    # Why each retry was needed (e.g. "2 divergent transitions"), so a reader can see what a
    # scenario asked of the sampler.
    row["retried_because"] = " | ".join(
        "; ".join(a["diagnostics"]["failures"]) for a in attempts[:-1]
    )
    return row


def posterior_row(
    scenario: Scenario,
    post,
    thresholds: Thresholds,
    certified: bool,
    attempts: list,
    weights: Weights | None = None,
) -> dict:
    """A scenario's row from a posterior's draws (importance-weighted if ``weights``)."""
    slots = scenario.priors["slots"]
    table = hypothesis_table(
        post["beta_acute"],
        post["beta_sustained"],
        slots["beta_acute"],
        slots["beta_sustained"],
        thresholds,
        weights=weights,
    )
    draws = {name: post[name].values.ravel() for name in HEADLINE_VARS}
    normalised = None if weights is None else weights.normalised
    acute = acute_strong_vs_none(
        draws["beta_acute"],
        draws["beta_sustained"],
        slots["beta_acute"],
        slots["beta_sustained"],
        thresholds,
        normalised,
    )
    row = scenario_row(scenario, table, draws, certified, attempts, normalised, acute)
    if weights is None and scenario.kind == "sensitivity":
        row |= left_out_prediction(post, scenario.studies)
    return row


def primary_studies(primary) -> str:
    return " ".join(primary.idata["posterior"]["beta_study"].coords["study"].values)


def _draws(primary) -> dict:
    post = primary.idata["posterior"]
    return {name: post[name].values.ravel() for name in HEADLINE_VARS}


def primary_row(primary) -> dict:
    """The primary fit as a row of the table."""
    scenario = Scenario("primary", "the primary analysis", {}, {}, kind="primary", label=MAIN)
    question = primary.bayes_factors.set_index("question").loc[ACUTE_STRONG_VS_NONE[0]]
    acute = float(question["bf"]) if not question["bound"] else float("nan")
    row = scenario_row(
        scenario,
        primary.hypotheses,
        _draws(primary),
        primary.certified,
        primary.gated.attempts,
        acute_bf=acute,
    )
    extra = {"compiled": True, "seconds": 0.0, "studies": primary_studies(primary), "method": "fit"}
    return row | extra


def threshold_rows(primary, base: Thresholds, priors: PriorSpec) -> list[dict]:
    """Other threshold pairs, read from the primary posterior (no refit)."""
    post = primary.idata["posterior"]
    spec_a, spec_s = priors["beta_acute"], priors["beta_sustained"]
    rows = []
    for p, q in THRESHOLD_GRID:
        if (p, q) == (base.primary, base.permissive):
            continue
        table = hypothesis_table(
            post["beta_acute"], post["beta_sustained"], spec_a, spec_s, Thresholds(p, q)
        )
        change = f"primary threshold {p:g}, permissive threshold {q:g} (no refit)"
        label = f"Thresholds P = {p:g}, Q = {q:g}"
        sc = Scenario(f"thresholds {p:g}/{q:g}", change, {}, {}, kind="thresholds", label=label)
        draws = _draws(primary)
        a, s = draws["beta_acute"], draws["beta_sustained"]
        acute = acute_strong_vs_none(a, s, spec_a, spec_s, Thresholds(p, q))
        row = scenario_row(sc, table, draws, primary.certified, [], acute_bf=acute)
        extra = {"compiled": False, "seconds": 0.0, "studies": primary_studies(primary)}
        rows.append(row | extra | {"method": "thresholds"})
    return rows


def with_leader(table: pd.DataFrame) -> pd.DataFrame:
    """Add the most probable hypothesis of each row."""
    table = table.copy()
    table["leader"] = table[[f"p_{h}" for h in HYPOTHESES]].idxmax(axis=1).str[2:]
    return table


def with_agreement(table: pd.DataFrame, leader: str) -> pd.DataFrame:
    """Add each row's leader and whether it agrees with the primary row (the first).

    ``agrees`` compares the most probable hypothesis; ``agrees_bf`` compares what the run
    leads with, the Bayes factor permissive vs primary: its Kass-Raftery band, and its
    direction beyond the band of a bare mention (:func:`same_band_and_direction`);
    ``reverses_bf`` marks a lean that reverses within that band. A Bayes factor the draws
    cannot support (NaN) agrees with nothing.
    """
    table = with_leader(table)
    table["agrees"] = table["leader"] == leader
    log10 = np.log10(pd.to_numeric(table["bf_permissive_vs_primary"], errors="coerce"))
    table["log10_bf_permissive_vs_primary"] = log10
    head = float(log10.iloc[0])
    table["agrees_bf"] = [same_band_and_direction(float(x), head) for x in log10]
    mcse = pd.to_numeric(
        table.get("log10_bf_permissive_vs_primary_mcse", pd.Series(0.0, index=table.index)),
        errors="coerce",
    )
    table["reverses_bf"] = [
        reverses_within_bare_band(float(x), head, float(m))
        for x, m in zip(log10, mcse, strict=True)
    ]
    return table


def cumulative_table(rows: list[dict], names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The cumulative steps, each with the studies it added: ``added`` by id and
    ``added_label`` by the name the report gives each study (``names``: id -> name)."""
    cumulative = pd.DataFrame(rows)
    if cumulative.empty:
        return cumulative
    names = names or {}
    cumulative = with_leader(cumulative)
    previous: set[str] = set()
    added = []
    for studies in cumulative["studies"]:
        now = set(studies.split())
        added.append(sorted(now - previous))
        previous = now
    cumulative.insert(2, "added", [" ".join(ids) for ids in added])
    cumulative.insert(3, "added_label", [", ".join(names.get(i, i) for i in ids) for ids in added])
    return cumulative


def psense(primary) -> pd.DataFrame:
    """Power-scaling sensitivity of the primary fit to its prior and likelihood."""
    import xarray as xr
    from arviz_stats import psense_summary

    from analyses.inference.log_density import log_prior

    idata = primary.idata
    if "log_prior" not in idata:
        idata["log_prior"] = xr.DataTree(log_prior(idata["posterior"], primary.model))
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


def psense_by_study(primary) -> pd.DataFrame:
    """Power-scaling sensitivity of the headline quantities to each study's likelihood alone.

    One row per study (index ``study``), one column per headline quantity: arviz-stats'
    ``psense`` with only that study's log-likelihood terms scaled (the component-wise
    diagnostic of Kallioinen et al. 2024). It says which study's data each answer leans on.
    """
    from arviz_stats import psense as power_scaling

    from models.blockade import observed_items

    terms: dict[str, list[str]] = {}
    for name, (study, _, _) in observed_items(primary.model).items():
        terms.setdefault(study, []).append(name)
    rows = {}
    for study, names in terms.items():
        found = power_scaling(
            primary.idata, var_names=list(HEADLINE_VARS), group="likelihood", group_var_names=names
        )
        rows[study] = {v: float(found[v]) for v in HEADLINE_VARS}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("study")


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
    reweighted: int
    target_accept: float  # the refits' first attempts ([sensitivity] target_accept)
    psense_studies: pd.DataFrame  # psense_by_study
    study_names: dict[str, str] = field(default_factory=dict)  # id -> the report's name

    def write(self, stage: Path, figures: Path) -> None:
        from analyses.report import robustness as sensitivity_report
        from analyses.report.figures import save_figure

        self.table.to_csv(stage / "sensitivity.csv", index=False)
        self.cumulative.to_csv(stage / "cumulative.csv", index=False)
        self.psense.to_csv(stage / "psense.csv", index_label="parameter")
        self.psense_studies.to_csv(stage / "psense_studies.csv")
        save_figure(
            sensitivity_report.robustness_figure(self.table, self.leader),
            figures / "robustness.png",
        )
        save_figure(
            sensitivity_report.cumulative_figure(self.cumulative), figures / "cumulative.png"
        )
        save_figure(
            sensitivity_report.sensitivity_forest(self.table), figures / "sensitivity_forest.png"
        )
        save_figure(
            sensitivity_report.cumulative_forest(self.cumulative), figures / "cumulative_forest.png"
        )
        (stage / "robustness.md").write_text(sensitivity_report.robustness_section(self))
