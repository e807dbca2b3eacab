"""One analysis fit: build, sample behind the convergence gate, and summarise.

Shared by the primary run and every sensitivity scenario, so they differ only in their
inputs (evidence readings, priors, options, thresholds).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr
from arviz_base import rc_context
from arviz_stats import summary

from analyses.inference.bayes_factors import bayes_factor_table
from analyses.inference.hypotheses import Thresholds, hypothesis_table, threshold_grid
from analyses.inference.intervals import interval
from analyses.inference.log_density import log_prior
from analyses.inference.predictive import add_posterior_predictive, prior_predictive
from analyses.inference.sampling import TAIL_ESS_PROBS, GatedFit, SamplerSettings, fit_with_gate
from models.blockade import ModelOptions, build_blockade_model
from models.evidence.load import Evidence
from models.forms.base import datum_of
from models.priors import PriorSpec


@contextmanager
def quiet_pymc() -> Iterator[None]:
    """PyMC logs every variable it forward-samples; the run prints its own progress instead.

    The logger's level is restored afterwards, so a notebook's logging is left as it was.
    """
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


# The quantities every run, scenario and report leads with.
HEADLINE_VARS = ("beta_acute", "beta_sustained", "delta_timing")


@dataclass
class FitResult:
    """Everything one fit produced."""

    idata: xr.DataTree
    gated: GatedFit
    hypotheses: pd.DataFrame
    thresholds: pd.DataFrame
    model: pm.Model
    bayes_factors: pd.DataFrame

    @property
    def certified(self) -> bool:
        return self.gated.certified

    def headline(self) -> dict:
        """The numbers a run reports first, and that later runs compare against."""
        post = self.idata["posterior"]
        table = self.hypotheses.set_index("hypothesis")
        delta = post["delta_timing"].values.ravel()
        ci = interval()
        out = {
            "interval": ci.prob,
            "posterior_prob": table["posterior_prob"].to_dict(),
            "prior_prob": table["prior_prob"].to_dict(),
            "bf_permissive_vs_primary": table.loc["permissive", "bf_vs_primary"],
            "p_delta_positive": float((delta > 0).mean()),
            "certified": self.certified,
        }
        for name in HEADLINE_VARS:
            v = post[name].values.ravel()
            lo, hi = ci.bounds(v)
            # Generic keys, so a later run with another interval can still read this one.
            out[name] = {"median": float(np.median(v)), "lower": lo, "upper": hi}
        return out


def fit_analysis(
    evidence: Evidence,
    priors: PriorSpec,
    options: ModelOptions,
    settings: SamplerSettings,
    thresholds: Thresholds,
    primary_grid: list[float],
    permissive_grid: list[float],
    prior_predictive_draws: int = 0,
    posterior_predictive: bool = False,
    drawn_elsewhere: Callable[[], xr.DataTree | None] | None = None,
) -> FitResult:
    """Fit the blockade model to resolved evidence and compute the hypothesis summaries.

    ``drawn_elsewhere`` returns the prior predictive draws that another process made while
    this one compiled (:meth:`analyses.report.drawing.FigureHelper.start_prior_predictive`);
    where it is not given or returns None, they are drawn here.
    """
    model = build_blockade_model(evidence, priors, options)
    # A process that fits the same structure again (the API in a notebook, the tests) swaps
    # the new data into its compiled model: compiling is most of a fit (9 of 13 s, AMD EPYC).
    gated = fit_with_gate(model, settings, reuse=True)
    idata = gated.idata
    with model:
        if posterior_predictive:
            add_posterior_predictive(idata, model, settings.seed + 1)
            # Vectorised over draws, so numba's default mode is the fast one here (1.8 s vs 9 s).
            pm.compute_log_likelihood(idata, progressbar=False)
            # With the log likelihood, what power-scaling needs (the suite's psense and the
            # report's figure), in every run, quick ones too.
            idata["log_prior"] = xr.DataTree(log_prior(idata["posterior"], model))
        # Last, so that the other process has had the longest to draw them.
        if prior_predictive_draws:
            drawn = drawn_elsewhere() if drawn_elsewhere is not None else None
            if drawn is None:
                drawn = prior_predictive(model, prior_predictive_draws, settings.seed)
            idata.update(drawn)
    # After the predictive groups: PyMC forward-samples from the model's own variables only.
    add_predictive_beta(idata, settings.seed)
    describe_observations(idata, model)
    post = idata["posterior"]
    hyp = hypothesis_table(
        post["beta_acute"],
        post["beta_sustained"],
        priors["beta_acute"],
        priors["beta_sustained"],
        thresholds,
    )
    grid = threshold_grid(
        post["beta_acute"],
        post["beta_sustained"],
        thresholds,
        np.array(primary_grid),
        np.array(permissive_grid),
    )
    bfs = bayes_factor_table(
        post["beta_acute"],
        post["beta_sustained"],
        priors["beta_acute"],
        priors["beta_sustained"],
        thresholds,
    )
    return FitResult(idata, gated, hyp, grid, model, bfs)


def describe_observations(idata: xr.DataTree, model: pm.Model) -> None:
    """Copy what each observed variable holds (its form's ``describe``) onto its data.

    The attribute ``datum`` travels with ``posterior.nc``; the predictive checks label their
    axes with it.
    """
    if "observed_data" not in idata.children:
        return
    observed = idata["observed_data"]
    for rv in model.observed_RVs:
        datum = datum_of(rv)
        if datum is not None and rv.name in observed.data_vars:
            observed[rv.name].attrs["datum"] = datum


def add_predictive_beta(idata: xr.DataTree, seed: int) -> None:
    """Add ``beta_new_study`` (dims ``regimen``) to the posterior: a new study's own β.

    ``beta_regimen + tau_beta * z`` with a fresh standard normal ``z`` per draw (seeded), so
    it carries the between-study spread a new trial would have, not only the uncertainty of
    the pooled value. A new study's covariates are unknown, so any covariate term is left at 0.
    """
    post = idata["posterior"].to_dataset()
    pooled, tau = post["beta_regimen"], post["tau_beta"]
    # A separate stream from the sampler's seeds, so adding it moves no other number.
    rng = np.random.default_rng([seed, 0xBE7A])
    z = xr.DataArray(rng.standard_normal(pooled.shape), dims=pooled.dims, coords=pooled.coords)
    idata["posterior"] = post.assign(beta_new_study=pooled + tau * z)


# Assay sensitivity: can a study show an attenuation at all? Only if ketamine did something
# in it. 0.3 SD is a small standardized effect (Cohen's 0.2-0.5 band); a study whose
# P(delta_s > 0.3) is below one half can hardly show naltrexone removing an effect.
ASSAY_MIN_EFFECT = 0.3
ASSAY_FLAG_BELOW = 0.5


def assay_sensitivity(idata: xr.DataTree, controlled: set[str] | None = None) -> pd.DataFrame:
    """assay_sensitivity.csv: per study, ketamine's effect in it and P(delta_s > 0.3).

    Only a study with an arm that got no ketamine (``controlled``) identifies its own
    ``delta_s``; elsewhere it is its prior (or a product with beta), so it is not flagged and
    ``identified`` says so.
    """
    delta = idata["posterior"]["ketamine_effect_study"]
    above = (delta > ASSAY_MIN_EFFECT).mean(("chain", "draw"))
    table = pd.DataFrame(
        {
            "study": delta.coords["study"].values,
            "delta_mean": delta.mean(("chain", "draw")).values,
            "delta_sd": delta.std(("chain", "draw")).values,
            f"p_delta_above_{ASSAY_MIN_EFFECT:g}": above.values,
        }
    )
    controlled = set(table["study"]) if controlled is None else controlled
    table["identified"] = table["study"].isin(controlled)
    low = table[f"p_delta_above_{ASSAY_MIN_EFFECT:g}"] < ASSAY_FLAG_BELOW
    table["flagged"] = low & table["identified"]
    return table


def parameter_summary(idata: xr.DataTree) -> pd.DataFrame:
    """summary.csv: ArviZ's summary of every model parameter, unrounded."""
    # Every parameter, including the non-centred z's and deterministics. The tail ESS at the
    # gate's quantiles: arviz-stats reads them from ``stats.ci_prob`` (p gives p and 1 - p).
    with rc_context({"stats.ci_prob": TAIL_ESS_PROBS[1]}):
        table = summary(idata, round_to="none", ci_prob=interval().prob, ci_kind="eti")
    # The median too: the report and the figures give medians beside equal-tailed intervals.
    medians = summary(idata, kind="stats_median", round_to="none", ci_kind="eti")["median"]
    table.insert(table.columns.get_loc("mean") + 1, "median", medians)
    table.index.name = "parameter"
    return table
