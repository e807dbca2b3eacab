"""Design files: a candidate next study, as `python -m analyses design DESIGN.toml` reads it."""

from __future__ import annotations

import unicodedata
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
from pydantic_core import PydanticCustomError

from models.evidence.load import _problem_from_error
from models.evidence.problems import InputError, Problem, read_toml
from models.evidence.validate import MAX_HOURS, NOT_IN_DRAWN_TEXT, PLACEHOLDER

# Participants per arm (parallel) or pairs (crossover): at least 2, and a slip like 1e9 is
# refused before it is simulated.
SampleSize = Annotated[int, Field(ge=2, le=100_000)]
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


def one_line(text: str) -> str:
    """``text`` if it prints as one line with no '$' (figures read $...$ as mathematics)."""
    if NOT_IN_DRAWN_TEXT in text or not text.isprintable():
        raise ValueError(
            "one line of printable text without '$' (no tabs, control or invisible "
            "characters; figures read $...$ as mathematics)"
        )
    return text


def _same(label: str) -> str:
    """A label as a reader tells labels apart: case, spacing and Unicode form ignored."""
    return " ".join(unicodedata.normalize("NFKC", label).casefold().split())


def _rule(found: str, expected: str) -> PydanticCustomError:
    """A rule across fields, its found and expected kept apart for the message."""
    return PydanticCustomError(
        "design_rule", "{found}: {expected}", {"found": found, "expected": expected}
    )


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

    @field_validator("label", "note")
    @classmethod
    def _printable(cls, text: str, info) -> str:
        # Both are printed in the report; the label is also written into the candidate's study
        # file, whose checks refuse the new-study template's placeholder.
        if info.field_name == "label" and text.strip() == PLACEHOLDER:
            raise ValueError("the population in words (the template's placeholder is still there)")
        return one_line(text)


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
            allowed = " or ".join(map(repr, CONTROLS[self.type]))
            raise _rule(f"control {self.control!r}", f"a {self.type} design can have {allowed}")
        return self

    @field_validator("label")
    @classmethod
    def _drawable(cls, label: str) -> str:
        return one_line(label)

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

    @field_validator("sample_sizes")
    @classmethod
    def _distinct(cls, sizes: list[int]) -> list[int]:
        # A repeated size would be simulated twice and its tables merged under one n.
        if len(set(sizes)) < len(sizes):
            raise ValueError("each sample size once")
        return sizes

    @model_validator(mode="after")
    def _one_population_a_regimen(self):
        # A transport shift moves the regimen's pooled fraction as the new population sees
        # it, so studies of one regimen in a programme must be of one population.
        for regimen in ("acute", "sustained"):
            populations = list(
                dict.fromkeys(s.population for s in self.studies if s.regimen == regimen)
            )
            if len(populations) > 1:
                shown = " and ".join(
                    f"(label {p.label!r}, transport_sd {p.transport_sd:g}, note {p.note!r})"
                    for p in populations
                )
                raise _rule(
                    f"{regimen} studies of {len(populations)} populations: {shown}",
                    "studies of one regimen share one population (the same [population] table)",
                )
        return self

    @model_validator(mode="after")
    def _labels_tell_studies_apart(self):
        labels = [s.label for s in self.studies]
        told = [_same(label) for label in labels]
        if self.programme and (not all(told) or len(set(told)) < len(told)):
            raise _rule(
                f"labels {labels}",
                "a label for each study of a programme, no two alike (ignoring case and spaces)",
            )
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
    design = dict(raw["design"])
    problems = []
    if "studies" in design:  # the model's own name for them: never a key of the file
        design.pop("studies")
        expected = "a programme's studies as [[design.study]] tables ('study', singular)"
        problems.append(Problem(label, "design", "studies", "unknown field 'studies'", expected))
    single = "study" not in design
    whole = {k: v for k, v in design.items() if k in DESIGN_KEYS}
    if single:
        studies = [{k: v for k, v in design.items() if k not in DESIGN_KEYS}]
    else:
        studies = design["study"]
        whole |= {k: v for k, v in design.items() if k not in (*DESIGN_KEYS, "study")}
    try:
        spec = DesignSpec.model_validate({**whole, "studies": studies})
    except ValidationError as err:
        problems += [_problem(e, design, label, single) for e in err.errors()]
    if problems:
        raise InputError(problems)
    return spec


def _problem(error: dict, design: dict, label: str, single: bool) -> Problem:
    """A validation error as the user wrote the file: a single study's fields in [design],
    a programme's as study[i]."""
    loc = tuple(error["loc"])
    if error["type"] == "design_rule":  # a rule across fields
        ctx = error["ctx"]
        field = "study" if len(loc) < 2 else "control" if single else f"study[{loc[1]}].control"
        return Problem(label, "design", field, ctx["found"], ctx["expected"])
    if loc[:1] == ("studies",):
        loc = loc[2:] if single else ("study", *loc[1:])
    if error["type"] == "extra_forbidden":
        return _unknown(label, loc, single)
    root = Candidate if single and loc and loc[0] not in DESIGN_KEYS else DesignSpec
    # Without their 'id' keys, which the walker would take for the names of list items.
    walked = design
    if isinstance(design.get("study"), list):
        studies = [
            {k: v for k, v in d.items() if k != "id"} if isinstance(d, dict) else d
            for d in design["study"]
        ]
        walked = {**design, "study": studies}
    return _problem_from_error({**error, "loc": loc}, walked, label, "design", root)


def _unknown(label: str, loc: tuple, single: bool) -> Problem:
    """An unknown field, with the fields known where it was found."""
    where = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")
    found = f"unknown field '{loc[-1]}'"
    candidate = [f for f in Candidate.model_fields]
    if "population" in loc[:-1]:
        known = list(Population.model_fields)
    elif len(loc) > 1:  # inside a programme's study
        known = candidate
    elif single:
        known = [*DESIGN_KEYS, *candidate, "study"]
    elif loc[-1] in candidate:
        expected = "a study's field: in a programme it belongs in its [[design.study]] table"
        return Problem(label, "design", where, found, expected)
    else:
        known = [*DESIGN_KEYS, "study"]
    return Problem(label, "design", where, found, f"one of the known fields: {', '.join(known)}")
