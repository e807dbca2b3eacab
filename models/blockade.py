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
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pydantic import BaseModel

from models.evidence.load import Evidence
from models.evidence.schema import Disputed, Quantity, StudyFile
from models.evidence.validate import usable
from models.forms import counts, form_of
from models.forms.base import (
    SEP,
    ItemContext,
    Need,
    is_course_outcome,
    ketamine_effect_slot,
    response_slot,
)
from models.likelihoods import RHO_MAX
from models.priors import PriorSpec
from models.switchboard import Board, VariantsDiffer, WeightedModel

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
    observations_as_data : bool
        Hold every observed number as named data (``pm.Data``), so one compiled model refits
        new observations of the same design by swapping data (simulation studies: SBC, the
        design analysis). Off for an analysis, where constants let PyTensor fold the
        likelihood's fixed parts. The posterior is the same either way.
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
    observations_as_data: bool = False

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
class Variant:
    """One scenario's inputs: evidence with its disputes resolved, priors and options."""

    evidence: Evidence
    priors: PriorSpec
    options: ModelOptions = ModelOptions()


@dataclass(frozen=True)
class _Term:
    """One evidence item as one or more variants read it; its likelihood is one term."""

    study: StudyFile  # the study as these variants read it (a reading may change it)
    item: Any
    evidence: Evidence  # where the item's individual rows are
    name: str
    used: tuple[bool, ...]  # per variant: whether this term is in its likelihood


@dataclass(frozen=True)
class _Plan:
    """The union of every variant's modelled studies and evidence items."""

    studies: list[StudyFile]
    per_variant: list[dict[str, StudyFile]]  # variant -> its modelled studies by id
    terms: list[_Term]
    variants: Sequence[Variant]

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.studies]

    def flags(self, test: Callable[[Variant, StudyFile], bool]) -> list[np.ndarray]:
        """Per variant, ``test`` of each union study (False where the variant lacks it)."""
        return [
            np.array([sid in mine and test(v, mine[sid]) for sid in self.ids])
            for v, mine in zip(self.variants, self.per_variant, strict=True)
        ]

    def specs(self, slot: str) -> list[dict]:
        return [v.priors[slot] for v in self.variants]


@dataclass(frozen=True)
class _Layout:
    """Which modelled studies each study-level quantity is indexed by (its dim's values)."""

    ids: list[str]
    response: dict[str, list[str]]  # response-probit slot -> the studies that use it
    attenuation_ids: list[str]
    nonspecific_ids: list[str]  # studies whose non-specific improvement is a parameter
    ipd_ids: list[str]
    needs_rho: bool

    def coords(self, covariates: tuple[str, ...]) -> dict[str, list[str]]:
        coords = {"study": self.ids, "regimen": list(REGIMENS)}
        if covariates:
            coords["covariate"] = list(covariates)
        dims = dict(RESPONSE_SLOTS)
        named = [(dims[slot], ids) for slot, ids in self.response.items()]
        for dim, values in (
            *named,
            ("attenuation_study", self.attenuation_ids),
            ("nonspecific_study", self.nonspecific_ids),
            ("ipd_study", self.ipd_ids),
        ):
            if values:
                coords[dim] = values
        return coords


# Response-probit slots and their dims. A 24-h single-infusion outcome takes the literature
# prior; an outcome after a course of infusions its own; a single arm after one infusion the
# external-control prior (see forms.base.response_slot).
RESPONSE_SLOTS = (
    ("ketamine_response_probit", "binary_study"),
    ("course_response_probit", "course_study"),
    ("external_response_probit", "external_study"),
)
PROBITS = frozenset({"response_probit", "external_response_probit"})  # needs that ask for one


@dataclass(frozen=True)
class _Latent:
    """The model's study-level quantities that the evidence items' likelihoods share."""

    beta_study: Any
    delta_study: Any
    exaggeration: Any
    rho: Any
    eta: dict[tuple[str, str], Any]  # (study id, response slot) -> its response probit
    kappa: dict[str, Any]  # study id -> its specific share
    nonspecific: dict[str, Any]  # study id -> its non-specific improvement
    gamma: Any = None  # per study, the share of m_s naltrexone removes (None: fixed at 0)
    as_data: bool = False  # observations as pm.Data (ModelOptions.observations_as_data)

    def context(self, i: int, term: _Term) -> ItemContext:
        """What the term's form needs to add its likelihood (``i``: the study's index)."""
        study, item = term.study, term.item
        return ItemContext(
            study=study,
            item=item,
            name=term.name,
            beta=self.beta_study[i],
            delta=self.delta_study[i],
            exaggeration=self.exaggeration[i],
            rho=self.rho,
            gamma=None if self.gamma is None else self.gamma[i],
            eta=self.eta.get((study.id, response_slot(study, item))),
            kappa=self.kappa.get(study.id),
            nonspecific=self.nonspecific.get(study.id),
            ipd=term.evidence.ipd.get((study.id, item.id)),
            as_data=self.as_data,
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
    model, _ = build_variants_model([Variant(evidence, priors, options or ModelOptions())])
    return model


def build_variants_model(variants: Sequence[Variant]) -> tuple[pm.Model, list[dict]]:
    """One model for several variants of the analysis, with what differs as data.

    A study or item that a variant leaves out (or reads another way) keeps its term, weighted
    0 for that variant; prior parameters, fixed nuisances, comparator pooling, the bias term,
    gamma = beta and the timing moderator are data. With one variant this is exactly
    :func:`build_blockade_model`.

    Parameters
    ----------
    variants : sequence of Variant
        Variant 0's data are the model's own.

    Returns
    -------
    model : pm.Model
    data : list of dict
        Per variant, the values of the model's data (for ``with_data`` or ``pm.set_data``).

    Raises
    ------
    models.switchboard.VariantsDiffer
        If the variants differ in what data cannot hold: a study's regimen, the covariates,
        or prior families of different supports.
    """
    plan = _plan(variants)
    with_gamma = [_with_gamma(v.priors, v.options) for v in variants]
    layout = _layout(plan, with_gamma=any(with_gamma))
    board = Board(len(variants))
    with WeightedModel(coords=layout.coords(variants[0].options.covariates)) as model:
        # The order of these calls is the order the variables are created in, which fixes
        # the model's variable order and so the draws a given seed gives: keep it.
        beta_study = _beta_study(plan, board)
        delta_study = _ketamine_effect_study(plan, board)
        rho = _correlation(plan, layout, board)
        exaggeration = _exaggeration(plan, board)
        nuisances = _study_nuisances(plan, layout, board)
        gamma = _nonspecific_share(plan, board, beta_study, with_gamma)
        as_data = variants[0].options.observations_as_data
        latent = _Latent(
            beta_study, delta_study, exaggeration, rho, gamma=gamma, as_data=as_data, **nuisances
        )
        for term in plan.terms:
            before = set(model.observed_RVs)
            context = latent.context(plan.ids.index(term.study.id), term)
            form_of(term.item.kind).add_likelihood(context)
            added = [rv for rv in model.observed_RVs if rv not in before]
            board.weight(term.name, term.used, added)
        board.name_dim(model)
    return model, [board.variant_data(v) for v in range(len(variants))]


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


def _plan(variants: Sequence[Variant]) -> _Plan:
    """The union of the variants' studies and items; one term per distinct reading of an item."""
    if not variants:
        raise ValueError("no variant to build a model for")
    per_variant, keys, union = [], {}, {}
    for v, variant in enumerate(variants):
        studies, items = _modelled_items(variant.evidence, variant.options)
        per_variant.append({s.id: s for s in studies})
        for s in studies:
            union.setdefault(s.id, s)
        for s, item in items:
            digest = json.dumps([s.model_dump(mode="json"), item.model_dump(mode="json")])
            entry = keys.setdefault((s.id, item.id, digest), (s, item, variant.evidence, set()))
            entry[3].add(v)
    _check_static(variants, per_variant)
    readings: dict[tuple[str, str], int] = {}
    for sid, iid, _ in keys:
        readings[(sid, iid)] = readings.get((sid, iid), 0) + 1
    terms, seen = [], {}
    for (sid, iid, _), (s, item, evidence, users) in keys.items():
        k = seen[(sid, iid)] = seen.get((sid, iid), 0) + 1
        name = f"{sid}{SEP}{iid}" + (f"_r{k}" if readings[(sid, iid)] > 1 else "")
        used = tuple(v in users for v in range(len(variants)))
        terms.append(_Term(s, item, evidence, name, used))
    return _Plan(list(union.values()), per_variant, terms, variants)


def _check_static(variants: Sequence[Variant], per_variant: list[dict[str, StudyFile]]) -> None:
    """What one model cannot hold as data must agree between the variants."""
    if len({v.options.observations_as_data for v in variants}) > 1:
        raise VariantsDiffer("the variants differ in whether observations are data")
    covariates = {v.options.covariates for v in variants}
    if len(covariates) > 1:
        raise VariantsDiffer(f"the variants use different covariates: {sorted(covariates)}")
    regimens: dict[str, set[str]] = {}
    for mine in per_variant:
        for sid, s in mine.items():
            regimens.setdefault(sid, set()).add(s.naltrexone.regimen)
    for sid, found in regimens.items():
        if len(found) > 1:
            raise VariantsDiffer(f"{sid}: the variants read its regimen as {sorted(found)}")


def _with_gamma(priors: PriorSpec, options: ModelOptions) -> bool:
    """Whether naltrexone may remove part of the non-specific improvement."""
    spec = priors["nonspecific_share"]
    fixed_zero = spec["dist"] == "fixed" and spec["value"] == 0
    return options.nonspecific_share == "equal_beta" or not fixed_zero


def _layout(plan: _Plan, with_gamma: bool = False) -> _Layout:
    """Ask each term's form which study-level quantities it needs.

    With gamma, every study's non-specific improvement is a parameter: each has a naltrexone
    condition whose removed improvement includes ``gamma * m_s``.
    """
    ids = plan.ids
    needs = [(t.study, t.item, form_of(t.item.kind).needs(t.study, t.item)) for t in plan.terms]

    def needing(need: Need) -> list[str]:
        found = {s.id for s, _, n in needs if need in n}
        return [sid for sid in ids if sid in found]

    response = {}
    for slot, _ in RESPONSE_SLOTS:
        found = {s.id for s, it, n in needs if n & PROBITS and response_slot(s, it) == slot}
        response[slot] = [sid for sid in ids if sid in found]
    return _Layout(
        ids=ids,
        response=response,
        attenuation_ids=needing("specific_share"),
        nonspecific_ids=ids if with_gamma else needing("nonspecific_improvement"),
        ipd_ids=needing("individual_data"),
        needs_rho=any("within_subject_correlation" in n for _, _, n in needs),
    )


def _beta_study(plan: _Plan, board: Board):
    """``beta_s = beta_regimen(s) [+ covariates . coef] + tau_beta * z_s``."""
    # Always data (not constants), so prior-set scenarios re-use one compiled model.
    beta_acute = board.rv("beta_acute", plan.specs("beta_acute"), force_data=True)
    beta_sustained = board.rv("beta_sustained", plan.specs("beta_sustained"), force_data=True)
    pm.Deterministic("beta_regimen", pt.stack([beta_acute, beta_sustained]), dims="regimen")
    pm.Deterministic("delta_timing", beta_acute - beta_sustained)
    tau_beta = board.rv("tau_beta", plan.specs("tau_beta"))

    on_hours = [v.options.moderator == "log_hours" for v in plan.variants]
    beta_mean = board.choose(
        "moderator_is_log_hours",
        on_hours,
        lambda: _beta_on_log_hours(plan, board, beta_acute, beta_sustained),
        lambda: pt.stack([beta_acute, beta_sustained])[_regimen_index(plan.studies)],
    )
    covariates = plan.variants[0].options.covariates
    if covariates:
        x = np.array([[s.covariates[c] for c in covariates] for s in plan.studies])
        x_data = pm.Data("covariate_values", x, dims=("study", "covariate"))
        coef = board.rv("covariate_coef", plan.specs("covariate_coef"), dims="covariate")
        beta_mean = beta_mean + pt.dot(x_data, coef)

    z_beta = pm.Normal("z_beta", 0.0, 1.0, dims="study")
    return pm.Deterministic("beta_study", beta_mean + tau_beta * z_beta, dims="study")


def _regimen_index(studies: list[StudyFile]) -> np.ndarray:
    return np.array([REGIMENS.index(s.naltrexone.regimen) for s in studies])


def _beta_on_log_hours(plan: _Plan, board: Board, beta_acute, beta_sustained):
    """The line through beta_acute and beta_sustained at each study's hours of blockade."""
    ranges = [
        np.log([_hours_range(mine.get(s.id, s), v.options) for s in plan.studies])
        for v, mine in zip(plan.variants, plan.per_variant, strict=True)
    ]
    log_lo = board.value("log_hours_lower", [r[:, 0] for r in ranges])
    log_hi = board.value("log_hours_upper", [r[:, 1] for r in ranges])
    # A uniform position within each study's reported range; a point range leaves
    # the position unidentified but harmless (it multiplies a zero width).
    position = pm.Uniform("hours_position", 0.0, 1.0, dims="study")
    log_hours = pm.Deterministic("log_hours", log_lo + position * (log_hi - log_lo), dims="study")
    options = plan.variants[0].options
    a, b = np.log(options.acute_reference_hours), np.log(options.sustained_reference_hours)
    return beta_acute + (beta_sustained - beta_acute) * (log_hours - a) / (b - a)


def _ketamine_effect_study(plan: _Plan, board: Board):
    """``delta_s = mean_s + spread_s * w_s``, by the study's comparator and outcome.

    The mean is ``ketamine_effect`` (against saline, 24 h) unless the study's control arm got
    midazolam (``ketamine_effect_midazolam``); the spread is ``tau_ketamine`` unless the
    outcome follows a course of infusions (``tau_ketamine_course``). With
    ``ketamine_effect = "pooled"`` every study shares the first of each.
    """
    mean = board.rv("ketamine_effect", plan.specs("ketamine_effect"))
    spread = board.rv("tau_ketamine", plan.specs("tau_ketamine"))
    by_comparator = lambda v: v.options.ketamine_effect == "by_comparator"  # noqa: E731
    midazolam = plan.flags(
        lambda v, s: by_comparator(v) and ketamine_effect_slot(s) == "ketamine_effect_midazolam"
    )
    if any(m.any() for m in midazolam):
        other = board.rv("ketamine_effect_midazolam", plan.specs("ketamine_effect_midazolam"))
        mean = pt.switch(board.value("midazolam_comparator", midazolam), other, mean)
    course = plan.flags(lambda v, s: by_comparator(v) and _has_course_outcome(s))
    if any(c.any() for c in course):
        wider = board.rv("tau_ketamine_course", plan.specs("tau_ketamine_course"))
        spread = pt.switch(board.value("course_outcome", course), wider, spread)
    z_ketamine = pm.Normal("z_ketamine", 0.0, 1.0, dims="study")
    return pm.Deterministic("ketamine_effect_study", mean + spread * z_ketamine, dims="study")


def _has_course_outcome(study: StudyFile) -> bool:
    return any(is_course_outcome(study, it) for it in study.evidence if usable(it))


def _correlation(plan: _Plan, layout: _Layout, board: Board):
    """The within-subject correlation, if any item needs it."""
    if not layout.needs_rho:
        return None
    specs = plan.specs("within_subject_correlation")
    for spec in specs:
        _check_correlation_prior(spec)
    return board.rv("within_subject_correlation", specs, force_data=True)


def _exaggeration(plan: _Plan, board: Board):
    """Per study, the factor inflating an early-stopped trial's contrast (else 1)."""
    stopped = plan.flags(lambda v, s: v.options.early_stopping_bias and s.design.stopped_early)
    if not any(x.any() for x in stopped):
        return pt.ones(len(plan.studies))
    log_k = board.rv("early_stop_log_exaggeration", plan.specs("early_stop_log_exaggeration"))
    return pt.exp(log_k * board.value("early_stopped", stopped))


def _study_nuisances(plan: _Plan, layout: _Layout, board: Board) -> dict[str, dict]:
    """Response probits, specific shares and non-specific improvements, by study id."""
    eta = {}
    for slot, dim in RESPONSE_SLOTS:
        ids = layout.response[slot]
        if ids:
            rv = board.rv(slot, plan.specs(slot), dims=dim)
            eta |= {(sid, slot): rv[j] for j, sid in enumerate(ids)}
    by_study: dict[str, dict] = {"eta": eta}
    for key, slot, dim, ids in (
        ("kappa", "specific_share", "attenuation_study", layout.attenuation_ids),
        ("nonspecific", "nonspecific_improvement", "nonspecific_study", layout.nonspecific_ids),
    ):
        rv = board.rv(slot, plan.specs(slot), dims=dim) if ids else None
        by_study[key] = {sid: rv[j] for j, sid in enumerate(ids)}
    return by_study


def _nonspecific_share(plan: _Plan, board: Board, beta_study, with_gamma: list[bool]):
    """gamma per study: beta itself, its own prior, or None when fixed at 0 in every variant."""
    if not any(with_gamma):
        return None
    equal = [v.options.nonspecific_share == "equal_beta" for v in plan.variants]
    if all(equal):
        return beta_study
    # A variant with gamma = beta, or with gamma fixed at 0, takes the others' prior unused.
    own = [v.priors["nonspecific_share"] for v, e in zip(plan.variants, equal, strict=True)]
    free = next(s for s, e in zip(own, equal, strict=True) if not e)
    specs = [free if e else s for s, e in zip(own, equal, strict=True)]
    gamma = board.rv("nonspecific_share", specs)
    return board.choose(
        "gamma_equals_beta", equal, lambda: beta_study, lambda: gamma * pt.ones_like(beta_study)
    )


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
