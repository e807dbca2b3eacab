"""With a scenario's data, the suite's model has that scenario's own log density.

The suite compiles one model per timing-moderator form, whose data say which studies and
readings are in, which prior parameters apply and which nuisances are fixed
(``models.blockade.build_variants_model``, ``analyses.suite.worker.model_groups``).
For each scenario this builds the scenario's own model and compares the two log densities at
a random point: exactly, up to the prior-only terms of parameters the scenario does not have
(the union's copy of a parameter that the scenario fixes).

`make validate` checks every scenario the suite may refit (31 own models to build, about 11 s;
the prior-only ones among them are reweighted when their Pareto k allows); `make test` checks
one scenario of each kind of change with the same code (tests/test_variants.py). The record
is not tied to the code that made it: a change to the models that breaks a scenario outside
the ten shows in the next `make validate`, not in `make test`.

Every element of the union's point is moved off its initial value, the scenario's own values
where it has them and independent noise elsewhere: a term that should be switched off but
leaks then changes the union's log density. The graphs are evaluated unrewritten, in Python:
this checks the model's structure, not the compiled kernels the sampler runs.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from analyses.inference.log_density import UNREWRITTEN
from analyses.suite.worker import model_groups
from models.blockade import build_blockade_model, build_variants_model

# Two evaluations of one log density in float64, one with data where the other has constants
# and terms in another order: the worst observed difference is 7.6e-09 (31 scenarios,
# 2026-12-03; not traced to one term). 1e-6 leaves two orders of margin, and a term left on
# or off wrongly moves the log density by far more (a study's likelihood is of order 1-100).
LOGP_ATOL = 1e-6
# Each element of a point is the union's initial value plus this times a standard normal.
JITTER = 0.3


def union_log_density(names: Sequence[str] | None = None) -> dict:
    """Compare the suite model's log density with each scenario's own model's.

    Parameters
    ----------
    names : sequence of str, optional
        The scenarios to check; all the shipped suite refits by default.

    Returns
    -------
    dict
        ``cases`` (scenario, own and union log density, absolute difference), ``scenarios``,
        ``max_abs_diff``, ``threshold`` (:data:`LOGP_ATOL`) and ``passed``.
    """
    scenarios, variants = _suite()
    known = [s.name for s in scenarios]
    unknown = sorted(set(names or ()) - set(known))
    if unknown:
        raise ValueError(f"not scenarios of the suite: {unknown}")
    chosen = range(len(scenarios)) if names is None else [known.index(n) for n in names]
    found = {}
    # Each scenario in the union of its group, as the suite compiles it, however many are checked.
    for members in model_groups(scenarios):
        todo = [k for k, i in enumerate(members) if i in chosen]
        if not todo:
            continue
        union, data = build_variants_model([variants[i] for i in members])
        terms, start = _union_terms(union), union.initial_point()
        for k in todo:
            sc, v = scenarios[members[k]], variants[members[k]]
            want, got = _compare(union, terms, start, v, data[k], sc.name)
            diff = abs(got - want) if np.isfinite([got, want]).all() else float("inf")
            found[members[k]] = {"scenario": sc.name, "own": want, "union": got, "abs_diff": diff}
    cases = [found[i] for i in chosen]
    worst = max(c["abs_diff"] for c in cases)
    return {
        "scenarios": len(cases),
        "cases": cases,
        "max_abs_diff": worst,
        "threshold": LOGP_ATOL,
        "passed": bool(worst < LOGP_ATOL),
    }


def _suite():
    """The suite's refitted scenarios on the shipped data, and their variants."""
    from analyses.inference.config import load_config
    from analyses.suite.scenarios import build_scenarios, refitted
    from analyses.suite.worker import variant_for
    from models.evidence import load_evidence
    from models.priors import load_priors

    config, _ = load_config()
    base = load_evidence()
    priors = load_priors(config.analysis.priors, base.literature)
    scenarios = refitted(build_scenarios(base, config, priors))
    return scenarios, [variant_for(base, s) for s in scenarios]


def _union_terms(union: pm.Model):
    """One function of every term: each free variable's elementwise log prior, and the rest.

    One ``logp`` call for every term: one call per variable rebuilt the graph 30 times.
    """
    free = [union.values_to_rvs[v] for v in union.value_vars]
    factors = union.logp(vars=[*free, *union.observed_RVs, *union.potentials], sum=False)
    per_var, others = factors[: len(free)], factors[len(free) :]
    rest = pt.add(*[pt.sum(f) for f in others])
    return union.compile_fn(
        [*per_var, rest], inputs=union.value_vars, mode=UNREWRITTEN, point_fn=False
    )


def _compare(union, terms, start: dict, variant, data: dict, name: str):
    """The scenario's own log density at a random point, and the union's there."""
    own = build_blockade_model(variant.evidence, variant.priors, variant.options)
    # Each scenario its own noise, the same on every run.
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    point = {k: _jittered(v, rng) for k, v in _own_start(union, start, own).items()}
    want = float(own.compile_fn(own.logp(), mode=UNREWRITTEN)(point))
    moved = {k: _jittered(v, rng) for k, v in start.items()}
    upoint, shared = _union_point(union, moved, own, point)
    with union:
        pm.set_data(data)
    values = terms(*[upoint[v.name] for v in union.value_vars])
    got = float(values[-1]) + sum(
        float(np.sum(np.asarray(lp)[shared[v.name]]))
        for v, lp in zip(union.value_vars, values[:-1], strict=True)
        if v.name in shared
    )
    return want, got


def _jittered(value, rng) -> np.ndarray:
    return np.asarray(value, dtype=float) + JITTER * rng.standard_normal(np.shape(value))


def _twin(union: pm.Model, rv_name: str):
    """The union's variable for a scenario's free variable (``__free`` where some fix it)."""
    rv = union[rv_name]
    return rv if rv in union.free_RVs else union[f"{rv_name}__free"]


def _labels(model: pm.Model, rv_name: str) -> list | None:
    dims = model.named_vars_to_dims.get(rv_name)
    return list(model.coords[dims[0]]) if dims else None


def _elements(union: pm.Model, own: pm.Model, value):
    """The union's value variable for one of ``own``'s, and which of its elements are own's."""
    rv = own.values_to_rvs[value]
    twin = _twin(union, rv.name)
    mine, theirs = _labels(own, rv.name), _labels(union, twin.name)
    idx = ... if mine is None else np.array([theirs.index(x) for x in mine])
    return union.rvs_to_values[twin].name, idx


def _own_start(union: pm.Model, start: dict, own: pm.Model) -> dict:
    """The scenario's point holding the union's initial values (no compile of its own)."""
    out = {}
    for value in own.value_vars:
        name, idx = _elements(union, own, value)
        out[value.name] = np.array(np.asarray(start[name], dtype=float)[idx])
    return out


def _union_point(union: pm.Model, base: dict, own: pm.Model, point: dict) -> tuple[dict, dict]:
    """``base`` with the scenario's values in their places, and which elements are shared."""
    upoint, shared = dict(base), {}
    for value in own.value_vars:
        name, idx = _elements(union, own, value)
        upoint[name] = np.array(upoint[name], dtype=float)
        upoint[name][idx] = point[value.name]
        shared[name] = idx
    return upoint, shared
