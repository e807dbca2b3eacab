"""How much a crossover that stops at an interim analysis overstates its contrast, by simulation.

The model multiplies an early-stopped trial's contrast by ``exp(lambda)``, with lambda's prior
from Bassler et al. (2010): a pooled ratio of relative risks, borrowed because Williams 2018's
stopping rule is not reported (docs/science.md, section 2). This module computes what a
factor would be for a trial like Williams 2018 under stopping rules it might have had: pairs
of binary outcomes (ketamine + placebo, ketamine + naltrexone) from a bivariate probit, an
interim analysis after ``pairs`` completers that stops when McNemar's exact test gives
p < ``alpha``, and the probit contrast estimated as ``probit((x + 0.5) / (n + 1))`` of each
period's responders (:func:`models.forms.base.probit_and_se`). The factor is the mean estimate
among the trials that stopped over the mean estimate of all of them: the exaggeration that
stopping adds, for a reader of stopped trials. It is not an input of the main analysis;
docs/science.md reports it beside the prior, and the sensitivity suite's larger-factor
scenario is centred on one of its numbers (``STOPPING_RULE_FACTOR``, a test checks it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class StoppedTrials:
    """What the simulated trials that stopped at the interim analysis estimated.

    ``factor`` is the mean estimate among them over the mean estimate of every trial at the
    same contrast (the selection's share alone: the probit estimate is bounded, 0 of 12
    responders caps it near 2, so it is biased without any selection), with its Monte Carlo
    SE; ``unselected`` is every trial's mean estimate over the true contrast; ``stopped`` the
    share of trials that stopped.
    """

    contrast: float
    alpha: float
    stopped: float
    factor: float
    factor_se: float
    unselected: float


def mcnemar_exact_p(placebo_only: np.ndarray, naltrexone_only: np.ndarray) -> np.ndarray:
    """Two-sided exact McNemar p: twice the binomial tail of the smaller discordant count."""
    discordant = placebo_only + naltrexone_only
    smaller = np.minimum(placebo_only, naltrexone_only)
    p = 2.0 * stats.binom.cdf(smaller, discordant, 0.5)
    return np.minimum(1.0, np.where(discordant == 0, 1.0, p))


def stopped_trials(
    contrast: float,
    alpha: float,
    *,
    pairs: int = 12,
    response_probit: float = 0.2,
    rho: float = 0.5,
    trials: int = 200_000,
    seed: int = 0,
) -> StoppedTrials:
    """Simulate ``trials`` interim analyses of ``pairs`` pairs at a true probit ``contrast``.

    Each pair's latent improvements under ketamine + placebo and ketamine + naltrexone are
    bivariate normal with means ``response_probit`` and ``response_probit - contrast``, unit
    SDs and correlation ``rho``; a period counts a responder where its improvement is above 0.
    """
    if contrast <= 0:
        raise ValueError(f"the true contrast must be positive to form a factor (found {contrast})")
    rng = np.random.default_rng(seed)
    cov = np.array([[1.0, rho], [rho, 1.0]])
    latent = rng.multivariate_normal([0.0, 0.0], cov, size=(trials, pairs))
    placebo = latent[..., 0] + response_probit > 0
    naltrexone = latent[..., 1] + response_probit - contrast > 0
    p = mcnemar_exact_p((placebo & ~naltrexone).sum(1), (naltrexone & ~placebo).sum(1))
    stop = p < alpha

    def probit(responders: np.ndarray) -> np.ndarray:
        return stats.norm.ppf((responders.sum(1) + 0.5) / (pairs + 1.0))

    estimate = probit(placebo) - probit(naltrexone)
    every = float(estimate.mean())
    chosen = estimate[stop]
    if chosen.size < 2:
        return StoppedTrials(contrast, alpha, float(stop.mean()), np.nan, np.nan, every / contrast)
    se = float(chosen.std(ddof=1) / np.sqrt(chosen.size)) / every
    factor = float(chosen.mean()) / every
    return StoppedTrials(contrast, alpha, float(stop.mean()), factor, se, every / contrast)


# The table in docs/science.md: true contrasts (0.87 is full blockade of the mean ketamine
# effect), interim thresholds, and within-pair correlations (0.5 shown, the others compared).
CONTRASTS = (0.5, 0.87, 1.0, 1.5, 2.0)
ALPHAS = (0.05, 0.02, 0.01)
RHOS = (0.3, 0.5, 0.8)


def factor_table(trials: int = 200_000, seed: int = 0) -> pd.DataFrame:
    """Every contrast, threshold and correlation: the factor, its SE, the share stopped.

    One row per (rho, alpha, contrast); what docs/science.md's table reports, reproducibly:
    ``python -c "from models.early_stopping import factor_table; print(factor_table())"``.
    """
    rows = []
    for rho in RHOS:
        for alpha in ALPHAS:
            for c in CONTRASTS:
                found = stopped_trials(c, alpha, rho=rho, trials=trials, seed=seed)
                rows.append({"rho": rho, **asdict(found)})
    return pd.DataFrame(rows)
