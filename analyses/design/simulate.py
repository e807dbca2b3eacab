"""Preposterior simulation of a candidate study: its data from today's posterior, then a refit.

For each simulation, the population quantities the new study shares with the evidence (beta
for its regimen, the between-study SD, ketamine's effect, the nuisances) are one draw of
today's posterior; its own quantities (its beta around the regimen's, its response rate, its
non-specific improvement) are drawn from the model given those, exactly as the model says a
new study arises. A transport prior shifts its regimen's beta by a normal with the design's
``transport_sd``. Its observations come from the model's own likelihood. The study is then
appended to the evidence and the model refitted behind the convergence gate.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from analyses.design.spec import Candidate, DesignSpec
from analyses.validation.sbc import with_observations

if TYPE_CHECKING:
    import pymc as pm

    from analyses.commands.preflight import RunInputs

NEW_ID = "candidate"


def study_ids(spec: DesignSpec) -> list[str]:
    """The candidate studies' ids: ``candidate`` alone, ``candidate_1``, ... in a programme."""
    if not spec.programme:
        return [NEW_ID]
    return [f"{NEW_ID}_{i + 1}" for i in range(len(spec.studies))]


def new_beta_columns(spec: DesignSpec) -> list[str]:
    """design.csv's columns of each candidate's own true fraction, in the studies' order."""
    return (
        ["beta_new"]
        if not spec.programme
        else [f"beta_new_{i + 1}" for i in range(len(spec.studies))]
    )


def templates(spec: DesignSpec, n: int) -> list[dict]:
    """Every candidate study's file, its numbers placeholders (the simulation fills them)."""
    return [
        template_study(candidate, n, sid, _label(spec, i))
        for i, (candidate, sid) in enumerate(zip(spec.studies, study_ids(spec), strict=True))
    ]


def _label(spec: DesignSpec, i: int) -> str:
    if not spec.programme:
        return f"Candidate: {spec.name}"
    return f"Candidate {i + 1}: {spec.studies[i].label}"


def template_study(candidate: Candidate, n: int, study_id: str = NEW_ID, label: str = "") -> dict:
    """One candidate study's file, its numbers placeholders (the simulation fills them)."""
    from models.simulate import Truth, simulate_study

    kind = "paired_binary" if candidate.type == "crossover" else "arm_counts"
    study, _, _ = simulate_study(kind, study_id, candidate.regimen, Truth(), n, seed=0)
    study["label"] = label or f"Candidate: {study_id}"
    study["design"] = {
        **study["design"],
        "population": candidate.population.label,
        "comparator": candidate.control,
    }
    hours = study["naltrexone"]["hours_before_first_infusion"]
    study["naltrexone"]["hours_before_first_infusion"] = {
        **hours,
        "lower": candidate.hours(),
        "upper": candidate.hours(),
    }
    item = study["evidence"][0]
    if kind == "arm_counts" and candidate.control == "none":
        item["arms"] = [a for a in item["arms"] if a["condition"] != "control"]
    return study


def _model_of(studies: list[dict], priors, options):
    from models.blockade import build_blockade_model
    from models.simulate import load_simulated

    return build_blockade_model(load_simulated(studies), priors, options)


def preposterior_draws(
    spec: DesignSpec, n: int, posterior: xr.Dataset, count: int, seed: int, priors, options
) -> list[dict]:
    """``count`` simulated observation sets of the candidate study with ``n`` per arm / pairs.

    Each also holds each candidate study's own true blockade fraction (``beta_new``, or
    ``beta_new_1``, ... in a programme: :func:`new_beta_columns`).
    """
    import pymc as pm

    from analyses.inference.fit import quiet_pymc
    from analyses.inference.predictive import FORWARD_COMPILE

    model = _model_of(templates(spec, n), priors, options)
    shared = [
        rv.name
        for rv in model.free_RVs
        if rv.name in posterior and not model.named_vars_to_dims.get(rv.name)
    ]
    rng = np.random.default_rng(seed)
    flat = {name: posterior[name].values.reshape(-1) for name in shared}
    picks = rng.integers(0, len(next(iter(flat.values()))), count)
    values = {name: v[picks] for name, v in flat.items()}
    # The transport shift moves a regimen's fraction as the new population sees it: one
    # shift a regimen, shared by its studies (the spec gives them one population).
    for regimen in spec.regimens():
        sd = next(s.population.transport_sd for s in spec.studies if s.regimen == regimen)
        values[f"beta_{regimen}"] = values[f"beta_{regimen}"] + sd * rng.standard_normal(count)
    trace = xr.Dataset({k: (("chain", "draw"), v[None, :]) for k, v in values.items()})
    observed = [rv.name for rv in model.observed_RVs]
    with model, quiet_pymc():
        pp = pm.sample_posterior_predictive(
            xr.DataTree.from_dict({"posterior": trace}),
            var_names=[*observed, "beta_study"],
            freeze_vars=shared,
            random_seed=rng,
            progressbar=False,
            compile_kwargs=FORWARD_COMPILE,
        )["posterior_predictive"]
    own = pp["beta_study"].sel(study=study_ids(spec)).values.reshape(count, -1)
    out = []
    for i in range(count):
        draw = {
            name: np.asarray(pp[name].values.reshape(count, -1)[i]).tolist() for name in observed
        }
        draw = {k: v[0] if len(v) == 1 else v for k, v in draw.items()}
        draw |= {col: float(b) for col, b in zip(new_beta_columns(spec), own[i], strict=True)}
        # The pooled fractions this simulation's world has (after any transport shift): the
        # truth the study is simulated under, for assurance given each hypothesis.
        draw |= {f"true_beta_{r}": float(values[f"beta_{r}"][i]) for r in ("acute", "sustained")}
        draw["draw_index"] = int(picks[i])
        out.append(draw)
    return out


def candidate_inputs(
    spec_dict: dict, n: int, draw: dict, studies_dir: str, config_path: str | None
) -> tuple[RunInputs, pm.Model]:
    """Today's evidence with the simulated candidate study appended, and its model.

    Observations are data: every simulation of one sample size has one model structure, so a
    worker compiles it once and swaps each simulation's data in.
    """
    from analyses.commands.preflight import load_inputs
    from models.blockade import build_blockade_model
    from models.simulate import write_study

    spec = DesignSpec.model_validate(spec_dict)
    studies = with_observations(templates(spec, n), draw)
    with tempfile.TemporaryDirectory() as folder:
        for path in Path(studies_dir).rglob("*"):
            if path.is_file():
                target = Path(folder) / path.relative_to(studies_dir)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
        for study in studies:
            write_study(study, Path(folder))
        inputs = load_inputs(Path(config_path) if config_path else None, Path(folder))
    options = replace(inputs.options, observations_as_data=True)
    return inputs, build_blockade_model(inputs.evidence, inputs.priors, options)


def inputs_key(spec_dict: dict, n: int, studies_dir: str, inputs: RunInputs) -> str:
    """A hash of what a candidate's model is built from, but for the simulated observations.

    Those are data of the model (:func:`candidate_inputs`), so every simulation with this key
    has one model structure, and a worker finds its compiled model by this key instead of
    printing and hashing each model's graph
    (:func:`analyses.inference.compiled.compile_reusing`). ``inputs`` are the simulation's:
    their priors and configuration as loaded, the other studies as the folder's files.
    """
    settings = [spec_dict, n, inputs.priors.to_dict(), inputs.config.model_dump()]
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for path in sorted(Path(studies_dir).rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(studies_dir)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def fit_with_candidate(
    spec_dict: dict, n: int, draw: dict, seed: int, studies_dir: str, config_path: str | None
) -> dict:
    """One simulation (a Dask task): append the simulated study, refit, summarise the answer."""
    from analyses.inference.bayes_factors import bayes_factor_table
    from analyses.inference.hypotheses import hypothesis_table
    from analyses.inference.sampling import fit_with_gate

    inputs, model = candidate_inputs(spec_dict, n, draw, studies_dir, config_path)
    settings = inputs.config.sampler.model_copy(update={"seed": seed})
    key = inputs_key(spec_dict, n, studies_dir, inputs)
    fit = fit_with_gate(model, settings, reuse=True, inputs_key=key, posterior_only=True)
    post, t = fit.idata["posterior"], inputs.config.hypotheses.thresholds
    args = (
        post["beta_acute"],
        post["beta_sustained"],
        inputs.priors["beta_acute"],
        inputs.priors["beta_sustained"],
        t,
    )
    probs = hypothesis_table(*args).set_index("hypothesis")["posterior_prob"]
    bfs = bayes_factor_table(*args).set_index("question")
    headline, sustained = bfs.iloc[0], bfs.loc["sustained: beta_sustained >= P vs < P"]
    return {
        "n": n,
        **{k: v for k, v in draw.items() if k.startswith(("beta_new", "true_beta_"))},
        "truth": true_hypothesis(draw, t),
        "draw_index": draw["draw_index"],
        "seed": seed,
        "bf_permissive_vs_primary": float(headline["bf"]),
        "bf_bound": headline["bound"],
        "bf_sustained": float(sustained["bf"]),
        "bf_sustained_bound": sustained["bound"],
        **{f"p_{h}": float(p) for h, p in probs.items()},
        # What 'primary' needs of each fraction, as the refit sees it.
        "p_acute_at_least_P": float((post["beta_acute"] >= t.primary).mean()),
        "p_sustained_at_least_P": float((post["beta_sustained"] >= t.primary).mean()),
        **threshold_bfs(*args[:4]),
        "certified": fit.certified,
        "attempts": len(fit.attempts),
    }


def true_hypothesis(draw: dict, t) -> str:
    """The hypothesis whose region holds the simulation's true pooled fractions ('' for a
    draw from before they were recorded)."""
    from analyses.inference.hypotheses import region_indicators

    if "true_beta_acute" not in draw:
        return ""
    a, s = np.array([draw["true_beta_acute"]]), np.array([draw["true_beta_sustained"]])
    return next(h for h, inside in region_indicators(a, s, t).items() if inside[0])


def threshold_column(p: float, q: float) -> str:
    """design.csv's column of the headline BF at thresholds P = p, Q = q."""
    return f"bf_at_P{p:g}_Q{q:g}"


def threshold_bfs(a, s, spec_acute: dict, spec_sustained: dict) -> dict:
    """The headline BF and its bound at each threshold pair of section 6's grid: the regions
    change, the refit's draws do not."""
    from analyses.inference.bayes_factors import headline_bf
    from analyses.inference.hypotheses import Thresholds
    from analyses.suite.scenarios import THRESHOLD_GRID

    out = {}
    for p, q in THRESHOLD_GRID:
        row = headline_bf(a, s, spec_acute, spec_sustained, Thresholds(p, q))
        column = threshold_column(p, q)
        out[column], out[f"{column}_bound"] = float(row["bf"]), row["bound"]
    return out
