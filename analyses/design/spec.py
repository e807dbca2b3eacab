"""Design files: a candidate next study, as `python -m analyses design DESIGN.toml` reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from models.evidence.load import _problem_from_error
from models.evidence.problems import InputError, Problem, read_toml
from models.evidence.validate import MAX_HOURS

# Participants per arm (parallel) or pairs (crossover): at least 2, and a slip like 1e9 is
# refused before it is simulated.
SampleSize = Annotated[int, Field(gt=0, le=100_000)]
# Which arms each design type can have besides ketamine + placebo and ketamine + naltrexone: a
# crossover compares the two within each participant; a parallel trial may add a control arm
# with no ketamine (saline or midazolam).
CONTROLS = {"crossover": ("none",), "parallel": ("none", "saline", "midazolam")}


# Sample sizes a design may list: each is a model a Dask worker compiles and keeps.
MAX_SAMPLE_SIZES = 20
# Studies in a programme: each adds its parameters to every refit.
MAX_PROGRAMME = 4
# The [design] keys of the design as a whole; in a single-study file every other key is the
# study's ([[design.study]] tables hold them in a programme).
DESIGN_KEYS = ("name", "description", "sample_sizes")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Population(_Strict):
    """Who the study enrols, and how far its blockade fraction may differ from the evidence's.

    ``transport_sd`` is the SD of a normal shift of the new study's beta from what today's
    evidence predicts for its regimen: 0 for the same population as the studies so far.
    """

    label: str = Field(min_length=1, max_length=200)
    transport_sd: float = Field(default=0.0, ge=0.0, le=5.0, allow_inf_nan=False)
    note: str = ""


class Candidate(_Strict):
    """One candidate study: regimen, design type, control arm, outcome form and population."""

    # Its name in a programme's report and design.csv ("acute trial"); a single study needs none.
    label: str = Field(default="", max_length=40)
    regimen: Literal["acute", "sustained"]
    type: Literal["crossover", "parallel"]
    control: Literal["none", "saline", "midazolam"] = "none"
    # The outcome form: response at 24 h, a binary outcome (paired margins in a crossover,
    # counts per arm in a parallel trial).
    outcome: Literal["response"] = "response"
    hours_before: float = Field(default=0.0, ge=0.0, le=MAX_HOURS, allow_inf_nan=False)
    population: Population

    @model_validator(mode="after")
    def _control_fits_type(self):
        if self.control not in CONTROLS[self.type]:
            raise ValueError(
                f"control {self.control!r}: a {self.type} design can have "
                f"{' or '.join(map(repr, CONTROLS[self.type]))}"
            )
        return self

    @field_validator("label")
    @classmethod
    def _drawable(cls, label: str) -> str:
        # It is drawn in figures (the study's label), where matplotlib reads $...$ as maths.
        if "$" in label or "\n" in label:
            raise ValueError("one line of text without '$' (figures read $...$ as mathematics)")
        return label

    def hours(self) -> float:
        """Naltrexone-to-ketamine hours (0: the regimen's reference, 45 min or 4 days)."""
        return self.hours_before or (0.75 if self.regimen == "acute" else 96.0)

    def unit(self) -> str:
        """What a sample size counts for this study."""
        return "pairs" if self.type == "crossover" else "participants per arm"


class DesignSpec(_Strict):
    """A design: one candidate study, or a programme of studies run side by side.

    A programme's studies are simulated from one draw of today's posterior (they share its
    population quantities) and appended to the evidence together; each has the sample size
    of the grid (per arm, or pairs).
    """

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=40)
    description: str = ""
    sample_sizes: list[SampleSize] = Field(min_length=1, max_length=MAX_SAMPLE_SIZES)
    studies: list[Candidate] = Field(min_length=1, max_length=MAX_PROGRAMME)

    @model_validator(mode="after")
    def _one_population_a_regimen(self):
        # A transport shift moves the regimen's pooled fraction as the new population sees
        # it, so studies of one regimen in a programme must be of one population.
        for regimen in ("acute", "sustained"):
            populations = {
                (s.population.label, s.population.transport_sd)
                for s in self.studies
                if s.regimen == regimen
            }
            if len(populations) > 1:
                raise ValueError(
                    f"{regimen} studies of {len(populations)} populations: studies of one "
                    "regimen in a programme share one [population] (label and transport_sd)"
                )
        labels = [s.label for s in self.studies]
        if len(self.studies) > 1 and (not all(labels) or len(set(labels)) < len(labels)):
            raise ValueError(f"labels {labels}: each study of a programme, a label of its own")
        return self

    @property
    def programme(self) -> bool:
        """Whether the design has more than one study."""
        return len(self.studies) > 1

    def regimens(self) -> list[str]:
        """The regimens its studies inform, in the order acute, sustained."""
        return [r for r in ("acute", "sustained") if any(s.regimen == r for s in self.studies)]

    def unit(self) -> str:
        """What a sample size counts, in words."""
        units = {s.unit() for s in self.studies}
        unit = units.pop() if len(units) == 1 else "pairs or participants per arm"
        return f"{unit}, in each study" if self.programme else unit

    def to_dict(self) -> dict:
        return self.model_dump()


def load_design(path: Path) -> DesignSpec:
    """Read and check a design file; InputError names the file, the field and what is wrong.

    A single study's fields sit in ``[design]`` itself; a programme lists its studies as
    ``[[design.study]]`` tables.
    """
    raw = read_toml(path, "design", "a design file (.toml)")
    label = str(path)
    if not isinstance(raw.get("design"), dict) or set(raw) - {"design"}:
        found = f"top-level keys {sorted(raw)}"
        raise InputError([Problem(label, "design", "", found, "one [design] table")])
    design = raw["design"]
    single = "study" not in design
    whole = {k: v for k, v in design.items() if k in DESIGN_KEYS}
    if single:
        studies = [{k: v for k, v in design.items() if k not in DESIGN_KEYS}]
    else:
        studies = design["study"]
        whole |= {k: v for k, v in design.items() if k not in (*DESIGN_KEYS, "study")}
    try:
        return DesignSpec.model_validate({**whole, "studies": studies})
    except ValidationError as err:
        problems = [_problem(e, design, label, single) for e in err.errors()]
        raise InputError(problems) from None


def _problem(error: dict, design: dict, label: str, single: bool) -> Problem:
    """A validation error as the user wrote the file: a single study's fields in [design],
    a programme's as study[i]."""
    loc = tuple(error["loc"])
    if error["type"] == "value_error" and len(loc) <= 2:  # a rule across fields: see its message
        found, _, expected = str(error["msg"]).removeprefix("Value error, ").partition(": ")
        if loc[:1] != ("studies",):
            return Problem(label, "design", "study", found, expected)
        field = "control" if single else f"study[{loc[1]}].control"
        return Problem(label, "design", field, found, expected)
    if loc[:1] == ("studies",):
        loc = loc[2:] if single else ("study", *loc[1:])
    root = Candidate if single and loc and loc[0] not in DESIGN_KEYS else DesignSpec
    return _problem_from_error({**error, "loc": loc}, design, label, "design", root)
