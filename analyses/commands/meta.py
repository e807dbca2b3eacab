"""`python -m analyses meta TABLE.csv ... --out DIR`: the transparent meta-regression.

Writes ``DIR/summary.csv`` (one row per parameter: mu, tau, coef_<moderator>, and each study's
shrunken effect) and ``DIR/posterior.nc``. DIR must not exist or be empty: earlier results
are never overwritten, and a failed run leaves nothing behind.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from arviz_stats import ess, rhat

from analyses.inference.config import load_config
from analyses.inference.intervals import interval
from analyses.inference.provenance import (
    file_hash,
    json_attrs,
    now_utc,
    package_versions,
    staged_directory,
)
from analyses.inference.sampling import SamplerSettings, convergence, sample_posterior
from models.evidence.problems import InputError, Problem
from models.exact import exact_posterior, unsupported
from models.meta_regression import MetaTable, build_meta_regression, read_priors, read_table


def summary_columns() -> list[str]:
    """summary.csv's leading columns: the interval names every table of the toolkit uses."""
    return ["parameter", "mean", "sd", "median", *interval().columns]


# Few studies make a funnel in (tau, z); 0.95 avoids the divergences 0.9 leaves there.
META_SAMPLER = {"draws": 2000, "tune": 1000, "chains": 4, "target_accept": 0.95}


def meta_settings() -> SamplerSettings:
    """The meta-regression's sampler, seeded from the primary configuration (the seed's home)."""
    return SamplerSettings(**META_SAMPLER, seed=load_config()[0].sampler.seed)


def mcmc_summary(idata: xr.DataTree, table: MetaTable) -> pd.DataFrame:
    """summary.csv rows from draws: quantiles by numpy, R-hat and bulk ESS by arviz-stats."""
    post = idata["posterior"].to_dataset()
    series: dict[str, xr.DataArray] = {"mu": post["mu"], "tau": post["tau"]}
    for m in table.moderator_names:
        series[f"coef_{m}"] = post["coef"].sel(moderator=m, drop=True)
    for s in table.study:
        series[s] = post["theta"].sel(study=s, drop=True)
    rows = []
    for name, da in series.items():
        values = da.values.ravel()
        ds = xr.Dataset({"x": da})
        rows.append(
            {
                "parameter": name,
                "mean": values.mean(),
                "sd": values.std(ddof=1),
                "median": np.median(values),
                **dict(zip(interval().columns, interval().bounds(values), strict=True)),
                "r_hat": float(rhat(ds)["x"]),
                "ess_bulk": float(ess(ds, method="bulk")["x"]),
            }
        )
    return pd.DataFrame(rows)


def run_meta(
    table_path: Path,
    out: Path,
    priors_path: Path | None = None,
    moderators: tuple[str, ...] = (),
    method: str = "mcmc",
    settings: SamplerSettings | None = None,
) -> pd.DataFrame:
    """Fit the meta-regression and write DIR/summary.csv and DIR/posterior.nc."""
    out = Path(out)
    if out.is_symlink() and not out.exists():
        raise InputError([Problem(str(out), "-", "--out", "a link to nothing", "a new folder")])
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(
            [
                Problem(
                    str(out),
                    "-",
                    "--out",
                    "an existing, non-empty path",
                    "a new or empty folder: earlier results are never overwritten",
                )
            ]
        )
    table = read_table(Path(table_path), tuple(moderators))
    priors = read_priors(priors_path, table.moderator_names)
    attrs = json_attrs(
        method=method,
        priors=priors,
        moderators=list(table.moderator_names),
        table=str(table_path),
        table_sha256=file_hash(table_path),
        package_versions=package_versions(),
        created=now_utc(),
    )
    if method == "exact":
        summary, tree = _exact(table, priors, priors_path)
    else:
        settings = settings or meta_settings()
        tree = sample_posterior(build_meta_regression(table, priors), settings)
        summary = mcmc_summary(tree, table)
        attrs |= json_attrs(
            sampler=settings.to_dict(),
            seed=settings.seed,
            diagnostics=convergence(tree).to_dict(),
        )
    tree.attrs.update(attrs)
    with staged_directory(out) as stage:
        summary.to_csv(stage / "summary.csv", index=False)
        tree.to_netcdf(stage / "posterior.nc", engine="h5netcdf")
    return summary


def _exact(
    table: MetaTable, priors: dict, priors_path: Path | None
) -> tuple[pd.DataFrame, xr.DataTree]:
    """The exact posterior's summary, and a tree of its tau quadrature weights."""
    reason = unsupported(priors, table.moderator_names)
    if reason:
        where = str(priors_path or "default priors")
        raise InputError([Problem(where, "priors", "", "unsupported priors", reason)])
    post = exact_posterior(table, priors)
    summary = post.summary(interval())
    tau_values, inverse = np.unique(post.tau, return_inverse=True)
    tau_weights = np.bincount(inverse, weights=post.weights)
    tree = xr.DataTree.from_dict(
        {
            "/quadrature": xr.Dataset(
                {"tau_weight": ("tau_node", tau_weights)}, coords={"tau_node": tau_values}
            ),
            "/summary": xr.Dataset.from_dataframe(summary.set_index("parameter")),
        }
    )
    return summary, tree
