"""Run configurations: ``analyses/<name>.toml``, validated before anything runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from analyses.inference.hypotheses import Thresholds
from analyses.inference.sampling import SamplerSettings
from models.blockade import ModelOptions
from models.evidence.load import _problem_from_error
from models.evidence.problems import InputError, read_toml
from models.evidence.validate import MAX_HOURS
from models.likelihoods import RHO_MAX

ANALYSES_DIR = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ANALYSES_DIR / "primary.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class AnalysisSection(_Section):
    # Part of every run id and folder name, so short and filesystem-safe.
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=40)
    description: str = ""
    priors: str = "neutral"
    # study id -> {dispute -> reading}; unnamed disputes take their default reading
    readings: dict[str, dict[str, str]] = Field(default_factory=dict)


# Hours of blockade before ketamine: above 0 (the log-hours moderator takes logs) and at most a
# year, as in study files.
Hours = Annotated[float, Field(gt=0, le=MAX_HOURS, allow_inf_nan=False)]
# A threshold-curve grid point is a blockade-fraction threshold, as the thresholds are.
GridPoint = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]


class ModelSection(_Section):
    moderator: str = Field(default="regimen", pattern=r"^(regimen|log_hours)$")
    covariates: list[str] = Field(default_factory=list)
    early_stopping_bias: bool = True
    include_single_arm: bool = True
    nonspecific_share: str = Field(default="prior", pattern=r"^(prior|equal_beta)$")
    ketamine_effect: str = Field(default="by_comparator", pattern=r"^(by_comparator|pooled)$")
    acute_reference_hours: Hours = 0.75
    sustained_reference_hours: Hours = 96.0
    # The range of naltrexone-to-ketamine hours a study that does not report them may have.
    unknown_hours: list[Hours] = Field(
        default_factory=lambda: [2.0, 672.0], min_length=2, max_length=2
    )

    @model_validator(mode="after")
    def _ordered(self):
        if not self.acute_reference_hours < self.sustained_reference_hours:
            raise ValueError("acute_reference_hours must be below sustained_reference_hours")
        if not self.unknown_hours[0] < self.unknown_hours[1]:
            raise ValueError("unknown_hours must be [lower, upper] with lower < upper")
        return self

    def options(self) -> ModelOptions:
        return ModelOptions(
            moderator=self.moderator,
            covariates=tuple(self.covariates),
            early_stopping_bias=self.early_stopping_bias,
            include_single_arm=self.include_single_arm,
            nonspecific_share=self.nonspecific_share,
            ketamine_effect=self.ketamine_effect,
            acute_reference_hours=self.acute_reference_hours,
            sustained_reference_hours=self.sustained_reference_hours,
            unknown_hours=(self.unknown_hours[0], self.unknown_hours[1]),
        )


class HypothesesSection(Thresholds):
    """The thresholds, and the grids of the threshold-sensitivity curve."""

    primary_grid: list[GridPoint] = Field(
        default_factory=lambda: [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8],
        min_length=1,
        max_length=100,
    )
    permissive_grid: list[GridPoint] = Field(
        default_factory=lambda: [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45],
        min_length=1,
        max_length=100,
    )

    @property
    def thresholds(self) -> Thresholds:
        """The thresholds alone (the grids are for the threshold curve only)."""
        return Thresholds(self.primary, self.permissive)


class SensitivitySection(_Section):
    enabled: bool = True
    prior_files: list[str] = Field(default_factory=list)  # user prior files, run as scenarios
    # Each is fixed in a scenario; the paired-binary quadrature holds for 0 <= rho <= 0.9.
    correlations: list[Annotated[float, Field(ge=0.0, le=RHO_MAX)]] = Field(
        default_factory=lambda: [0.3, 0.5, 0.8]
    )
    specific_share_one: bool = True  # a scenario reading Jelen's attenuation as specific
    # A scenario that changes only a prior reweights the primary posterior (PSIS) where the
    # Pareto k-hat allows it (analyses.suite.reweight), and is refitted otherwise.
    reweight: bool = True
    # The refits' target acceptance (the primary fit keeps [sampler] target_accept). At 0.9,
    # 14 of 90 refits of the shipped scenarios (three seeds; the half-Cauchy tau_beta, which
    # diverges at either, aside) had one or two divergent transitions and paid the gate's
    # retry, about 2.2 s each; at 0.95, 3 of 90, for 5% more sampling time a refit (AMD
    # EPYC, 2026-12-03, docs/performance.md).
    target_accept: float = Field(default=0.95, gt=0.5, lt=1.0)


class OutputSection(_Section):
    # Empty would write runs into the project folder itself, beside data/.
    results_dir: str = Field(default="results", min_length=1)


class RunConfig(_Section):
    """A whole run configuration."""

    analysis: AnalysisSection
    model: ModelSection = Field(default_factory=ModelSection)
    sampler: SamplerSettings
    hypotheses: HypothesesSection = Field(default_factory=HypothesesSection)
    sensitivity: SensitivitySection = Field(default_factory=SensitivitySection)
    output: OutputSection = Field(default_factory=OutputSection)

    @property
    def refit_sampler(self) -> SamplerSettings:
        """The sampler settings of the suite's refits: the primary's, at the suite's target."""
        return self.sampler.model_copy(update={"target_accept": self.sensitivity.target_accept})


def load_config(path: Path | None = None) -> tuple[RunConfig, dict]:
    """Read and validate a run configuration; returns it and its raw TOML (for the manifest).

    Raises
    ------
    InputError
        Naming the file, the field, what was found and what was expected.
    """
    path = Path(path or DEFAULT_CONFIG)
    label = str(path)
    raw = read_toml(path, "config", "a run configuration (.toml)")
    try:
        config = RunConfig.model_validate(raw)
    except ValidationError as err:
        raise InputError(
            [_problem_from_error(e, raw, label, "config", RunConfig) for e in err.errors()]
        ) from None
    return config, raw
