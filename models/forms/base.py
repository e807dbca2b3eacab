"""What every form of evidence shares: the parts a form module provides, and their inputs.

A form module (one per form of evidence, registered in :mod:`models.forms`) provides

- ``KINDS``: the schema ``kind`` values it handles;
- ``essential(item)``: the quantities without which the item is unusable;
- ``needs(study, item)``: the study-level nuisance quantities its likelihood uses;
- ``add_likelihood(ctx)``: adds the item's observed variables to the model being built,
  each with what it holds (:func:`describe`);
- ``estimate(study, item, priors)``: a closed-form per-study blockade-fraction estimate;
- ``simulate(draw)``: the item as a simulated study would report it;
- ``attenuation_statistic(name, item, values)``: one number per draw of the item's observed
  variables, larger where naltrexone removed more (:class:`Statistic`), or None where the form
  has none. The per-study conflict check compares the observed value with replicates.

This module holds their inputs (:class:`ItemContext`, :class:`StudyDraw`), their outputs
(:class:`SimulatedItem`) and the small helpers several forms use. It imports no form, so the
forms can import it without a cycle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
from scipy import stats

from models.distributions import scipy_dist

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import pandas as pd

    from models.evidence.schema import Disputed, Quantity, StudyFile
    from models.priors import PriorSpec

SEP = "__"  # observed variable names are <study>__<item>[__<condition>]
RAW_SD = 8.0  # outcome SD in scale points, about that of MADRS around an infusion (Lii 2023)

# The study-level nuisance quantities a likelihood may need; the model creates each one only
# for the studies whose items ask for it (its dim lists those studies).
Need = Literal[
    "response_probit",  # ketamine-alone response probit (binary forms)
    "external_response_probit",  # the same, for a single arm with no control of its own
    "specific_share",  # share of the improvement that is specific (reported attenuation)
    "nonspecific_improvement",  # improvement without ketamine (continuous forms)
    "within_subject_correlation",  # correlation of a participant's two periods
    "individual_data",  # individual rows (the ipd_study dim)
]
Estimate = tuple[float, float, str]  # (estimate, SE, how it was computed)


class Form(Protocol):
    """The parts of a form module (a module satisfies this protocol)."""

    KINDS: tuple[str, ...]

    def essential(self, item: Any) -> Sequence[Quantity | Disputed]: ...

    def needs(self, study: StudyFile, item: Any) -> frozenset[Need]: ...

    def add_likelihood(self, ctx: ItemContext) -> None: ...

    def estimate(self, study: StudyFile, item: Any, priors: PriorSpec) -> Estimate | None: ...

    def simulate(self, draw: StudyDraw) -> SimulatedItem: ...

    def attenuation_statistic(
        self, name: str, item: Any, values: Mapping[str, np.ndarray]
    ) -> Statistic | None: ...


@dataclass(frozen=True)
class Statistic:
    """A summary of an item's observed variables, oriented so that larger means more removed.

    ``values`` has the leading shape of the arrays it was computed from (one per draw, or per
    reading of a number known only as a range); ``label`` says what it is, for the report.
    """

    values: np.ndarray
    label: str


# ---- the likelihood's input ----------------------------------------------------------------


# The two periods of a crossover, in the order paired observations hold them, and their dim.
PERIODS = ("ketamine_placebo", "ketamine_naltrexone")
PERIOD_DIM = "crossover_period"


@dataclass(frozen=True)
class ItemContext:
    """One evidence item and the shared latent quantities of its study, inside the model.

    The tensors are this study's entries of the model's study-level vectors, so a form writes
    its likelihood for one study without knowing the model's indices. A nuisance the item did
    not ask for (see ``needs``) is None.

    Attributes
    ----------
    study, item
        The study file and the evidence item.
    name : str
        ``<study>__<item>``, the prefix of the item's observed variables.
    beta, delta, exaggeration : TensorVariable
        The study's blockade fraction, ketamine's specific effect, and the early-stopping
        exaggeration of its contrast (1 unless the bias term applies).
    rho : TensorVariable or None
        Within-subject correlation (shared by all studies).
    eta, kappa, nonspecific : TensorVariable or None
        The study's ketamine-alone response probit, specific share, and non-specific
        improvement.
    gamma : TensorVariable or None
        The share of the non-specific improvement naltrexone removes (None: fixed at 0).
    ipd : DataFrame or None
        The item's individual rows.
    as_data : bool
        Observations go into the model as named data (:meth:`observe`), not constants.
    """

    study: StudyFile
    item: Any
    name: str
    beta: Any
    delta: Any
    exaggeration: Any
    rho: Any = None
    eta: Any = None
    kappa: Any = None
    nonspecific: Any = None
    ipd: pd.DataFrame | None = None
    gamma: Any = None
    as_data: bool = False

    def period_dim(self) -> str:
        """The named dim of a crossover's two periods (its coord added once per model)."""
        import pymc as pm

        model = pm.modelcontext(None)
        if PERIOD_DIM not in model.coords:
            model.add_coord(PERIOD_DIM, PERIODS)
        return PERIOD_DIM

    def observe(self, value: Any, suffix: str = "", dims: str | None = None) -> Any:
        """An observed number of this item: an array, or named data a compiled model can swap.

        ``suffix`` tells apart the item's several observed numbers (an arm, a bound); the
        data are named ``<study>__<item><suffix>__data``.
        """
        value = np.asarray(value, dtype=float)
        if not self.as_data:
            return value
        import pymc as pm

        return pm.Data(f"{self.name}{suffix}{SEP}data", value, dims=dims)

    @property
    def removed(self) -> Any:
        """The latent improvement naltrexone removes: ``k_s (beta_s delta_s + gamma_s m_s)``.

        ``gamma_s`` is the share of the non-specific improvement ``m_s`` that naltrexone
        removes (placebo responses are partly opioid-mediated); without it (gamma fixed at 0)
        only the specific effect is touched.
        """
        if self.gamma is None:
            return self.exaggeration * self.beta * self.delta
        return self.exaggeration * (self.beta * self.delta + self.gamma * self.nonspecific)

    @property
    def removed_share(self) -> Any:
        """The share of the whole improvement naltrexone removes: ``k_s (beta_s kappa_s +
        gamma_s (1 - kappa_s))``, what a reported attenuation estimates."""
        if self.gamma is None:
            return self.exaggeration * self.beta * self.kappa
        return self.exaggeration * (self.beta * self.kappa + self.gamma * (1.0 - self.kappa))

    def response_probits(self) -> dict[str, Any]:
        """Response probit by condition (binary forms); non-specific response is in ``eta``."""
        removed = self.removed
        return {
            "ketamine_placebo": self.eta,
            "ketamine_naltrexone": self.eta - removed,
            "control": self.eta - self.delta,
        }

    def latent_means(self) -> dict[str, Any]:
        """Mean standardized improvement by condition (continuous forms)."""
        removed = self.removed
        return {
            "ketamine_placebo": self.nonspecific + self.delta,
            "ketamine_naltrexone": self.nonspecific + self.delta - removed,
            "control": self.nonspecific,
        }


def describe(rv: Any, datum: str) -> Any:
    """Say what an observed variable holds (its unit, its reading), for the checks' axes.

    Every form names its own datum: a panel cannot tell a reported attenuation (a share) from
    a t statistic, or two standardized means from two counts, by their values. The fit copies
    it onto the observed data (the ``datum`` attribute; :func:`datum_of`).
    """
    rv.tag.datum = datum
    return rv


def datum_of(rv: Any) -> str | None:
    """What :func:`describe` said the observed variable ``rv`` holds (None: nothing)."""
    return getattr(rv.tag, "datum", None)


def num(q: Quantity | None) -> float | None:
    """A resolved quantity's value (None when absent or given only as a bound)."""
    return None if q is None else q.value


def signed_t(item: Any) -> float:
    """A contrast's signed t statistic (positive = naltrexone attenuated ketamine).

    An F(1, df) has no sign: it is read as t^2 in the direction the study file states
    (``direction``, required for an F). A t or z keeps its sign.
    """
    value = num(item.value)
    if item.statistic != "F":
        return value
    return math.sqrt(value) * (1.0 if item.direction == "attenuation" else -1.0)


def is_course_outcome(study: StudyFile, item) -> bool:
    """Whether a binary outcome is rated after a course of infusions, not 24 h after one.

    Rated after 48 h, or (time point not reported) in a study giving several infusions.
    """
    hours = item.timepoint_hours
    if hours.status != "not_reported" and hours.value is not None:
        return hours.value > 48.0
    infusions = study.ketamine.infusions
    return (infusions.value or infusions.upper or 1) > 1


def response_slot(study: StudyFile, item: Any) -> str:
    """The prior slot of a binary item's ketamine-alone response probit.

    After a course of infusions: ``course_response_probit``. After one infusion: a single arm
    (no control of its own) leans on ``external_response_probit``, an item with its own arms
    on ``ketamine_response_probit``.
    """
    if is_course_outcome(study, item):
        return "course_response_probit"
    if item.kind == "single_arm_binary":
        return "external_response_probit"
    return "ketamine_response_probit"


def ketamine_effect_slot(study: StudyFile) -> str:
    """The prior slot of the mean of ketamine's own effect in ``study``, as the model centres it.

    Against midazolam (an active placebo, so a smaller effect than against saline) for a study
    whose control arm got midazolam, ``ketamine_effect_midazolam``; otherwise
    ``ketamine_effect``. (With the option ``ketamine_effect = "pooled"`` the model uses the
    second for every study.)
    """
    if study.design.comparator == "midazolam":
        return "ketamine_effect_midazolam"
    return "ketamine_effect"


def ketamine_effect_moments(study: StudyFile, priors: PriorSpec) -> tuple[float, float, str]:
    """Mean and SD of the prior of ketamine's own effect in ``study``, and what it is against."""
    slot = ketamine_effect_slot(study)
    mean, sd = moments(priors[slot])
    # Pooling sets the midazolam slot to the saline one: then nothing is against midazolam
    # (a prior file setting the two equal reads the same, and its numbers are the same too).
    own = slot != "ketamine_effect" and priors[slot] != priors["ketamine_effect"]
    return mean, sd, "vs midazolam " if own else ""


# ---- closed-form estimates -------------------------------------------------------------------


def moments(spec: dict) -> tuple[float, float]:
    """Mean and SD of a prior spec (a fixed value has SD 0)."""
    if spec["dist"] == "fixed":
        return float(spec["value"]), 0.0
    dist = scipy_dist(spec)
    return float(dist.mean()), float(dist.std())


def probit_and_se(events: float, n: float) -> tuple[float, float]:
    """Probit of ``(events + 0.5) / (n + 1)`` and its binomial delta-method SE."""
    p = (events + 0.5) / (n + 1.0)
    z = float(stats.norm.ppf(p))
    se = math.sqrt(p * (1 - p) / n) / float(stats.norm.pdf(z))
    return z, se


def ratio(c: float, se_c: float, d: float, sd_d: float) -> tuple[float, float]:
    """``c / d`` with independent errors: ``SE^2 = (SE_c / d)^2 + (c * SD_d / d^2)^2``."""
    return c / d, math.sqrt((se_c / d) ** 2 + (c * sd_d / d**2) ** 2)


def value_or_lower(q: Quantity | None) -> float | None:
    """A quantity's value, or its lower bound when it is known only as a bound."""
    if q is None:
        return None
    return q.value if q.value is not None else q.lower


# ---- simulation --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StudyDraw:
    """One simulated study's true latent quantities, and the generator to simulate it with.

    Attributes
    ----------
    kind : str
        The evidence kind to report.
    study_id : str
    n : int
        Participants (per arm for parallel designs).
    beta, delta : float
        The study's blockade fraction and ketamine's specific effect.
    rho : float
        Within-subject correlation.
    nonspecific : float
        Standardized improvement without ketamine.
    response_probit : float
        Ketamine-alone response probit.
    rng : numpy.random.Generator
    """

    kind: str
    study_id: str
    n: int
    beta: float
    delta: float
    rho: float
    nonspecific: float
    response_probit: float
    rng: np.random.Generator

    @property
    def removed(self) -> float:
        """The latent effect naltrexone removes."""
        return self.beta * self.delta

    def latent_pairs(self, mean_placebo: float, mean_naltrexone: float) -> np.ndarray:
        """``n`` participants' latent outcomes under both conditions of a crossover."""
        cov = [[1.0, self.rho], [self.rho, 1.0]]
        return self.rng.multivariate_normal([mean_placebo, mean_naltrexone], cov, size=self.n)


@dataclass(frozen=True)
class SimulatedItem:
    """An evidence item as a simulated study reports it.

    Attributes
    ----------
    design : str
        The study design the item comes from (``crossover``, ``parallel``, ``single_arm``).
    fields : dict
        The item's fields in the file schema (``kind`` first), besides id, outcome and time.
    ipd : DataFrame or None
        Individual rows, for an IPD item.
    """

    design: str
    fields: dict[str, Any]
    ipd: pd.DataFrame | None = None


def simulated(value: Any, note: str = "simulated") -> dict:
    """A quantity in the file schema whose provenance is the simulation."""
    return {
        "value": value,
        "status": "derived",
        "source": "simulation",
        "derivation": "simulated by models.simulate",
        "note": note,
    }
