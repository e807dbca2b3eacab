"""What differs between variants of one model becomes data of that model.

A builder that serves several scenarios at once (leave a study out, read a number another way,
fix a nuisance, change a prior) asks the board for every value that may differ between them.
The board returns a plain constant when every variant agrees, so a one-variant model is the
ordinary model node for node, and a named ``pm.Data`` otherwise, recording each variant's
value. One compiled model then serves every variant through ``with_data``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pytensor.tensor.math import variadic_add

from models.distributions import FAMILIES, make_rv

# Families that may share one free variable, by support: a prior that changes family between
# variants (half-normal to half-Cauchy) keeps its variable and swaps its log-density.
SUPPORT = {
    "normal": "real",
    "studentt": "real",
    "cauchy": "real",
    "halfnormal": "positive",
    "halfcauchy": "positive",
    "halfstudentt": "positive",
    "exponential": "positive",
    "lognormal": "positive",
    "gamma": "positive",
}


class VariantsDiffer(ValueError):
    """The variants differ in something one model cannot hold as data (they compile apart)."""


class WeightedModel(pm.Model):
    """A PyMC model in which observed variables may carry a 0/1 weight on their log density.

    :meth:`Board.weight` registers a term's weight here; :meth:`logp` multiplies that term's
    factor by it, so everything that asks the model for its log density (nutpie's compile,
    ``compile_logp``, ``logp_dlogp_function``, ``point_logps``) sees the variant's own model.
    The weight sits on the term itself: the earlier ``pm.Potential(-logp)`` left the observed
    term in place and cancelled it, which made the gradient backpropagate through every
    weighted term twice (345 graph nodes against 284, 14.6 against 10.9 us per log density
    and gradient on the suite's model, AMD EPYC, 2026-12-03).

    Whatever rebuilds the model drops the weights, since it makes a plain ``pm.Model``: PyMC's
    transforms (``clone_model``, ``freeze_model``, ``freeze_dims_and_data``, ``do``,
    ``observe``, ``remove_value_transforms``) and so ``pm.compute_log_likelihood``, which
    works on ``remove_value_transforms(model)``. Use those on a one-variant model only (it
    has no weights), or take the log likelihood from ``model.logp(vars=..., sum=False)``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.term_weights: dict[Any, Any] = {}

    def logp(self, vars=None, jacobian: bool = True, sum: bool = True):
        """PyMC's ``Model.logp``, with each weighted term's factor switched off at weight 0."""
        if vars is None:
            varlist = [*self.free_RVs, *self.observed_RVs, *self.potentials]
        else:
            varlist = list(vars) if isinstance(vars, list | tuple) else [vars]
        factors = super().logp(varlist, jacobian=jacobian, sum=False)
        factors = [self._weighted(var, f) for var, f in zip(varlist, factors, strict=True)]
        if not sum:
            return factors
        # As PyMC's own ``Model.logp`` sums and names it.
        total = variadic_add(
            *[pt.as_tensor(f, allow_xtensor_conversion=True).sum() for f in factors]
        )
        total.name = ("__logp" if jacobian else "__logp_nojac") + (
            f"_{self.name}" if self.name else ""
        )
        return total

    def _weighted(self, var, factor):
        weight = self.term_weights.get(self.values_to_rvs.get(var, var))
        if weight is None:
            return factor
        # A switch, not weight * factor: at weight 0 a -inf factor would give nan.
        return pt.switch(weight > 0.5, factor, 0.0)


class Board:
    """Per-variant values of one model under construction.

    Parameters
    ----------
    n_variants : int
        How many variants the model serves; variant 0's values are the model's own.
    """

    def __init__(self, n_variants: int) -> None:
        self.n_variants = n_variants
        self.values: dict[str, list[np.ndarray]] = {}
        self._packed = None

    def value(self, name: str, per_variant: Sequence[Any], force_data: bool = False):
        """A constant if every variant agrees (and not ``force_data``), else data.

        Every value that is data is a slice of one vector, ``variant_data``: nutpie compiled
        the suite's model in 28 s with one shared vector, 32 s with 39 shared variables.
        """
        arrays = [np.asarray(x, dtype=np.float64) for x in per_variant]
        if len(arrays) != self.n_variants:
            raise ValueError(f"{name}: {len(arrays)} values for {self.n_variants} variants")
        same = all(np.array_equal(arrays[0], a) for a in arrays[1:])
        if same and not force_data:
            return pt.as_tensor(arrays[0])
        if self._packed is None:
            self._packed = pm.Data("variant_data", np.zeros(0))
        offset = sum(a[0].size for a in self.values.values())
        self.values[name] = arrays
        self._packed.set_value(self.variant_data(0)["variant_data"])
        size, shape = arrays[0].size, arrays[0].shape
        if not shape:
            return self._packed[offset]
        return self._packed[offset : offset + size].reshape(shape)

    def choose(self, name: str, flags: Sequence[bool], if_true: Callable, if_false: Callable):
        """``if_true()`` where a variant's flag is set, else ``if_false()``.

        When every variant agrees only the chosen branch is built (so it adds no variables).
        """
        if all(flags) or not any(flags):
            return if_true() if flags[0] else if_false()
        return pt.switch(self.value(name, flags) > 0.5, if_true(), if_false())

    def rv(self, name: str, specs: Sequence[Mapping], dims=None, force_data: bool = False):
        """The random variable ``name`` whose prior spec may differ between variants.

        Parameters of one family become data; a spec ``fixed`` in some variants and free in
        others keeps a free variable (``<name>__free``, prior-only where fixed) and switches;
        families with a common support share a flat variable and switch log-densities.
        """
        if len(specs) != self.n_variants:
            raise ValueError(f"{name}: {len(specs)} specs for {self.n_variants} variants")
        if all(dict(s) == dict(specs[0]) for s in specs) and not force_data:
            return make_rv(name, specs[0], dims=dims)
        fixed = [s["dist"] == "fixed" for s in specs]
        if all(fixed):
            value = self.value(f"{name}__value", [s["value"] for s in specs], force_data=True)
            return pm.Deterministic(name, _broadcast(value, dims), dims=dims)
        free_specs = [s for s in specs if s["dist"] != "fixed"]
        # Where a variant fixes the value its free variable is prior-only: any free spec does.
        filled = [s if s["dist"] != "fixed" else free_specs[0] for s in specs]
        free_name = f"{name}__free" if any(fixed) else name
        free = self._free(free_name, filled, dims)
        if not any(fixed):
            return free
        value = self.value(f"{name}__value", [s.get("value", 0.0) for s in specs], force_data=True)
        chosen = pt.switch(self.value(f"{name}__is_fixed", fixed) > 0.5, value, free)
        return pm.Deterministic(name, _broadcast(chosen, dims), dims=dims)

    def _free(self, name: str, specs: Sequence[Mapping], dims):
        families = sorted({s["dist"] for s in specs})
        if len(families) == 1:
            family = FAMILIES[families[0]]
            kwargs = {
                k: self.value(f"{name}__{k}", [_param(s, k) for s in specs], force_data=True)
                for k in family.parameters
            }
            return family.pymc(name, **kwargs, dims=dims)
        supports = {SUPPORT.get(f) for f in families}
        if len(supports) != 1 or None in supports:
            raise VariantsDiffer(f"{name}: prior families {families} have different supports")
        base = pm.Flat if supports == {"real"} else pm.HalfFlat
        x = base(name, dims=dims)
        terms = []
        for f in families:
            on = self.value(f"{name}__is_{f}", [s["dist"] == f for s in specs])
            family = FAMILIES[f]
            # A variant of another family gets a harmless placeholder (its term is off).
            placeholder = {k: family.defaults.get(k, 1.0) for k in family.parameters}
            kwargs = {
                k: self.value(
                    f"{name}__{f}__{k}",
                    [_param(s, k) if s["dist"] == f else placeholder[k] for s in specs],
                    force_data=True,
                )
                for k in family.parameters
            }
            terms.append(on * pt.sum(pm.logp(family.pymc.dist(**kwargs), x)))
        pm.Potential(f"{name}__prior", pt.add(*terms))
        return x

    def weight(self, name: str, flags: Sequence[bool], observed: Sequence[Any]) -> None:
        """Weight the likelihood of ``observed`` by each variant's 0/1 flag.

        The observed variables stay (one graph for every variant); a variant that leaves the
        term out gives it a log density of exactly zero (:class:`WeightedModel`).
        """
        if all(flags):
            return
        if not any(flags):
            raise ValueError(f"{name}: no variant uses this term")
        model = pm.modelcontext(None)
        if not isinstance(model, WeightedModel):
            raise TypeError(f"{name}: a weighted term needs a WeightedModel, not {type(model)}")
        w = self.value(f"{name}__weight", flags)
        for rv in observed:
            model.term_weights[rv] = w

    def name_dim(self, model: pm.Model) -> None:
        """Give the packed vector its named dim, ``variant_value`` (one entry per value)."""
        if self._packed is None:
            return
        size = int(self._packed.get_value().size)
        model.add_coord("variant_value", np.arange(size))
        model.named_vars_to_dims[self._packed.name] = ("variant_value",)

    def variant_data(self, v: int) -> dict[str, np.ndarray]:
        """The data of variant ``v``, ready for ``with_data`` (or ``pm.set_data``)."""
        if not self.values:
            return {}
        return {"variant_data": np.concatenate([a[v].ravel() for a in self.values.values()])}


def _param(spec: Mapping, key: str) -> float:
    family = FAMILIES[spec["dist"]]
    return float(spec.get(key, family.defaults.get(key, np.nan)))


def _broadcast(value, dims):
    if dims is None:
        return value
    model = pm.modelcontext(None)
    shape = [len(model.coords[d]) for d in ((dims,) if isinstance(dims, str) else dims)]
    return pt.full(shape, value) if value.ndim == 0 else value
