"""The primary model: the blockade fraction by naltrexone regimen, pooled over studies.

For study ``s``, ketamine's *specific* effect is ``ketamine_effect_study[s]`` (delta_s, on the
latent standardized scale) and naltrexone removes the share ``beta_study[s]`` of it:

    beta_s  = beta_regimen(s) [+ covariates . coef] + tau_beta * z_s
    delta_s = ketamine_effect + tau_ketamine * w_s

so that, on the latent scale, the three conditions a study may have are

    ketamine + placebo     : m_s + delta_s
    ketamine + naltrexone  : m_s + delta_s - k_s * beta_s * delta_s
    no ketamine (control)  : m_s

where ``m_s`` is the non-specific improvement (for binary outcomes it is folded into the
ketamine-alone response probit, ``eta_s = m_s + delta_s``) and ``k_s`` is the exaggeration of
an early-stopped trial's contrast (1 unless the study stopped early and the bias term is on).
A reported attenuation of the whole improvement estimates ``k_s * beta_s * kappa_s``, where
``kappa_s`` is the share of the improvement under ketamine + placebo that is specific.

With ``moderator = "log_hours"``, ``beta_regimen(s)`` becomes a line in log hours of
blockade before the infusion through ``beta_acute`` at ``acute_reference_hours`` and
``beta_sustained`` at ``sustained_reference_hours`` (monotone by construction); each study's
hours are uniform over its reported range.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pydantic import BaseModel

from models.distributions import make_rv
from models.evidence.load import Evidence
from models.evidence.schema import Disputed, Quantity, StudyFile
from models.evidence.validate import usable
from models.likelihoods import (
    RHO_MAX,
    binomial_random,
    bounded_binomial_logp,
    contrast_t_sd,
    normal_cdf,
    paired_binary_logp,
    paired_binary_random,
)
from models.priors import PriorSpec

REGIMENS = ("acute", "sustained")
BINARY_KINDS = ("paired_binary", "arm_counts", "single_arm_binary")
SEP = "__"  # observed variable names are <study>__<item>[__<condition>]


@dataclass(frozen=True)
class ModelOptions:
    """Structural options of the blockade model; serialisable, stored with every result.

    Attributes
    ----------
    moderator : {"regimen", "log_hours"}
        Two-level timing factor, or a line in log hours of blockade before the infusion.
    covariates : tuple of str
        Study covariates (from the study files' ``[covariates]``) added to beta's regression.
    early_stopping_bias : bool
        Inflate the contrast of studies that stopped early by the literature factor.
    include_single_arm : bool
        Use single-arm studies (which lean on the external ketamine-alone prior).
    acute_reference_hours, sustained_reference_hours : float
        Where ``beta_acute`` and ``beta_sustained`` sit on the log-hours line: 45 min (the
        acute studies' interval) and 4 days (the middle of Yoon 2019's 2-6 days).
    unknown_hours : tuple of float
        The range assumed for a study whose interval is not reported (log-hours moderator
        only): from 2 h to 4 weeks, the whole span a depot injection could precede a course
        of weekly infusions by. An assumption of the analysis, not a datum.
    """

    moderator: Literal["regimen", "log_hours"] = "regimen"
    covariates: tuple[str, ...] = ()
    early_stopping_bias: bool = True
    include_single_arm: bool = True
    acute_reference_hours: float = 0.75
    sustained_reference_hours: float = 96.0
    unknown_hours: tuple[float, float] = (2.0, 672.0)

    def to_dict(self) -> dict:
        """A plain, JSON-ready copy (tuples as lists), as stored with every result."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def _num(q: Quantity | None) -> float | None:
    return None if q is None else q.value


def _assert_resolved(node) -> None:
    if isinstance(node, Disputed):
        raise ValueError("evidence has unresolved disputes: call evidence.resolve() first")
    if isinstance(node, BaseModel) and not isinstance(node, Quantity):
        for name in type(node).model_fields:
            _assert_resolved(getattr(node, name))
    elif isinstance(node, list):
        for x in node:
            _assert_resolved(x)


def modelled_studies(evidence: Evidence, options: ModelOptions) -> list[StudyFile]:
    """The included studies the model uses, in evidence order."""
    out = []
    for s in evidence.included:
        if not options.include_single_arm and s.design.type == "single_arm":
            continue
        if any(usable(item) for item in s.evidence):
            out.append(s)
    return out


def _hours_range(study: StudyFile, options: ModelOptions) -> tuple[float, float]:
    q = study.naltrexone.hours_before_first_infusion
    if q.status == "not_reported":
        return options.unknown_hours
    lo = q.lower if q.lower is not None else q.value
    hi = q.upper if q.upper is not None else q.value
    return float(lo), float(hi)


def is_course_outcome(study: StudyFile, item) -> bool:
    """Whether a binary outcome is rated after a course of infusions, not 24 h after one.

    Rated after 48 h, or (time point not reported) in a study giving several infusions.
    """
    hours = item.timepoint_hours
    if hours.status != "not_reported" and hours.value is not None:
        return hours.value > 48.0
    infusions = study.ketamine.infusions
    return (infusions.value or infusions.upper or 1) > 1


def _check_correlation_prior(spec: dict) -> None:
    """The paired-binary quadrature is accurate for 0 <= rho <= RHO_MAX only."""
    if spec["dist"] == "fixed":
        ok = 0.0 <= spec["value"] <= RHO_MAX
    elif spec["dist"] == "uniform":
        ok = spec["lower"] >= 0.0 and spec["upper"] <= RHO_MAX
    else:
        ok = False
    if not ok:
        raise ValueError(
            f"within_subject_correlation prior {spec} must be fixed or uniform within "
            f"[0, {RHO_MAX}]: the bivariate-probit quadrature is not accurate beyond"
        )


def _t_from(item) -> float:
    """The contrast's signed t statistic (positive = naltrexone attenuated ketamine).

    An F(1, df) has no sign: it is read as t^2 in the direction the study reports, which for
    every F in data/ is attenuation. A t or z keeps its sign.
    """
    value = _num(item.value)
    return math.sqrt(value) if item.statistic == "F" else value


def build_blockade_model(
    evidence: Evidence, priors: PriorSpec, options: ModelOptions | None = None
) -> pm.Model:
    """Build the blockade-fraction model for the included studies.

    Parameters
    ----------
    evidence : Evidence
        The evidence base with every dispute resolved (``evidence.resolve(...)``).
    priors : PriorSpec
        A resolved prior set (:func:`models.priors.load_priors`).
    options : ModelOptions, optional
        Structural options; defaults to the two-level regimen factor with the bias term.

    Returns
    -------
    pm.Model
        Named dims: ``study``, ``regimen``, and, when used, ``covariate``, ``binary_study``,
        ``attenuation_study``, ``continuous_study``, ``ipd_study``.
    """
    options = options or ModelOptions()
    for s in evidence.studies:
        _assert_resolved(s)
    studies = modelled_studies(evidence, options)
    if not studies:
        raise ValueError("no included study has usable evidence")
    ids = [s.id for s in studies]
    items = [(s, item) for s in studies for item in s.evidence if usable(item)]
    binary = sorted({s.id for s, it in items if it.kind in BINARY_KINDS}, key=ids.index)
    course = {s.id for s, it in items if it.kind in BINARY_KINDS and is_course_outcome(s, it)}
    binary_ids = [sid for sid in binary if sid not in course]
    course_ids = [sid for sid in binary if sid in course]
    attenuation_ids = sorted(
        {s.id for s, it in items if it.kind == "contrast_statistic" and it.attenuation},
        key=ids.index,
    )
    continuous_ids = sorted(
        {s.id for s, it in items if it.kind in ("arm_means", "ipd")}, key=ids.index
    )
    ipd_ids = sorted({s.id for s, it in items if it.kind == "ipd"}, key=ids.index)
    for name in options.covariates:
        missing = [s.id for s in studies if name not in s.covariates]
        if missing:
            raise ValueError(f"covariate {name!r} is not given by studies {missing}")

    coords = {"study": ids, "regimen": list(REGIMENS)}
    if options.covariates:
        coords["covariate"] = list(options.covariates)
    for dim, values in (
        ("binary_study", binary_ids),
        ("course_study", course_ids),
        ("attenuation_study", attenuation_ids),
        ("continuous_study", continuous_ids),
        ("ipd_study", ipd_ids),
    ):
        if values:
            coords[dim] = values

    with pm.Model(coords=coords) as model:
        # Shared data (not constants), so prior-set scenarios re-use one compiled model.
        beta_acute = make_rv("beta_acute", priors["beta_acute"], as_data=True)
        # Shared data (not constants), so prior-set scenarios re-use one compiled model.
        beta_sustained = make_rv("beta_sustained", priors["beta_sustained"], as_data=True)
        pm.Deterministic("beta_regimen", pt.stack([beta_acute, beta_sustained]), dims="regimen")
        pm.Deterministic("delta_timing", beta_acute - beta_sustained)
        tau_beta = make_rv("tau_beta", priors["tau_beta"])

        if options.moderator == "regimen":
            regimen_idx = np.array([REGIMENS.index(s.naltrexone.regimen) for s in studies])
            beta_mean = pt.stack([beta_acute, beta_sustained])[regimen_idx]
        else:
            ranges = np.array([_hours_range(s, options) for s in studies])
            log_lo, log_hi = np.log(ranges[:, 0]), np.log(ranges[:, 1])
            # A uniform position within each study's reported range; a point range leaves
            # the position unidentified but harmless (it multiplies a zero width).
            position = pm.Uniform("hours_position", 0.0, 1.0, dims="study")
            log_hours = pm.Deterministic(
                "log_hours", log_lo + position * (log_hi - log_lo), dims="study"
            )
            a, b = np.log(options.acute_reference_hours), np.log(options.sustained_reference_hours)
            beta_mean = beta_acute + (beta_sustained - beta_acute) * (log_hours - a) / (b - a)

        if options.covariates:
            x = np.array([[s.covariates[c] for c in options.covariates] for s in studies])
            x_data = pm.Data("covariate_values", x, dims=("study", "covariate"))
            coef = make_rv("covariate_coef", priors["covariate_coef"], dims="covariate")
            beta_mean = beta_mean + pt.dot(x_data, coef)

        z_beta = pm.Normal("z_beta", 0.0, 1.0, dims="study")
        beta_study = pm.Deterministic("beta_study", beta_mean + tau_beta * z_beta, dims="study")

        ketamine_effect = make_rv("ketamine_effect", priors["ketamine_effect"])
        tau_ketamine = make_rv("tau_ketamine", priors["tau_ketamine"])
        z_ketamine = pm.Normal("z_ketamine", 0.0, 1.0, dims="study")
        delta_study = pm.Deterministic(
            "ketamine_effect_study", ketamine_effect + tau_ketamine * z_ketamine, dims="study"
        )

        needs_rho = any(
            it.kind == "paired_binary"
            or (
                it.kind == "contrast_statistic"
                and not it.attenuation
                and s.design.type == "crossover"
            )
            or (it.kind in ("arm_means", "ipd") and it.paired)
            for s, it in items
        )
        rho = None
        if needs_rho:
            _check_correlation_prior(priors["within_subject_correlation"])
            rho = make_rv(
                "within_subject_correlation", priors["within_subject_correlation"], as_data=True
            )

        stopped = np.array([s.design.stopped_early for s in studies], dtype=float)
        if options.early_stopping_bias and stopped.any():
            log_k = make_rv("early_stop_log_exaggeration", priors["early_stop_log_exaggeration"])
            exaggeration = pt.exp(log_k * pt.as_tensor(stopped))
        else:
            exaggeration = pt.ones(len(studies))

        # Ketamine-alone response probit per binary study: a 24-h single-infusion outcome
        # takes the literature prior; an outcome after a course of infusions its own.
        eta = {}
        if binary_ids:
            single = make_rv(
                "ketamine_response_probit", priors["ketamine_response_probit"], dims="binary_study"
            )
            eta |= {sid: single[j] for j, sid in enumerate(binary_ids)}
        if course_ids:
            repeated = make_rv(
                "course_response_probit", priors["course_response_probit"], dims="course_study"
            )
            eta |= {sid: repeated[j] for j, sid in enumerate(course_ids)}
        kappa = (
            make_rv("specific_share", priors["specific_share"], dims="attenuation_study")
            if attenuation_ids
            else None
        )
        nonspecific = (
            make_rv(
                "nonspecific_improvement",
                priors["nonspecific_improvement"],
                dims="continuous_study",
            )
            if continuous_ids
            else None
        )

        for s, item in items:
            i = ids.index(s.id)
            name = f"{s.id}{SEP}{item.id}"
            beta_i, delta_i = beta_study[i], delta_study[i]
            removed = exaggeration[i] * beta_i * delta_i  # latent effect naltrexone removes

            if item.kind in BINARY_KINDS:
                eta_i = eta[s.id]
                probit = {
                    "ketamine_placebo": eta_i,
                    "ketamine_naltrexone": eta_i - removed,
                    "control": eta_i - delta_i,
                }
            if item.kind == "paired_binary":
                n = int(_num(item.pairs))
                both = _num(item.both_responded)
                pm.CustomDist(
                    name,
                    probit["ketamine_placebo"],
                    probit["ketamine_naltrexone"],
                    rho,
                    logp=paired_binary_logp(n, None if both is None else int(both)),
                    random=paired_binary_random(n),
                    signature="(),(),()->(2)",
                    observed=np.array(
                        [_num(item.responders_placebo), _num(item.responders_naltrexone)],
                        dtype=float,
                    ),
                )
            elif item.kind in ("arm_counts", "single_arm_binary"):
                arms = item.arms if item.kind == "arm_counts" else [item]
                for arm in arms:
                    n = int(_num(arm.n))
                    ev = arm.events
                    lower = (
                        ev.value
                        if ev.value is not None
                        else (ev.lower if ev.lower is not None else 0)
                    )
                    upper = (
                        ev.value
                        if ev.value is not None
                        else (ev.upper if ev.upper is not None else n)
                    )
                    suffix = f"{SEP}{arm.condition}" if item.kind == "arm_counts" else ""
                    pm.CustomDist(
                        name + suffix,
                        normal_cdf(probit[arm.condition]),
                        logp=bounded_binomial_logp(n, int(upper)),
                        random=binomial_random(n),
                        signature="()->()",
                        observed=np.array(float(lower)),
                    )
            elif item.kind == "contrast_statistic":
                t_obs = _t_from(item)
                att = _num(item.attenuation)
                if att is not None:
                    kappa_i = kappa[attenuation_ids.index(s.id)]
                    # First-order SE of a ratio estimate whose numerator has this t statistic.
                    pm.Normal(
                        name,
                        mu=exaggeration[i] * beta_i * kappa_i,
                        sigma=abs(att / t_obs),
                        observed=att,
                    )
                else:
                    n = _num(item.participants)
                    if s.design.type == "crossover":
                        se = pt.sqrt(2.0 * (1.0 - rho) / n)
                    else:
                        se = math.sqrt(4.0 / n)
                    ncp = removed / se
                    df = _num(item.df) or 1e6
                    pm.Normal(name, mu=ncp, sigma=contrast_t_sd(ncp, df), observed=t_obs)
            elif item.kind in ("arm_means", "ipd"):
                m_i = nonspecific[continuous_ids.index(s.id)]
                mean = {
                    "ketamine_placebo": m_i + delta_i,
                    "ketamine_naltrexone": m_i + delta_i - removed,
                    "control": m_i,
                }
                if item.kind == "arm_means":
                    _arm_means_likelihood(name, item, mean, rho)
                else:
                    _ipd_likelihood(
                        name, item, mean, rho, evidence.ipd[(s.id, item.id)], ipd_ids.index(s.id)
                    )
    return model


def _arm_means_likelihood(name, item, mean, rho) -> None:
    """Standardized arm means (mean change / SD), treating each SD as known."""
    z = {arm.condition: _num(arm.mean_change) / _num(arm.sd_change) for arm in item.arms}
    n = {arm.condition: _num(arm.n) for arm in item.arms}
    if item.paired:
        reported = _num(item.within_subject_correlation)
        r = rho if reported is None else reported
        pair = ("ketamine_placebo", "ketamine_naltrexone")
        n_pairs = min(n[c] for c in pair)
        cov = pt.stack([pt.stack([1.0, r]), pt.stack([r, 1.0])]) / n_pairs
        pm.MvNormal(
            name,
            mu=pt.stack([mean[c] for c in pair]),
            cov=cov,
            observed=np.array([z[c] for c in pair]),
        )
        others = [c for c in z if c not in pair]
    else:
        others = list(z)
    for c in others:
        pm.Normal(f"{name}{SEP}{c}", mu=mean[c], sigma=1.0 / math.sqrt(n[c]), observed=z[c])


def _ipd_likelihood(name, item, mean, rho, frame, ipd_index) -> None:
    """Individual changes on the raw scale: y = sd * (latent mean) + sd * noise."""
    y = frame["change"].to_numpy(dtype=float)
    # A weakly informative, data-scaled prior for the outcome SD (as Bambi auto-scales).
    sd = pm.HalfNormal(f"{name}{SEP}sd", sigma=2.0 * float(np.std(y)) + 1e-9)
    if item.paired:
        wide = frame.pivot(index="participant", columns="condition", values="change")
        pair = ["ketamine_placebo", "ketamine_naltrexone"]
        wide = wide[pair].dropna()
        mu = sd * pt.stack([mean[c] for c in pair])
        cov = sd**2 * pt.stack([pt.stack([1.0, rho]), pt.stack([rho, 1.0])])
        pm.MvNormal(name, mu=mu, cov=cov, observed=wide.to_numpy())
    else:
        levels = sorted(set(frame["condition"]))
        idx = np.array([levels.index(c) for c in frame["condition"]])
        mu = pt.stack([mean[c] for c in levels])[idx] * sd
        pm.Normal(name, mu=mu, sigma=sd, observed=y)


def observed_items(model: pm.Model) -> dict[str, tuple[str, str, str | None]]:
    """Observed variable name -> (study, item, condition or None)."""
    out = {}
    for rv in model.observed_RVs:
        parts = rv.name.split(SEP)
        out[rv.name] = (parts[0], parts[1], parts[2] if len(parts) > 2 else None)
    return out


def bounded_observations(evidence: Evidence, options: ModelOptions | None = None) -> dict:
    """Observed count variables known only as a range: name -> (lower, upper)."""
    options = options or ModelOptions()
    out = {}
    for s in modelled_studies(evidence, options):
        for item in s.evidence:
            if item.kind not in ("arm_counts", "single_arm_binary") or not usable(item):
                continue
            arms = item.arms if item.kind == "arm_counts" else [item]
            for arm in arms:
                ev, n = arm.events, _num(arm.n)
                if ev.value is None:
                    suffix = f"{SEP}{arm.condition}" if item.kind == "arm_counts" else ""
                    lower = ev.lower if ev.lower is not None else 0
                    upper = ev.upper if ev.upper is not None else n
                    out[f"{s.id}{SEP}{item.id}{suffix}"] = (float(lower), float(upper))
    return out
