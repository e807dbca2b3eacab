"""Priors as data: ``{dist = "normal", mu = 0, sigma = 1}`` -> a PyMC random variable.

The same small vocabulary serves every model and every prior file, so a prior written in a
TOML file, stored in a result's attrs, and used in a model are one and the same thing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy import stats

# Prior parameters live on the scale of a blockade fraction (about 0-1) or a probit; a
# parameter beyond 1e6 in size, or a scale or shape below 1e-6 (a point mass in disguise, which
# NUTS cannot sample), is a typo. Both bounds are far outside any prior this analysis uses.
MAX_PARAMETER = 1e6
MIN_SCALE = 1e-6


class _HalfStudentT(stats.rv_continuous):
    """Student-t folded at zero (scipy has no half-t): density 2 t(x; nu, 0, 1) on x >= 0."""

    def _pdf(self, x, nu):
        return 2.0 * stats.t.pdf(x, nu)

    def _cdf(self, x, nu):
        return 2.0 * stats.t.cdf(x, nu) - 1.0

    def _ppf(self, q, nu):
        return stats.t.ppf(0.5 + q / 2.0, nu)


_half_t = _HalfStudentT(a=0.0, name="halfstudentt")


@dataclass(frozen=True)
class Family:
    """One distribution, as PyMC builds it and as scipy integrates it.

    Attributes
    ----------
    pymc : type
        The PyMC distribution.
    parameters : tuple of str
        The one parametrization a spec may use.
    defaults : dict
        PyMC's values for parameters a spec may omit (the rest are required).
    scipy : callable
        Complete parameters -> the frozen scipy distribution with the same density; exact
        prior masses, closed-form estimates and prior-density figures all go through it.
    """

    pymc: type[pm.Distribution]
    parameters: tuple[str, ...]
    defaults: dict[str, float]
    scipy: Callable[..., Any]


# Every family in one table: a distribution PyMC can build but scipy cannot integrate (or the
# reverse) cannot be added, so a prior that passes validation cannot fail after a fit.
FAMILIES: dict[str, Family] = {
    "normal": Family(
        pm.Normal,
        ("mu", "sigma"),
        {"mu": 0.0, "sigma": 1.0},
        lambda mu, sigma: stats.norm(mu, sigma),
    ),
    "studentt": Family(
        pm.StudentT,
        ("nu", "mu", "sigma"),
        {"mu": 0.0, "sigma": 1.0},
        lambda nu, mu, sigma: stats.t(nu, mu, sigma),
    ),
    "cauchy": Family(
        pm.Cauchy, ("alpha", "beta"), {}, lambda alpha, beta: stats.cauchy(alpha, beta)
    ),
    "halfnormal": Family(
        pm.HalfNormal, ("sigma",), {"sigma": 1.0}, lambda sigma: stats.halfnorm(scale=sigma)
    ),
    "halfcauchy": Family(pm.HalfCauchy, ("beta",), {}, lambda beta: stats.halfcauchy(scale=beta)),
    "halfstudentt": Family(
        pm.HalfStudentT,
        ("nu", "sigma"),
        {"sigma": 1.0},
        lambda nu, sigma: _half_t(nu, scale=sigma),
    ),
    "exponential": Family(pm.Exponential, ("lam",), {}, lambda lam: stats.expon(scale=1.0 / lam)),
    "uniform": Family(
        pm.Uniform,
        ("lower", "upper"),
        {"lower": 0.0, "upper": 1.0},
        lambda lower, upper: stats.uniform(lower, upper - lower),
    ),
    "beta": Family(pm.Beta, ("alpha", "beta"), {}, lambda alpha, beta: stats.beta(alpha, beta)),
    "lognormal": Family(
        pm.LogNormal,
        ("mu", "sigma"),
        {"mu": 0.0, "sigma": 1.0},
        lambda mu, sigma: stats.lognorm(s=sigma, scale=np.exp(mu)),
    ),
    "truncatednormal": Family(
        pm.TruncatedNormal,
        ("mu", "sigma", "lower", "upper"),
        {"mu": 0.0, "sigma": 1.0, "lower": -np.inf, "upper": np.inf},
        lambda mu, sigma, lower, upper: stats.truncnorm(
            (lower - mu) / sigma, (upper - mu) / sigma, loc=mu, scale=sigma
        ),
    ),
    "gamma": Family(
        pm.Gamma, ("alpha", "beta"), {}, lambda alpha, beta: stats.gamma(a=alpha, scale=1 / beta)
    ),
}
# Views kept for readers of the table by PyMC class or by parameter names.
DISTRIBUTIONS: dict[str, type[pm.Distribution]] = {k: f.pymc for k, f in FAMILIES.items()}
PARAMETERS: dict[str, tuple[str, ...]] = {k: f.parameters for k, f in FAMILIES.items()}


def describe_spec(spec: Mapping[str, Any]) -> str:
    """``normal(mu=0.5, sigma=0.5)``, or ``fixed at 0.3``: how reports and scenario names say it."""
    if spec["dist"] == "fixed":
        return f"fixed at {spec['value']:.3g}"
    params = ", ".join(f"{k}={v:.3g}" for k, v in spec.items() if k != "dist")
    return f"{spec['dist']}({params})"


def written_spec(spec: Mapping[str, Any]) -> str:
    """``HalfNormal(0.5)``, ``Beta(1.87, 2.13)``: a spec as docs/science.md writes it, its
    parameters in the family's order (the names of the code's form, e.g. a half-Cauchy's
    ``beta``, would read as the blockade fraction β)."""
    if spec["dist"] == "fixed":
        return f"fixed at {spec['value']:.3g}"
    family = FAMILIES[spec["dist"]]
    name = family.pymc.__name__
    values = {**family.defaults, **{k: v for k, v in spec.items() if k != "dist"}}
    return f"{name}({', '.join(f'{values[p]:.3g}' for p in family.parameters)})"


def scipy_dist(spec: Mapping[str, Any]):
    """The frozen scipy distribution with the density of a prior spec (not ``fixed``)."""
    family = FAMILIES[spec["dist"]]
    params = {**family.defaults, **{k: v for k, v in spec.items() if k != "dist"}}
    return family.scipy(**{k: float(params[k]) for k in family.parameters})


def spec_error(spec: Any) -> str | None:
    """Why ``spec`` is not a valid distribution spec, or None if it is."""
    if not isinstance(spec, Mapping) or "dist" not in spec:
        return "a table with a 'dist' key, e.g. {dist = \"normal\", mu = 0, sigma = 1}"
    kwargs = {k: v for k, v in spec.items() if k != "dist"}
    name = spec["dist"]
    for key, value in kwargs.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value) or abs(value) > MAX_PARAMETER:
                return f"a finite {key} of at most {MAX_PARAMETER:g} in size (found {value})"
    if name == "fixed":
        value = kwargs.get("value")
        if (
            set(kwargs) != {"value"}
            or isinstance(value, bool)
            or not isinstance(value, int | float)
        ):
            return '{dist = "fixed", value = <number>}'
        return None
    if name not in DISTRIBUTIONS:
        return f"dist one of {', '.join(['fixed', *DISTRIBUTIONS])}"
    unknown = sorted(set(kwargs) - set(PARAMETERS[name]))
    if unknown:
        return f"the parameters of {name}: {', '.join(PARAMETERS[name])} (not {', '.join(unknown)})"
    for key, value in kwargs.items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            return f"numeric parameters; {key} = {value!r} is not a number"
    # Locations and bounds may be any number; every other parameter is a scale or shape.
    locations = {"mu", "lower", "upper"} | ({"alpha"} if name == "cauchy" else set())
    for key, value in kwargs.items():
        if key not in locations and value <= 0:
            return f"{key} > 0 for {name} (found {value})"
        if key not in locations and value < MIN_SCALE:
            return (
                f"{key} of at least {MIN_SCALE:g} for {name} (found {value}; for a point prior "
                'use {dist = "fixed", value = ...})'
            )
    if "lower" in kwargs and "upper" in kwargs and kwargs["lower"] >= kwargs["upper"]:
        return f"lower < upper for {name}"
    try:
        DISTRIBUTIONS[name].dist(**kwargs)
        scipy_dist(spec)
    except (TypeError, ValueError, KeyError) as err:
        return f"the parameters of pm.{DISTRIBUTIONS[name].__name__} ({err})"
    return None


def make_rv(
    name: str,
    spec: Mapping[str, Any],
    dims: str | tuple[str, ...] | None = None,
    as_data: bool = False,
):
    """Create the random variable ``name`` in the current model from a spec.

    Parameters
    ----------
    name : str
        Variable name.
    spec : mapping
        ``{"dist": <lower-case PyMC name or "fixed">, **parameters}``.
    dims : str or tuple of str, optional
        Named dims of the variable.
    as_data : bool
        Make each parameter a named ``pm.Data`` (``<name>__<parameter>``), so a compiled
        model can take another prior of the same family by swapping data.

    Returns
    -------
    TensorVariable
    """
    kwargs = {
        k: pm.Data(f"{name}__{k}", np.float64(v)) if as_data else v
        for k, v in spec.items()
        if k != "dist"
    }
    if spec["dist"] == "fixed":
        value = kwargs["value"] if as_data else pt.as_tensor(np.float64(kwargs["value"]))
        if dims is not None:
            model = pm.modelcontext(None)
            shape = [len(model.coords[d]) for d in ((dims,) if isinstance(dims, str) else dims)]
            value = pt.full(shape, value)
        return pm.Deterministic(name, value, dims=dims)
    return DISTRIBUTIONS[spec["dist"]](name, **kwargs, dims=dims)
