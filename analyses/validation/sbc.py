"""Simulation-based calibration of the blockade model, on designs that mirror the evidence.

Each simulation draws every parameter from the neutral prior and the studies' observations
from the model's own likelihood (PyMC's prior predictive of one model built on the design),
writes them as study files, refits behind the convergence gate, and records:

- the rank of each true value among thinned posterior draws (uniform if model and computation
  are right; Talts et al. 2018);
- the stated P(hypothesis) and which hypothesis the true (beta_acute, beta_sustained) is in
  (calibration of the hypothesis probabilities).

The design (:data:`DESIGN`):

- a 12-pair binary crossover under acute blockade, where 0/12 is possible (as Williams 2018);
- a 5-patient single arm under sustained blockade, against the external prior (Yoon 2019);
- a three-arm parallel trial under sustained blockade whose counts are reported only as bands
  (Yoon 2025's ceiling-bounded counts);
- a crossover reporting an attenuation under acute blockade, whose information goes into the
  specific share kappa (Jelen 2025).

Why not ``simuk``: it refits through ``pm.observe``, which swaps the observed values only. Here
a study's likelihood also holds design constants derived from what was reported (a bounded
count's band, an attenuation's standard error), so each simulated data set is written as study
files and its model rebuilt, as a user's data would be. simuk also runs its fits in one process.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.forms.base import SEP, simulated

# The quantities whose calibration is reported: the estimands, the heterogeneity, and the
# nuisances each design element informs (kappa: the attenuation; delta: every contrast;
# gamma: the placebo arms).
PARAMETERS = {
    "beta_acute": "beta_acute",
    "beta_sustained": "beta_sustained",
    "tau_beta": "tau_beta",
    "kappa": "specific_share",
    "delta": "ketamine_effect",
    "gamma": "nonspecific_share",
}
# Thinned posterior draws a rank is taken among: 4000 draws with ESS >= 400 (the gate), every
# 40th leaves 100 nearly independent draws, so ranks run 0..100.
RANK_DRAWS = 100
# Counts of the three-arm trial are reported in bands of a fifth of the arm (">80%" style).
BANDS = 5
# The attenuation's standard error, fixed by the design: about Jelen 2025's (an attenuation of
# about 0.28 with F(1, 74) = 5.39, i.e. t = 2.32, gives 0.28 / 2.32 = 0.12).
ATTENUATION_SE = 0.12


@dataclass(frozen=True)
class Element:
    """One study of the design: its form, regimen and size."""

    study_id: str
    kind: str
    regimen: str
    n: int


DESIGN = (
    Element("crossover12", "paired_binary", "acute", 12),
    Element("singlearm5", "single_arm_binary", "sustained", 5),
    Element("banded3arm", "arm_counts", "sustained", 10),
    Element("attenuation", "contrast_statistic", "acute", 26),
)


def template_studies() -> list[dict]:
    """The design's study files, numbers as placeholders (the simulation replaces them)."""
    from models.simulate import Truth, simulate_study

    studies = []
    for i, element in enumerate(DESIGN):
        study, _, _ = simulate_study(
            element.kind, element.study_id, element.regimen, Truth(), element.n, seed=i
        )
        item = study["evidence"][0]
        if element.kind == "contrast_statistic":
            item["attenuation"] = simulated(0.3)
            item["value"] = simulated(0.3 / ATTENUATION_SE)
        studies.append(study)
    return studies


def _banded(count: int, n: int) -> dict:
    """A count reported as the band of a fifth of ``n`` it falls in (integer arithmetic)."""
    band = min(count * BANDS // n, BANDS)
    lower = -(-band * n // BANDS)  # ceil(band * n / BANDS)
    upper = n if band == BANDS else min(n, -(-(band + 1) * n // BANDS) - 1)
    if lower == upper:
        return simulated(int(lower))
    return {**simulated(None), "lower": int(lower), "upper": int(upper)}


def with_observations(studies: list[dict], draw: dict, banded: bool = False) -> list[dict]:
    """The template studies holding one simulated draw of every observation.

    ``banded``: arm counts are reported as the band they fall in (as ceiling-bounded counts
    are), not exactly.
    """
    out = []
    for study in studies:
        study = {**study, "evidence": [dict(i) for i in study["evidence"]]}
        for item in study["evidence"]:
            _observe(item, f"{study['id']}{SEP}{item['id']}", draw, banded)
        out.append(study)
    return out


def _observe(item: dict, name: str, draw: dict, banded: bool) -> None:
    """Write the draw's observations of one evidence item into it."""
    if item["kind"] == "paired_binary":
        placebo, naltrexone = (int(x) for x in draw[name])
        item["responders_placebo"] = simulated(placebo)
        item["responders_naltrexone"] = simulated(naltrexone)
    elif item["kind"] == "single_arm_binary":
        item["events"] = simulated(int(draw[name]))
    elif item["kind"] == "arm_counts" and not banded:
        item["arms"] = [
            {**arm, "events": simulated(int(draw[f"{name}{SEP}{arm['condition']}"]))}
            for arm in item["arms"]
        ]
    elif item["kind"] == "arm_counts":
        item["arms"] = [
            {
                **arm,
                "events": _banded(int(draw[f"{name}{SEP}{arm['condition']}"]), arm["n"]["value"]),
            }
            for arm in item["arms"]
        ]
    else:  # an attenuation with the design's standard error: t = attenuation / SE
        att = round(float(draw[name]), 6)
        item["attenuation"] = simulated(att)
        item["value"] = simulated(att / ATTENUATION_SE)


def prior_draws(n_sims: int, seed: int, studies: list[dict] | None = None) -> list[dict]:
    """``n_sims`` joint draws of the parameters and observations from the design's model.

    ``studies``: template study files of another design (default :func:`template_studies`).
    """
    import pymc as pm

    from analyses.inference.fit import quiet_pymc
    from analyses.inference.predictive import FORWARD_COMPILE
    from models.blockade import build_blockade_model

    evidence, priors = _evidence(template_studies() if studies is None else studies)
    model = build_blockade_model(evidence, priors)
    with model, quiet_pymc():
        idata = pm.sample_prior_predictive(
            draws=n_sims, random_seed=seed, compile_kwargs=FORWARD_COMPILE
        )
    prior, predictive = idata["prior"], idata["prior_predictive"]
    draws = []
    for i in range(n_sims):
        values = {v: _at(prior[v], i) for v in PARAMETERS.values()}
        values |= {v: _at(predictive[v], i) for v in predictive.data_vars}
        draws.append(values)
    return draws


def _at(array, i: int):
    """Draw ``i`` of a prior group variable; a parameter with one element (kappa has a study dim
    and one study informs it here) as a number."""
    value = np.asarray(array.values.reshape(-1, *array.shape[2:])[i])
    return float(value.ravel()[0]) if value.size == 1 else value.tolist()


def _draws_of(post, var: str) -> np.ndarray:
    """The chain-by-draw values of a one-element parameter, flattened."""
    values = post[var].values
    return values.reshape(values.shape[0] * values.shape[1], -1)[:, 0]


def _evidence(studies: list[dict]):
    from models.priors import load_priors
    from models.simulate import load_simulated

    evidence = load_simulated(studies)
    return evidence, load_priors("neutral", evidence.literature)


def simulation_model(draw: dict):
    """The model of one simulation: the design holding the draw's observations, as data.

    Every simulation's model has one structure, so a worker compiles it once and refits each
    simulation by swapping its observations in (:mod:`analyses.inference.compiled`).
    """
    from models.blockade import ModelOptions, build_blockade_model

    evidence, priors = _evidence(with_observations(template_studies(), draw, banded=True))
    return build_blockade_model(evidence, priors, ModelOptions(observations_as_data=True))


def fit_one(index: int, draw: dict, seed: int) -> dict:
    """One simulation: refit the drawn data behind the gate; ranks and hypothesis record.

    A Dask task: self-contained, and its result depends only on its arguments.
    """
    from analyses.inference.hypotheses import Thresholds, hypothesis_table, region_indicators
    from analyses.inference.sampling import SamplerSettings, fit_with_gate

    settings = SamplerSettings(seed=seed)
    fit = fit_with_gate(simulation_model(draw), settings, reuse=True, posterior_only=True)
    priors = _evidence(template_studies())[1]
    post = fit.idata["posterior"]
    thin = max(1, post.sizes["chain"] * post.sizes["draw"] // RANK_DRAWS)
    ranks = {}
    for label, var in PARAMETERS.items():
        values = _draws_of(post, var)[::thin][:RANK_DRAWS]
        ranks[label] = int((values < draw[var]).sum())
    thresholds = Thresholds()
    table = hypothesis_table(
        post["beta_acute"],
        post["beta_sustained"],
        priors["beta_acute"],
        priors["beta_sustained"],
        thresholds,
    ).set_index("hypothesis")
    truth = region_indicators(
        np.array([draw["beta_acute"]]), np.array([draw["beta_sustained"]]), thresholds
    )
    return {
        "simulation": index,
        "certified": fit.certified,
        "attempts": len(fit.attempts),
        "ranks": ranks,
        "truth": {k: float(v) for k, v in draw.items() if k in PARAMETERS.values()},
        "true_hypothesis": next(h for h, ind in truth.items() if ind[0]),
        "posterior_prob": table["posterior_prob"].astype(float).to_dict(),
        "prior_prob": table["prior_prob"].astype(float).to_dict(),
    }
