"""Design files: a candidate next study, as `python -m analyses design DESIGN.toml` reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

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


class DesignSpec(_Strict):
    """A candidate study: regimen, design type, control arm, outcome form and sample sizes."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=40)
    description: str = ""
    regimen: Literal["acute", "sustained"]
    type: Literal["crossover", "parallel"]
    control: Literal["none", "saline", "midazolam"] = "none"
    # The outcome form: response at 24 h, a binary outcome (paired margins in a crossover,
    # counts per arm in a parallel trial).
    outcome: Literal["response"] = "response"
    hours_before: float = Field(default=0.0, ge=0.0, le=MAX_HOURS, allow_inf_nan=False)
    sample_sizes: list[SampleSize] = Field(min_length=1, max_length=MAX_SAMPLE_SIZES)
    population: Population

    @model_validator(mode="after")
    def _control_fits_type(self):
        if self.control not in CONTROLS[self.type]:
            raise ValueError(
                f"control {self.control!r}: a {self.type} design can have "
                f"{' or '.join(map(repr, CONTROLS[self.type]))}"
            )
        return self

    def hours(self) -> float:
        """Naltrexone-to-ketamine hours (0: the regimen's reference, 45 min or 4 days)."""
        return self.hours_before or (0.75 if self.regimen == "acute" else 96.0)

    def to_dict(self) -> dict:
        return self.model_dump()


def load_design(path: Path) -> DesignSpec:
    """Read and check a design file; InputError names the file, the field and what is wrong."""
    raw = read_toml(path, "design", "a design file (.toml)")
    label = str(path)
    if not isinstance(raw.get("design"), dict) or set(raw) - {"design"}:
        found = f"top-level keys {sorted(raw)}"
        raise InputError([Problem(label, "design", "", found, "one [design] table")])
    try:
        return DesignSpec.model_validate(raw["design"])
    except ValidationError as err:
        problems = []
        for e in err.errors():
            p = _problem_from_error(e, raw["design"], label, "design", DesignSpec)
            problems.append(p if p.field else Problem(label, "design", "control", *_control(e)))
        raise InputError(problems) from None


def _control(error: dict) -> tuple[str, str]:
    """The (found, expected) of the control/type check, from its message."""
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    found, _, expected = message.partition(": ")
    return found, expected or "a control arm the design type can have"
