"""Prior and posterior predictive draws, each in one vectorised function call.

PyMC's ``sample_prior_predictive`` and ``sample_posterior_predictive`` call a compiled
function once per draw. Here the model's graph is vectorised over the draws instead, so one
call makes them all: on the primary model, 2000 prior draws in 0.4 s instead of 2.6 s and 4000
posterior predictive draws in 0.2 s instead of 2.7 s (AMD EPYC, 2026-12-02). They are draws
from the same distributions as PyMC's; only the random stream is consumed in another order
(``tests/test_forms.py`` compares the two).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import xarray as xr

# Forward sampling compiles in PyTensor's Python mode: our custom likelihoods' NumPy
# simulators would run in numba's object mode, and the function is called once.
FORWARD_COMPILE = {"mode": "FAST_COMPILE"}


def prior_predictive(model: pm.Model, draws: int, seed: int) -> xr.DataTree:
    """The prior and prior predictive draws of ``model``: the same draws in any process.

    Returns
    -------
    DataTree
        As ``pm.sample_prior_predictive`` returns: ``prior`` (every free variable and
        deterministic) and ``prior_predictive`` (every observed variable), one chain.
    """
    from pymc.distributions.shape_utils import change_dist_size
    from pymc.pytensorf import compile, rvs_in_graph
    from pytensor.graph import vectorize_graph
    from pytensor.graph.traversal import ancestors

    outputs = [*model.free_RVs, *model.deterministics, *model.observed_RVs]
    basic = set(model.basic_RVs)
    # A variable drawn from no other: it is given the draws as a leading dimension, and every
    # variable computed from it inherits that dimension through the vectorised graph.
    roots = [rv for rv in model.basic_RVs if not (set(ancestors([rv])) - {rv}) & basic]
    resized = {rv: change_dist_size(rv, new_size=(draws,), expand=True) for rv in roots}
    vectorised = vectorize_graph(outputs, replace=resized)
    values = compile([], vectorised, random_seed=seed, **FORWARD_COMPILE)()
    prior = {}
    for var, value in zip(outputs, values, strict=True):
        # A deterministic of no random variable (a fixed prior's value) is the same each draw.
        constant = not rvs_in_graph([var])
        prior[var.name] = np.broadcast_to(value, (draws, *value.shape)) if constant else value
    return pm.to_inference_data(prior=prior, model=model)


def add_posterior_predictive(idata: xr.DataTree, model: pm.Model, seed: int) -> None:
    """Add the ``posterior_predictive`` group: every observed variable, once per draw.

    The observed variables' graph is vectorised over the posterior's (chain, draw), where
    ``pm.sample_posterior_predictive`` would evaluate it a draw at a time.
    """
    posterior = idata["posterior"].to_dataset()
    values = replicate(model, posterior, list(model.observed_RVs), seed)
    group = pm.to_inference_data(posterior_predictive=values, model=model)
    idata["posterior_predictive"] = group["posterior_predictive"]


class NotInPosterior(ValueError):
    """A free variable of the model that the posterior does not hold, or holds elsewhere."""


def replicate(model: pm.Model, posterior: xr.Dataset, rvs: list, seed: int) -> dict:
    """Draws of ``rvs`` (variables of ``model``) at each of the posterior's (chain, draw).

    The posterior may come from another model that holds every free variable of this one
    under the same name, with dims of the same names over more coordinates (the suite's model
    of several variants): each is taken at this model's coordinates.

    Raises
    ------
    NotInPosterior
        If a free variable, or one of its coordinates, is not in the posterior.
    """
    from pymc.pytensorf import compile
    from pymc.sampling.forward import vectorize_over_posterior

    free = list(model.free_RVs)
    aligned = {}
    for rv in free:
        if rv.name not in posterior:
            raise NotInPosterior(f"the posterior has no variable {rv.name!r}")
        draws = posterior[rv.name]
        for dim in draws.dims[2:]:
            if model.coords.get(dim) is None:
                continue  # a dim without coordinates: its length must match as it is
            wanted = list(model.coords[dim])
            missing = sorted(set(wanted) - set(draws.coords[dim].values.tolist()))
            if missing:
                raise NotInPosterior(f"{rv.name}: the posterior's {dim!r} lacks {missing}")
            draws = draws.sel({dim: wanted})
        aligned[rv.name] = draws
    outputs = vectorize_over_posterior(rvs, xr.Dataset(aligned), free)
    draws = compile([], outputs, random_seed=seed, **FORWARD_COMPILE)()
    return {rv.name: value for rv, value in zip(rvs, draws, strict=True)}
