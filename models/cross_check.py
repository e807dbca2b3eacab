"""The transparent cross-check: an exact normal-normal meta-regression on closed-form estimates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.exact import exact_posterior
from models.intervals import ETI95, Interval
from models.meta_regression import MetaTable
from models.priors import PriorSpec


def regimen_priors(here: dict, there: dict) -> tuple[dict, dict, np.ndarray | None]:
    """Priors of (beta_here, beta_there - beta_here) that keep the two betas independent.

    With normal priors on both fractions, the intercept is beta_here and the regimen term
    their difference, whose prior correlates with the intercept (covariance -var_here): with
    that covariance, the implied prior of beta_there = intercept + term is its own prior.
    Otherwise a normal(0.5, 1) intercept and a normal(0, 1) term, independent.
    """
    if not here["dist"] == there["dist"] == "normal":
        return (
            {"dist": "normal", "mu": 0.5, "sigma": 1.0},
            {"dist": "normal", "mu": 0.0, "sigma": 1.0},
            None,
        )
    var_here, var_there = here["sigma"] ** 2, there["sigma"] ** 2
    coef = {
        "dist": "normal",
        "mu": there["mu"] - here["mu"],
        "sigma": (var_here + var_there) ** 0.5,
    }
    cov = np.array([[var_here, -var_here], [-var_here, var_here + var_there]])
    return here, coef, cov


def cross_check(estimates: pd.DataFrame, priors: PriorSpec, ci: Interval = ETI95) -> pd.DataFrame:
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
        mu, coef, cov = regimen_priors(priors[f"beta_{regimen}"], priors[f"beta_{other}"])
        tau = (
            priors["tau_beta"]
            if priors["tau_beta"]["dist"] != "fixed"
            else {"dist": "halfnormal", "sigma": 0.2}
        )
        post = exact_posterior(table, {"mu": mu, "tau": tau, mod: coef}, location_cov=cov)
        summary = post.summary(ci).set_index("parameter")
        rows.append({"parameter": f"beta_{regimen}", **summary.loc["mu"].to_dict()})
        if regimen == "acute":
            rows.append(
                {"parameter": "delta_timing", **(summary.loc[f"coef_{mod}"] * -1).to_dict()}
            )
            rows.append({"parameter": "tau_beta", **summary.loc["tau"].to_dict()})
    out = pd.DataFrame(rows)
    # the sign flip above reverses the quantiles of the difference
    flip = out["parameter"] == "delta_timing"
    lb, ub = ci.columns
    out.loc[flip, [lb, ub]] = out.loc[flip, [ub, lb]].to_numpy()
    out.loc[flip, "sd"] = out.loc[flip, "sd"].abs()
    return out
