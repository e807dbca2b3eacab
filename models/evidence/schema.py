"""The file format of the evidence base: one TOML file per study, plus literature inputs.

Every number is a :class:`Quantity` that carries its provenance (source, status, a note in our
own words, and the arithmetic when it is derived). A number the sources disagree on is a
:class:`Disputed` quantity: named readings, tied to a study-level :class:`Dispute` that says
which reading is the default and why. Analyses pick readings by name, so a sensitivity
analysis can swap any of them without editing the files.

The classes only describe *shape* (fields, types, vocabularies). Rules that relate fields to
each other (a count above its denominator, an undeclared source) live in
:mod:`models.evidence.validate`, so that each problem can be reported with its own message.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

SCHEMA_VERSION = 1

# Controlled vocabularies. Adding a word here is a deliberate schema change.
Status = Literal["reported", "secondary", "derived", "not_reported"]
DesignType = Literal["crossover", "parallel", "single_arm", "observational"]
Regimen = Literal["acute", "sustained"]
NaltrexoneRoute = Literal["oral", "im_depot"]
Scale = Literal["HAM-D17", "HAM-D6", "MADRS", "BDI-II", "QIDS-SR", "C-SSRS"]
StudyStatus = Literal["included", "excluded", "registered"]
# The three conditions every likelihood is written in: ketamine after placebo pretreatment,
# ketamine after naltrexone, and no ketamine at all (saline or midazolam infusion).
Condition = Literal["ketamine_placebo", "ketamine_naltrexone", "control"]

T = TypeVar("T", int, float, str)


class StrictModel(BaseModel):
    """Unknown fields and silent type coercion are both errors in a data file."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Quantity(StrictModel, Generic[T]):
    """One number (or interval) with its provenance.

    ``value`` is the number; ``lower``/``upper`` give an interval or a one-sided bound (a
    count known only as ">80% of 20" has ``lower = 17``); ``ci95`` holds a reported 95%
    interval. ``status = "not_reported"`` records that the number was looked for and not
    found: it then has no value, and the model treats it as unknown.
    """

    value: T | None = None
    lower: T | None = None
    upper: T | None = None
    ci95: list[T] | None = None
    status: Status
    source: str | None = None
    where: str | None = None
    derivation: str | None = None
    note: str


class Disputed(StrictModel, Generic[T]):
    """A number the sources disagree on: every reading is kept, under a name."""

    dispute: str
    readings: dict[str, Quantity[T]]


def _quantity_or_disputed(raw: Any) -> str:
    if isinstance(raw, dict) and "readings" in raw:
        return "disputed"
    if isinstance(raw, Disputed):
        return "disputed"
    return "quantity"


def _num(kind: type) -> Any:
    """The field type of a number that may be disputed: Quantity[kind] | Disputed[kind]."""
    return Annotated[
        Annotated[Quantity[kind], Tag("quantity")] | Annotated[Disputed[kind], Tag("disputed")],
        Discriminator(_quantity_or_disputed),
    ]


Count = _num(int)
Real = _num(float)


class Source(StrictModel):
    """Where numbers come from; quantities point at one of these by its key."""

    url: str
    description: str
    doi: str | None = None


class Dispute(StrictModel):
    """A disagreement between sources, with the reading the primary analysis uses."""

    readings: list[str] = Field(min_length=2)
    default: str
    reason: str
    # Each reading in a few words, as the robustness figure and report show it ("1 responder
    # under naltrexone"); a reading without words shows its name.
    words: dict[str, str] = Field(default_factory=dict)

    def shown(self, reading: str) -> str:
        """``reading`` in words, or its name with spaces for underscores."""
        return self.words.get(reading) or reading.replace("_", " ")


class Citation(StrictModel):
    authors: str
    year: int
    title: str
    journal: str | None = None
    doi: str | None = None
    registry: str | None = None


class Design(StrictModel):
    type: DesignType
    population: str
    blinding: str
    stopped_early: bool = False
    # What the no-ketamine control arm received, if there is one: ketamine's effect against
    # an active placebo (midazolam) is smaller than against saline.
    comparator: Literal["saline", "midazolam", "none"] = "none"
    # A crossover's interval between its periods, in days (carry-over is its own bias).
    washout_days: Real | None = None
    note: str | None = None


class Ketamine(StrictModel):
    dose_mg_per_kg: Real
    route: Literal["iv"]
    infusions: Count
    note: str | None = None


class Naltrexone(StrictModel):
    route: NaltrexoneRoute
    dose_mg: Real
    regimen: Regimen
    # Hours from the naltrexone dose to the start of the first ketamine infusion, as a range.
    hours_before_first_infusion: Real
    note: str | None = None


class Outcome(StrictModel):
    # Absent only for a study not yet reported; included studies must name their scale.
    scale: Scale | None = None
    timepoint: str
    timepoint_hours: Real


class Sample(StrictModel):
    planned: Count | None = None
    enrolled: Count | None = None
    analysed: Count | None = None
    # The trial registry's actual enrolment, where a source gives it: a gap between it and the
    # paper's count is a fact a risk-of-bias rater needs (participants enrolled, never reported).
    registry_enrolled: Count | None = None


# ---- evidence items: one class per form of evidence (SCIENCE.md section 4) ----------------


class _Item(StrictModel):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    outcome: str
    timepoint_hours: Real
    note: str | None = None


class PairedBinary(_Item):
    """Crossover: responders under each condition in the same participants."""

    kind: Literal["paired_binary"]
    pairs: Count
    responders_placebo: Count
    responders_naltrexone: Count
    # Participants who responded under both conditions, when the paper gives the 2x2 table.
    both_responded: Count | None = None


class ContrastStatistic(_Item):
    """A test statistic for the naltrexone-vs-placebo contrast, with an optional attenuation.

    ``attenuation`` is the reported proportional reduction of the improvement seen under
    ketamine + placebo (0.28 for "about 28% smaller").
    """

    kind: Literal["contrast_statistic"]
    statistic: Literal["F", "t", "z"]
    value: Real
    # An F has no sign: which way the contrast went must be stated (a t or z carries it).
    direction: Literal["attenuation", "enhancement"] | None = None
    df_numerator: Count | None = None
    df: Count | None = None
    participants: Count
    # The two contrasted arms of a parallel study, when reported; else ``participants`` is
    # taken as the two arms, split equally.
    n_ketamine_placebo: Count | None = None
    n_ketamine_naltrexone: Count | None = None
    p_value: Real | None = None
    attenuation: Real | None = None


class CountArm(StrictModel):
    condition: Condition
    label: str
    n: Count
    events: Count


class ArmCounts(_Item):
    """Parallel arms with binary counts; ``events`` may be a bound (lower/upper)."""

    kind: Literal["arm_counts"]
    arms: list[CountArm] = Field(min_length=2)


class SingleArmBinary(_Item):
    """One arm with no internal control: needs an external prior for ketamine alone."""

    kind: Literal["single_arm_binary"]
    condition: Literal["ketamine_naltrexone"]
    n: Count
    events: Count


class MeanArm(StrictModel):
    condition: Condition
    label: str
    n: Count
    mean_change: Real
    sd_change: Real


class ArmMeans(_Item):
    """Mean improvement (baseline minus follow-up, positive = better) and SD per condition."""

    kind: Literal["arm_means"]
    scale: Scale
    paired: bool
    arms: list[MeanArm] = Field(min_length=2)
    # Crossover only: correlation of the two conditions' changes, when the paper gives it.
    within_subject_correlation: Real | None = None


class IndividualData(_Item):
    """Individual participant data: a CSV beside the study file.

    Columns: ``participant``, ``condition`` (one of the conditions), ``change`` (improvement
    on ``scale``, positive = better). In a crossover each participant has two rows.
    """

    kind: Literal["ipd"]
    scale: Scale
    paired: bool
    file: str
    status: Status
    source: str
    note: str


EvidenceItem = Annotated[
    PairedBinary | ContrastStatistic | ArmCounts | SingleArmBinary | ArmMeans | IndividualData,
    Field(discriminator="kind"),
]
# kind -> class, read off the union so that adding a class to it is the whole schema change.
EVIDENCE_CLASSES: dict[str, type[_Item]] = {
    get_args(cls.model_fields["kind"].annotation)[0]: cls
    for cls in get_args(get_args(EvidenceItem)[0])
}
EVIDENCE_KINDS = tuple(EVIDENCE_CLASSES)


class StudyFile(StrictModel):
    """One study, as written in ``data/studies/<id>.toml``."""

    schema_version: Literal[1]
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    status: StudyStatus
    exclusion_reason: str | None = None
    citation: Citation
    design: Design
    ketamine: Ketamine
    naltrexone: Naltrexone
    outcome: Outcome
    sample: Sample
    # Study-level covariates a user may add to the regression on the blockade fraction.
    covariates: dict[str, float] = Field(default_factory=dict)
    sources: dict[str, Source]
    disputes: dict[str, Dispute] = Field(default_factory=dict)
    evidence: list[EvidenceItem] = Field(default_factory=list)


Unit = Literal[
    "probability", "proportion", "smd", "odds_ratio", "ratio", "hours", "days", "points", "count"
]


class LiteratureInput(Quantity[float]):
    """A literature number for a prior; its unit lets check-data range-check it."""

    unit: Unit


class LiteratureFile(StrictModel):
    """Literature inputs for priors (``data/literature/*.toml``), in the same number form."""

    schema_version: Literal[1]
    sources: dict[str, Source]
    inputs: dict[str, LiteratureInput]
