"""Priors as data: ``{dist = "normal", mu = 0, sigma = 1}`` -> a PyMC random variable.

The same small vocabulary serves every model and every prior file, so a prior written in a
TOML file, stored in a result's attrs, and used in a model are one and the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

# Lower-case PyMC names. "fixed" is a constant that a sensitivity analysis can vary.
DISTRIBUTIONS: dict[str, type[pm.Distribution]] = {
    "normal": pm.Normal,
    "studentt": pm.StudentT,
    "cauchy": pm.Cauchy,
    "halfnormal": pm.HalfNormal,
    "halfcauchy": pm.HalfCauchy,
    "halfstudentt": pm.HalfStudentT,
    "exponential": pm.Exponential,
    "uniform": pm.Uniform,
    "beta": pm.Beta,
    "lognormal": pm.LogNormal,
    "truncatednormal": pm.TruncatedNormal,
    "gamma": pm.Gamma,
}


# One parametrization per distribution. PyMC's own ``dist`` also accepts alternatives (a
# precision ``tau``, Beta by mean and SD) and swallows unknown keywords, and the exact method
# and the closed-form estimates map specs to scipy by these names, so a file may use only
# these. Omitted keys take PyMC's defaults where it has them (normal mu = 0, sigma = 1, ...).
PARAMETERS: dict[str, tuple[str, ...]] = {
    "normal": ("mu", "sigma"),
    "studentt": ("nu", "mu", "sigma"),
    "cauchy": ("alpha", "beta"),
    "halfnormal": ("sigma",),
    "halfcauchy": ("beta",),
    "halfstudentt": ("nu", "sigma"),
    "exponential": ("lam",),
    "uniform": ("lower", "upper"),
    "beta": ("alpha", "beta"),
    "lognormal": ("mu", "sigma"),
    "truncatednormal": ("mu", "sigma", "lower", "upper"),
    "gamma": ("alpha", "beta"),
}


def spec_error(spec: Any) -> str | None:
    """Why ``spec`` is not a valid distribution spec, or None if it is."""
    if not isinstance(spec, Mapping) or "dist" not in spec:
        return "a table with a 'dist' key, e.g. {dist = \"normal\", mu = 0, sigma = 1}"
    kwargs = {k: v for k, v in spec.items() if k != "dist"}
    name = spec["dist"]
    if name == "fixed":
        if set(kwargs) != {"value"} or not isinstance(kwargs["value"], int | float):
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
    if "lower" in kwargs and "upper" in kwargs and kwargs["lower"] >= kwargs["upper"]:
        return f"lower < upper for {name}"
    try:
        DISTRIBUTIONS[name].dist(**kwargs)
    except (TypeError, ValueError) as err:
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
