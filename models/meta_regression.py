"""A transparent contrast-level model: normal-normal random effects with optional moderators.

    estimate_i ~ Normal(theta_i, se_i)          (se_i known)
    theta_i    = mu + x_i . coef + tau * z_i,   z_i ~ Normal(0, 1)

Anyone can check it by hand, and :mod:`models.exact` computes the same posterior by
quadrature, without sampling. For the naltrexone question it runs on per-study blockade
fraction estimates (:mod:`models.contrasts`) as a cross-check of the full model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm

from models.distributions import make_rv, spec_error
from models.evidence.problems import InputError, Problem, read_toml

# Defaults suit standardized effects (SMDs, log odds ratios, blockade fractions): mu and each
# coefficient within a few units of 0, between-study SD below about 2. Give your own
# priors (--priors) for estimates on other scales.
DEFAULT_PRIORS: dict[str, dict[str, Any]] = {
    "mu": {"dist": "normal", "mu": 0.0, "sigma": 2.0},
    "tau": {"dist": "halfnormal", "sigma": 1.0},
}
DEFAULT_COEF_PRIOR: dict[str, Any] = {"dist": "normal", "mu": 0.0, "sigma": 1.0}
REQUIRED_COLUMNS = ("study", "estimate", "se")


@dataclass(frozen=True)
class MetaTable:
    """Per-study estimates with known standard errors, plus moderator columns."""

    study: tuple[str, ...]
    estimate: np.ndarray
    se: np.ndarray
    moderators: pd.DataFrame  # one column per moderator, rows in study order

    @property
    def moderator_names(self) -> tuple[str, ...]:
        return tuple(self.moderators.columns)


# Estimates and standard errors are on an effect-size scale (SMDs, log ratios): 1e6 is far
# beyond any, and an SE below 1e-6 is a rounding artefact that makes the likelihood singular.
MAX_MAGNITUDE = 1e6
MIN_SE = 1e-6
# Moderator columns become model parameters of the same name; these names are taken.
RESERVED = frozenset({"mu", "tau", "theta", "z", "estimate", "se", "study"})


def read_table(path: Path, moderators: tuple[str, ...] = ()) -> MetaTable:
    """Read and check a CSV with ``study``, ``estimate``, ``se`` and moderator columns.

    Raises
    ------
    InputError
        Naming the file, the row's study, the column, what was found and what was expected.
    """
    label = str(path)
    reserved = sorted(set(moderators) & RESERVED)
    if reserved:
        found = f"moderator {reserved[0]!r}, the name of a model parameter"
        raise InputError([Problem(label, "-", "--moderator", found, "another column name")])
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise InputError([Problem(label, "-", "", "no such file", "a CSV file")]) from None
    except IsADirectoryError:
        raise InputError([Problem(label, "-", "", "a folder", "a CSV file")]) from None
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(
            [Problem(label, "-", "", f"an unreadable CSV ({err})", "a CSV file")]
        ) from None
    problems = []
    for col in (*REQUIRED_COLUMNS, *moderators):
        if col not in frame.columns:
            problems.append(
                Problem(label, "-", col, f"columns {list(frame.columns)}", f"a column '{col}'")
            )
    if problems:
        raise InputError(problems)
    if len(frame) < 2:
        raise InputError([Problem(label, "-", "", f"{len(frame)} row(s)", "at least 2 studies")])
    duplicated = frame["study"][frame["study"].duplicated()].tolist()
    if duplicated:
        problems.append(
            Problem(
                label, str(duplicated[0]), "study", "a repeated study name", "unique study names"
            )
        )
    for col in ("estimate", "se", *moderators):
        values = pd.to_numeric(frame[col], errors="coerce")
        for row, (raw, num) in enumerate(zip(frame[col], values, strict=True)):
            study = str(frame["study"].iloc[row])
            if not np.isfinite(num) or abs(num) > MAX_MAGNITUDE:
                expected = f"a finite number of at most {MAX_MAGNITUDE:g} in size"
                problems.append(Problem(label, study, col, repr(raw), expected))
            elif col == "se" and num < MIN_SE:
                expected = f"a standard error of at least {MIN_SE:g}"
                problems.append(Problem(label, study, col, repr(raw), expected))
    for col in moderators:
        if pd.to_numeric(frame[col], errors="coerce").nunique() == 1:
            found = f"the same value in every row ({frame[col].iloc[0]!r})"
            expected = "a moderator that varies across studies (a constant is confounded with mu)"
            problems.append(Problem(label, "-", col, found, expected))
    if problems:
        raise InputError(problems)
    return MetaTable(
        study=tuple(str(s) for s in frame["study"]),
        estimate=frame["estimate"].to_numpy(dtype=float),
        se=frame["se"].to_numpy(dtype=float),
        moderators=frame[list(moderators)].astype(float).reset_index(drop=True),
    )


def read_priors(path: Path | None, moderators: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Priors for ``mu``, ``tau`` and each moderator: the defaults, overridden by a TOML file."""
    priors = {**DEFAULT_PRIORS, **{m: dict(DEFAULT_COEF_PRIOR) for m in moderators}}
    if path is None:
        return priors
    label = str(path)
    given = read_toml(path, "priors", "a TOML file of priors")
    problems = []
    for name, spec in given.items():
        if name not in priors:
            problems.append(
                Problem(
                    label, "priors", name, f"unknown parameter '{name}'", f"one of {list(priors)}"
                )
            )
            continue
        error = spec_error(spec)
        if error:
            problems.append(Problem(label, "priors", name, repr(spec), error))
        elif name == "tau" and not _non_negative_support(spec):
            problems.append(
                Problem(
                    label,
                    "priors",
                    name,
                    repr(spec),
                    "a prior on tau >= 0 (half-*, exponential, "
                    "uniform with lower >= 0, lognormal, gamma, or fixed >= 0)",
                )
            )
        else:
            priors[name] = dict(spec)
    if problems:
        raise InputError(problems)
    return priors


def _non_negative_support(spec: dict) -> bool:
    dist = spec["dist"]
    if dist in ("halfnormal", "halfcauchy", "halfstudentt", "exponential", "lognormal", "gamma"):
        return True
    if dist == "uniform":
        return spec.get("lower", 0.0) >= 0
    if dist == "fixed":
        return spec["value"] >= 0
    return False


def build_meta_regression(table: MetaTable, priors: dict[str, dict[str, Any]]) -> pm.Model:
    """Normal-normal random-effects meta-regression (non-centred), with named dims.

    Parameters
    ----------
    table : MetaTable
        Estimates, standard errors and moderators.
    priors : dict
        Specs for ``mu``, ``tau`` and each moderator name.

    Returns
    -------
    pm.Model
        Variables ``mu``, ``tau``, ``coef`` (dims ``moderator``), ``theta`` (dims ``study``).
    """
    coords = {"study": list(table.study)}
    if table.moderator_names:
        coords["moderator"] = list(table.moderator_names)
    with pm.Model(coords=coords) as model:
        mu = make_rv("mu", priors["mu"])
        tau = make_rv("tau", priors["tau"])
        mean = mu
        if table.moderator_names:
            coefs = [make_rv(f"coef_{m}", priors[m]) for m in table.moderator_names]
            coef = pm.Deterministic("coef", pm.math.stack(coefs), dims="moderator")
            x = pm.Data("x", table.moderators.to_numpy(), dims=("study", "moderator"))
            mean = mu + pm.math.dot(x, coef)
        z = pm.Normal("z", 0.0, 1.0, dims="study")
        theta = pm.Deterministic("theta", mean + tau * z, dims="study")
        se = pm.Data("se", table.se, dims="study")
        pm.Normal("estimate", mu=theta, sigma=se, observed=table.estimate, dims="study")
    return model
