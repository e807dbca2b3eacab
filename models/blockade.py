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
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pydantic import BaseModel

from models.distributions import make_rv
from models.evidence.load import Evidence
from models.evidence.schema import Disputed, Quantity, StudyFile
from models.evidence.validate import usable
from models.forms import counts, form_of
from models.forms.base import SEP, ItemContext, Need, is_course_outcome
from models.likelihoods import RHO_MAX
from models.priors import PriorSpec

REGIMENS = ("acute", "sustained")


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
    ketamine_effect : {"by_comparator", "pooled"}
        Centre a midazolam-controlled study's ketamine effect on the literature effect
        against midazolam, and widen the spread of a course-of-infusions outcome; or pool
        every study around the saline-controlled 24-h effect.
    nonspecific_share : {"prior", "equal_beta"}
        The share gamma of the non-specific improvement that naltrexone removes: its own
        prior (slot ``nonspecific_share``; fixed at 0 leaves it out), or equal to each
        study's beta (naltrexone removes the same share of every kind of improvement).
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
    nonspecific_share: Literal["prior", "equal_beta"] = "prior"
    ketamine_effect: Literal["by_comparator", "pooled"] = "by_comparator"
    acute_reference_hours: float = 0.75
    sustained_reference_hours: float = 96.0
    unknown_hours: tuple[float, float] = (2.0, 672.0)

    def to_dict(self) -> dict:
        """A plain, JSON-ready copy (tuples as lists), as stored with every result."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


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


def controlled_studies(evidence: Evidence) -> set[str]:
    """Included studies with an arm that got no ketamine: only these identify their own delta."""
    out = set()
    for s in evidence.included:
        for item in s.evidence:
            conditions = {a.condition for a in getattr(item, "arms", [])}
            frame = evidence.ipd.get((s.id, item.id))
            if frame is not None:
                conditions |= set(frame["condition"])
            if usable(item) and "control" in conditions:
                out.add(s.id)
    return out


def _hours_range(study: StudyFile, options: ModelOptions) -> tuple[float, float]:
    q = study.naltrexone.hours_before_first_infusion
    if q.status == "not_reported":
        return options.unknown_hours
    lo = q.lower if q.lower is not None else q.value
    hi = q.upper if q.upper is not None else q.value
    return float(lo), float(hi)


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


@dataclass(frozen=True)
class _Layout:
    """Which modelled studies each study-level quantity is indexed by (its dim's values)."""

    ids: list[str]
    binary_ids: list[str]  # 24-h single-infusion binary outcomes: the literature eta prior
    course_ids: list[str]  # binary outcomes after a course of infusions: their own eta prior
    external_ids: list[str]  # single arms after one infusion: the external-control prior
    attenuation_ids: list[str]
    nonspecific_ids: list[str]  # studies whose non-specific improvement is a parameter
    ipd_ids: list[str]
    needs_rho: bool

    def coords(self, options: ModelOptions) -> dict[str, list[str]]:
        coords = {"study": self.ids, "regimen": list(REGIMENS)}
        if options.covariates:
            coords["covariate"] = list(options.covariates)
        for dim, values in (
            ("binary_study", self.binary_ids),
            ("course_study", self.course_ids),
            ("external_study", self.external_ids),
            ("attenuation_study", self.attenuation_ids),
            ("nonspecific_study", self.nonspecific_ids),
            ("ipd_study", self.ipd_ids),
        ):
            if values:
                coords[dim] = values
        return coords


@dataclass(frozen=True)
class _Latent:
    """The model's study-level quantities that the evidence items' likelihoods share."""

    beta_study: Any
    delta_study: Any
    exaggeration: Any
    rho: Any
    eta: dict[str, Any]  # study id -> its ketamine-alone response probit
    kappa: dict[str, Any]  # study id -> its specific share
    nonspecific: dict[str, Any]  # study id -> its non-specific improvement
    gamma: Any = None  # per study, the share of m_s naltrexone removes (None: fixed at 0)

    def context(self, i: int, study: StudyFile, item, evidence: Evidence) -> ItemContext:
        """What the item's form needs to add its likelihood (``i``: the study's index)."""
        return ItemContext(
            study=study,
            item=item,
            name=f"{study.id}{SEP}{item.id}",
            beta=self.beta_study[i],
            delta=self.delta_study[i],
            exaggeration=self.exaggeration[i],
            rho=self.rho,
            gamma=None if self.gamma is None else self.gamma[i],
            eta=self.eta.get(study.id),
            kappa=self.kappa.get(study.id),
            nonspecific=self.nonspecific.get(study.id),
            ipd=evidence.ipd.get((study.id, item.id)),
        )


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
        ``course_study``, ``external_study``, ``attenuation_study``, ``nonspecific_study``,
        ``ipd_study``.
    """
    options = options or ModelOptions()
    studies, items = _modelled_items(evidence, options)
    layout = _layout(studies, items, with_gamma=_with_gamma(priors, options))
    with pm.Model(coords=layout.coords(options)) as model:
        # The order of these calls is the order the variables are created in, which fixes
        # the model's variable order and so the draws a given seed gives: keep it.
        beta_study = _beta_study(studies, priors, options)
        delta_study = _ketamine_effect_study(studies, items, priors, options)
        rho = _correlation(layout, priors)
        exaggeration = _exaggeration(studies, priors, options)
        nuisances = _study_nuisances(layout, priors)
        gamma = _nonspecific_share(priors, options, beta_study)
        latent = _Latent(beta_study, delta_study, exaggeration, rho, gamma=gamma, **nuisances)
        for study, item in items:
            context = latent.context(layout.ids.index(study.id), study, item, evidence)
            form_of(item.kind).add_likelihood(context)
    return model


def _modelled_items(
    evidence: Evidence, options: ModelOptions
) -> tuple[list[StudyFile], list[tuple[StudyFile, Any]]]:
    """The modelled studies and their usable items, refusing what the model cannot take."""
    for s in evidence.studies:
        _assert_resolved(s)
    studies = modelled_studies(evidence, options)
    if not studies:
        raise ValueError("no included study has usable evidence")
    items = [(s, item) for s in studies for item in s.evidence if usable(item)]
    for name in options.covariates:
        missing = [s.id for s in studies if name not in s.covariates]
        if missing:
            raise ValueError(f"covariate {name!r} is not given by studies {missing}")
    return studies, items


def _with_gamma(priors: PriorSpec, options: ModelOptions) -> bool:
    """Whether naltrexone may remove part of the non-specific improvement."""
    spec = priors["nonspecific_share"]
    fixed_zero = spec["dist"] == "fixed" and spec["value"] == 0
    return options.nonspecific_share == "equal_beta" or not fixed_zero


def _layout(
    studies: list[StudyFile], items: list[tuple[StudyFile, Any]], with_gamma: bool = False
) -> _Layout:
    """Ask each item's form which study-level quantities it needs.

    With gamma, every study's non-specific improvement is a parameter: each has a naltrexone
    condition whose removed improvement includes ``gamma * m_s``.
    """
    ids = [s.id for s in studies]
    needs = [(s, it, form_of(it.kind).needs(s, it)) for s, it in items]

    def needing(need: Need, where: Callable[[StudyFile, Any], bool] | None = None) -> list[str]:
        found = {s.id for s, it, n in needs if need in n and (where is None or where(s, it))}
        return sorted(found, key=ids.index)

    binary = needing("response_probit")
    external = needing("external_response_probit")
    course = set(needing("response_probit", is_course_outcome))
    course |= set(needing("external_response_probit", is_course_outcome))
    return _Layout(
        ids=ids,
        binary_ids=[sid for sid in binary if sid not in course],
        course_ids=[sid for sid in ids if sid in course],
        external_ids=[sid for sid in external if sid not in course],
        attenuation_ids=needing("specific_share"),
        nonspecific_ids=ids if with_gamma else needing("nonspecific_improvement"),
        ipd_ids=needing("individual_data"),
        needs_rho=any("within_subject_correlation" in n for _, _, n in needs),
    )


def _beta_study(studies: list[StudyFile], priors: PriorSpec, options: ModelOptions):
    """``beta_s = beta_regimen(s) [+ covariates . coef] + tau_beta * z_s``."""
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
        beta_mean = _beta_on_log_hours(studies, options, beta_acute, beta_sustained)

    if options.covariates:
        x = np.array([[s.covariates[c] for c in options.covariates] for s in studies])
        x_data = pm.Data("covariate_values", x, dims=("study", "covariate"))
        coef = make_rv("covariate_coef", priors["covariate_coef"], dims="covariate")
        beta_mean = beta_mean + pt.dot(x_data, coef)

    z_beta = pm.Normal("z_beta", 0.0, 1.0, dims="study")
    return pm.Deterministic("beta_study", beta_mean + tau_beta * z_beta, dims="study")


def _beta_on_log_hours(studies, options: ModelOptions, beta_acute, beta_sustained):
    """The line through beta_acute and beta_sustained at each study's hours of blockade."""
    ranges = np.array([_hours_range(s, options) for s in studies])
    log_lo, log_hi = np.log(ranges[:, 0]), np.log(ranges[:, 1])
    # A uniform position within each study's reported range; a point range leaves
    # the position unidentified but harmless (it multiplies a zero width).
    position = pm.Uniform("hours_position", 0.0, 1.0, dims="study")
    log_hours = pm.Deterministic("log_hours", log_lo + position * (log_hi - log_lo), dims="study")
    a, b = np.log(options.acute_reference_hours), np.log(options.sustained_reference_hours)
    return beta_acute + (beta_sustained - beta_acute) * (log_hours - a) / (b - a)


def _ketamine_effect_study(
    studies: list[StudyFile], items: list[tuple[StudyFile, Any]], priors, options
):
    """``delta_s = mean_s + spread_s * w_s``, by the study's comparator and outcome.

    The mean is ``ketamine_effect`` (against saline, 24 h) unless the study's control arm got
    midazolam (``ketamine_effect_midazolam``); the spread is ``tau_ketamine`` unless the
    outcome follows a course of infusions (``tau_ketamine_course``). With
    ``ketamine_effect = "pooled"`` every study shares the first of each.
    """
    mean = make_rv("ketamine_effect", priors["ketamine_effect"])
    spread = make_rv("tau_ketamine", priors["tau_ketamine"])
    if options.ketamine_effect == "by_comparator":
        midazolam = np.array([s.design.comparator == "midazolam" for s in studies])
        if midazolam.any():
            other = make_rv("ketamine_effect_midazolam", priors["ketamine_effect_midazolam"])
            mean = pt.switch(pt.as_tensor(midazolam), other, mean)
        course = np.array(
            [any(is_course_outcome(s, it) for t, it in items if t is s) for s in studies]
        )
        if course.any():
            wider = make_rv("tau_ketamine_course", priors["tau_ketamine_course"])
            spread = pt.switch(pt.as_tensor(course), wider, spread)
    z_ketamine = pm.Normal("z_ketamine", 0.0, 1.0, dims="study")
    return pm.Deterministic("ketamine_effect_study", mean + spread * z_ketamine, dims="study")


def _correlation(layout: _Layout, priors: PriorSpec):
    """The within-subject correlation, if any item needs it."""
    if not layout.needs_rho:
        return None
    _check_correlation_prior(priors["within_subject_correlation"])
    return make_rv("within_subject_correlation", priors["within_subject_correlation"], as_data=True)


def _exaggeration(studies: list[StudyFile], priors: PriorSpec, options: ModelOptions):
    """Per study, the factor inflating an early-stopped trial's contrast (else 1)."""
    stopped = np.array([s.design.stopped_early for s in studies], dtype=float)
    if options.early_stopping_bias and stopped.any():
        log_k = make_rv("early_stop_log_exaggeration", priors["early_stop_log_exaggeration"])
        return pt.exp(log_k * pt.as_tensor(stopped))
    return pt.ones(len(studies))


def _study_nuisances(layout: _Layout, priors: PriorSpec) -> dict[str, dict[str, Any]]:
    """Response probits, specific shares and non-specific improvements, by study id."""
    # Ketamine-alone response probit per binary study: a 24-h single-infusion outcome
    # takes the literature prior; an outcome after a course of infusions its own.
    eta = {}
    for slot, dim, ids in (
        ("ketamine_response_probit", "binary_study", layout.binary_ids),
        ("course_response_probit", "course_study", layout.course_ids),
        ("external_response_probit", "external_study", layout.external_ids),
    ):
        if ids:
            rv = make_rv(slot, priors[slot], dims=dim)
            eta |= {sid: rv[j] for j, sid in enumerate(ids)}
    by_study = {"eta": eta}
    for key, slot, dim, ids in (
        ("kappa", "specific_share", "attenuation_study", layout.attenuation_ids),
        ("nonspecific", "nonspecific_improvement", "nonspecific_study", layout.nonspecific_ids),
    ):
        rv = make_rv(slot, priors[slot], dims=dim) if ids else None
        by_study[key] = {sid: rv[j] for j, sid in enumerate(ids)}
    return by_study


def _nonspecific_share(priors: PriorSpec, options: ModelOptions, beta_study):
    """gamma per study: beta itself, its own prior, or None when fixed at 0."""
    if options.nonspecific_share == "equal_beta":
        return beta_study
    if not _with_gamma(priors, options):
        return None
    gamma = make_rv("nonspecific_share", priors["nonspecific_share"])
    return gamma * pt.ones_like(beta_study)


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
            if item.kind in counts.KINDS and usable(item):
                out |= counts.bounded_events(s, item)
    return out
