"""The sensitivity suite and the cumulative analysis (SCIENCE.md section 6): what each changes.

Every scenario is one change from the primary analysis: a prior set or slot, a study left
out, a reading of a disputed number, a fixed nuisance, a structural option, or the studies
published up to a year. This module only says what each scenario is; the runner
(:mod:`analyses.suite.runner`) fits them as data of one compiled model, reweights the
primary posterior for the prior-only ones where PSIS allows (:mod:`analyses.suite.reweight`),
and re-reads the primary posterior for the threshold grid.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from scipy.stats import norm

from analyses.report.symbols import text_symbol
from models.blockade import ModelOptions
from models.distributions import describe_spec, scipy_dist, written_spec
from models.evidence.load import Evidence
from models.priors import NAMED_SETS, PriorSpec, load_priors

# What figures and the report call the analysis every scenario changes one thing of: never
# "primary", which names a hypothesis.
MAIN = "main analysis"
# Threshold pairs (primary, permissive) re-read from the primary posterior, no refit.
THRESHOLD_GRID = [(p, q) for p in (0.4, 0.5, 0.6) for q in (0.1, 0.2, 0.3)]
# Between-study SD of beta: the primary HalfNormal(0.2) is mostly prior with two studies per
# regimen, so wider priors are run: two half-normals and a heavy-tailed half-Cauchy.
TAU_BETA_ALTERNATIVES = (
    {"dist": "halfnormal", "sigma": 0.5},
    {"dist": "halfnormal", "sigma": 1.0},
    {"dist": "halfcauchy", "beta": 0.2},
)
# The specific share fixed at the ends of its prior's central 95% (and at 1, in the config).
SPECIFIC_SHARE_ENDS = (0.025, 0.975)
# The single arm's external control: widened to a probit SD of 1 (95% between about 3% and
# 97% response), and re-centred on the highest ketamine-arm rate among the literature inputs.
EXTERNAL_WIDE_SD = 1.0
EXTERNAL_RECENTRE_INPUT = "han2016_response_ketamine_24h"
# A larger early-stopping factor: what an interim rule of McNemar p < 0.02 makes of a
# Williams-like crossover at full blockade of the mean ketamine effect (true probit contrast
# 0.87): 2.00 in docs/science.md's table (models/early_stopping.py; the middle rule of three,
# at the contrast the 'primary' reading implies). The prior's SD is kept.
STOPPING_RULE_FACTOR = 2.0
STOPPING_RULE = {"alpha": 0.02, "contrast": 0.87}


@dataclass(frozen=True)
class Scenario:
    """One refit: what differs from the primary analysis, as data.

    ``name`` is the scenario's key (``sensitivity.csv``'s ``scenario`` column, which the report,
    the tests and users' scripts match); ``label`` is what figures and the report show a
    reader, in words and the symbols of docs/science.md; ``change`` says it in full.
    """

    name: str
    change: str
    priors: dict  # PriorSpec as JSON-able dict
    options: dict  # ModelOptions as dict
    readings: dict = field(default_factory=dict)
    studies: tuple[str, ...] | None = None  # None: every included study
    kind: str = "sensitivity"  # or "cumulative"
    step: int | None = None
    label: str = ""

    @property
    def shown(self) -> str:
        """What a reader sees: the label, or the name where a scenario has none."""
        return self.label or self.name


def _prior_dict(spec: PriorSpec) -> dict:
    return spec.to_dict()


def _spec(d: dict) -> PriorSpec:
    return PriorSpec(d["name"], d["slots"], d.get("derivations", {}), d.get("source", ""))


def _options(d: dict) -> ModelOptions:
    """The options of ``ModelOptions.to_dict``: its lists back to tuples."""
    return ModelOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


@dataclass
class _Builder:
    """Collects scenarios that differ from the primary analysis in one respect each."""

    primary_priors: dict
    options: dict
    readings: dict
    out: list[Scenario] = field(default_factory=list)

    def add(self, name: str, label: str, change: str, **kw) -> None:
        priors = kw.pop("priors", self.primary_priors)
        options = kw.pop("options", self.options)
        readings = kw.pop("readings", self.readings)
        self.out.append(Scenario(name, change, priors, options, readings, label=label, **kw))

    def fixed_slot(self, name: str, change: str, slot: str, value: float, tag: str) -> None:
        """A scenario with one prior slot fixed at a value; its label names the slot's symbol."""
        label = f"{_words(slot)} fixed at {value:g}"
        self.slot(name, label, change, slot, {"dist": "fixed", "value": value}, tag)

    def slot(self, name: str, label: str, change: str, slot: str, spec: dict, tag: str) -> None:
        """A scenario with one prior slot replaced by ``spec``."""
        p = self.primary_priors
        slots = {**p["slots"], slot: spec}
        self.add(name, label, change, priors={**p, "name": f"{p['name']}+{tag}", "slots": slots})


# How a label words a prior slot before its symbol ("Specific share κ_s fixed at 1"), as
# docs/science.md names them. γ is the share of the placebo improvement naltrexone removes,
# not the complement of κ_s.
SLOT_WORDS = {
    "within_subject_correlation": "Within-subject correlation",
    "specific_share": "Specific share",
    "nonspecific_share": "Placebo share",
    "tau_beta": "Between-study SD",
}
EARLY_FACTOR = f"Early-stopping factor e^{text_symbol('early_stop_log_exaggeration')}"


def _words(slot: str) -> str:
    words = SLOT_WORDS.get(slot, slot.replace("_", " ").capitalize())
    return f"{words} {text_symbol(slot)}"


def _single_arm_names(base: Evidence) -> list[str]:
    """The included single-arm studies by name: whose external control the labels mean."""
    return [s.label for s in base.included if s.design.type == "single_arm"]


def _set_name(key: str) -> str:
    """A prior set's key as words: ``opioid_favouring`` -> ``opioid-favouring``."""
    return key.replace("_", "-")


def _prior_set_scenarios(b: _Builder, base: Evidence, config, priors: PriorSpec) -> None:
    for name in NAMED_SETS:
        if name != priors.name:
            spec = _prior_dict(load_priors(name, base.literature))
            b.add(
                f"priors: {name}",
                f"Prior set: {_set_name(name)}",
                f"the {_set_name(name)} prior set instead of the {_set_name(priors.name)} one",
                priors=spec,
            )
    for path in config.sensitivity.prior_files:
        spec = load_priors(path, base.literature)
        b.add(
            f"priors: {spec.name}",
            f"Prior file: {spec.name}",
            f"user prior file {path}",
            priors=_prior_dict(spec),
        )


def _fixed_nuisance_scenarios(b: _Builder, config) -> None:
    for rho in config.sensitivity.correlations:
        b.fixed_slot(
            f"within-subject correlation {rho:g}",
            f"correlation fixed at {rho:g} (not reported by any study)",
            "within_subject_correlation",
            rho,
            f"rho{rho:g}",
        )
    if config.sensitivity.specific_share_one:
        b.fixed_slot(
            "specific_share fixed at 1",
            "reported attenuation read as a share of ketamine's specific effect",
            "specific_share",
            1.0,
            "kappa1",
        )


def _prior_slot_scenarios(b: _Builder, base: Evidence) -> None:
    """What the answer silently leans on: tau_beta, the specific share, the external control."""
    slots = b.primary_priors["slots"]
    for spec in TAU_BETA_ALTERNATIVES:
        text, written = describe_spec(spec), written_spec(spec)
        now = written_spec(slots["tau_beta"])
        label = f"{_words('tau_beta')} ~ {written}"
        change = f"between-study SD of β ~ {written} instead of {now}"
        b.slot(f"tau_beta {text}", label, change, "tau_beta", spec, text)
    kappa = slots["specific_share"]
    if kappa["dist"] != "fixed":
        for q in SPECIFIC_SHARE_ENDS:
            value = round(float(scipy_dist(kappa).ppf(q)), 3)
            b.fixed_slot(
                f"specific_share fixed at {value:g}",
                f"specific share fixed at its prior's {100 * q:g}% quantile",
                "specific_share",
                value,
                f"kappa{value:g}",
            )
    gamma = slots.get("nonspecific_share", {})
    if gamma and not (gamma["dist"] == "fixed" and gamma["value"] == 0):
        b.fixed_slot(
            "nonspecific_share fixed at 0",
            "naltrexone leaves the placebo improvement intact (γ = 0)",
            "nonspecific_share",
            0.0,
            "gamma0",
        )
    _literature_variants(b, base)
    _external_control_scenarios(b, base)


def _external_control_scenarios(b: _Builder, base: Evidence) -> None:
    """The single-arm studies' external control: widened, and re-centred on a literature rate."""
    external = b.primary_priors["slots"].get("external_response_probit", {})
    if external.get("dist") != "normal":
        return
    whose = " and ".join(_single_arm_names(base))
    whose = f"{whose}'s external control" if whose else "The single arm's external control"
    now = written_spec(external)
    wide = {**external, "sigma": EXTERNAL_WIDE_SD}
    b.slot(
        "ketamine_response of the single arm's external control: SD 1",
        f"{whose}: probit SD {EXTERNAL_WIDE_SD:g} (not {external['sigma']:g})",
        f"the external control's response probit ~ {written_spec(wide)} instead of {now}",
        "external_response_probit",
        wide,
        "external_wide",
    )
    found = base.literature.inputs[EXTERNAL_RECENTRE_INPUT]
    rate, centre = found.value, float(norm.cdf(external["mu"]))
    moved = {**external, "mu": round(float(norm.ppf(rate)), 4)}
    b.slot(
        f"ketamine_response of the single arm's external control: {100 * rate:.1f}%",
        f"{whose}: centred on {100 * rate:.1f}% response (not {100 * centre:.1f}%)",
        f"the external control's response probit ~ {written_spec(moved)} instead of {now}, "
        f"centred on the literature's {100 * rate:.1f}% ({found.note.rstrip('.').lower()}; "
        f"input {EXTERNAL_RECENTRE_INPUT})",
        "external_response_probit",
        moved,
        "external_recentred",
    )


def _literature_variants(b: _Builder, base: Evidence) -> None:
    """The narrower literature priors of earlier versions, where the primary set uses them."""
    slots = b.primary_priors["slots"]
    source = b.primary_priors.get("derivations", {})
    if "specific_share" in source:
        m = base.literature.inputs["murrough2013_specific_share"].value
        narrow = {"dist": "beta", "alpha": round(m * 10, 4), "beta": round((1 - m) * 10, 4)}
        b.slot(
            "specific_share concentration 10",
            f"{_words('specific_share')} ~ {written_spec(narrow)} (concentration 10)",
            f"specific share κ_s ~ {written_spec(narrow)} instead of "
            f"{written_spec(slots['specific_share'])}: the narrower prior that ignores the "
            "midazolam-vs-saline mismatch",
            "specific_share",
            narrow,
            "kappa_c10",
        )
    if "early_stop_log_exaggeration" in source:
        q = base.literature.inputs["bassler2010_ratio_of_relative_risks"]
        se_mean = (math.log(q.ci95[1]) - math.log(q.ci95[0])) / 3.92
        mean_only = {**slots["early_stop_log_exaggeration"], "sigma": round(se_mean, 4)}
        b.slot(
            "early_stop_log_exaggeration SD of the pooled mean",
            f"{EARLY_FACTOR}: SD of Bassler's pooled mean only",
            "early-stopping factor with the SD of Bassler's pooled mean, as if every truncated "
            "trial exaggerated by exactly the average",
            "early_stop_log_exaggeration",
            mean_only,
            "early_mean_sd",
        )
        now = slots["early_stop_log_exaggeration"]
        larger = {**now, "mu": round(math.log(STOPPING_RULE_FACTOR), 4)}
        b.slot(
            f"early_stop_log_exaggeration centred on {STOPPING_RULE_FACTOR:g}",
            f"{EARLY_FACTOR} centred on {STOPPING_RULE_FACTOR:g} (not {math.exp(now['mu']):.2f})",
            f"early-stopping factor centred on {STOPPING_RULE_FACTOR:g} instead of "
            f"{math.exp(now['mu']):.2f}: what an interim rule of McNemar p < 0.02 would make of "
            "Williams 2018 at full blockade",
            "early_stop_log_exaggeration",
            larger,
            "early_rule",
        )


def _reading_scenarios(b: _Builder, base: Evidence, included: list[str]) -> None:
    for sid, dispute, alternatives, default in base.disputes():
        if sid not in included:
            continue
        used = b.readings.get(sid, {}).get(dispute, default)
        for reading in alternatives:
            if reading != used:
                picks = {**b.readings, sid: {**b.readings.get(sid, {}), dispute: reading}}
                study = base.study(sid)
                shown = study.disputes[dispute].shown
                b.add(
                    f"reading {sid}.{dispute} = {reading}",
                    f"{study.label}: {shown(reading)}",
                    f"{study.label}: {shown(reading)}, instead of {shown(used)}",
                    readings=picks,
                )


def _bias_scenario(b: _Builder, options: ModelOptions) -> None:
    bias = options.early_stopping_bias
    b.add(
        "early-stopping bias " + ("off" if bias else "on"),
        f"{EARLY_FACTOR} " + ("removed" if bias else "added"),
        "bias term for early-stopped trials " + ("removed" if bias else "added"),
        options={**b.options, "early_stopping_bias": not bias},
    )


def _structure_scenarios(b: _Builder, options: ModelOptions, base: Evidence) -> None:
    opt = b.options
    single = options.include_single_arm
    arms = ", ".join(_single_arm_names(base))
    b.add(
        "single-arm evidence " + ("excluded" if single else "included"),
        f"Single-arm evidence{f' ({arms})' if arms else ''} {'left out' if single else 'added'}",
        "single-arm studies " + ("dropped" if single else "added"),
        options={**opt, "include_single_arm": not single},
    )
    if options.ketamine_effect == "by_comparator":
        b.add(
            "ketamine_effect pooled across comparators",
            f"Ketamine's effect {text_symbol('ketamine_effect')} pooled across comparators",
            "every study's ketamine effect pooled around the saline-controlled 24-h effect",
            options={**opt, "ketamine_effect": "pooled"},
        )
    if options.nonspecific_share == "prior":
        b.add(
            "nonspecific_share equal to beta",
            f"{_words('nonspecific_share')} equal to β",
            "naltrexone removes the same share of the placebo improvement as of "
            "ketamine's specific effect (γ = β)",
            options={**opt, "nonspecific_share": "equal_beta"},
        )
    other = "log_hours" if options.moderator == "regimen" else "regimen"
    b.add(
        f"timing moderator: {other}",
        f"Timing moderator: {'log hours of blockade' if other == 'log_hours' else 'two levels'}",
        f"{'continuous log-hours' if other == 'log_hours' else 'two-level'} timing moderator",
        options={**opt, "moderator": other},
    )


def _cumulative_steps(b: _Builder, resolved: Evidence, included: list[str]) -> None:
    years = sorted({s.citation.year for s in resolved.included})
    for step, year in enumerate(years, start=1):
        upto = [s for s in resolved.included if s.citation.year <= year]
        # The last step holds every study: it is the primary analysis, not refitted.
        b.add(
            f"cumulative to {year}",
            f"Studies up to {year}",
            f"studies published up to {year}: {', '.join(s.label for s in upto)}",
            studies=None if len(upto) == len(included) else tuple(s.id for s in upto),
            kind="cumulative",
            step=step,
        )


def refitted(scenarios: list[Scenario]) -> list[Scenario]:
    """The scenarios that need a fit of their own: all but the last cumulative step, which
    holds every study and is the primary fit itself."""
    return [sc for sc in scenarios if not (sc.kind == "cumulative" and sc.studies is None)]


def primary_scenario(config, priors: PriorSpec) -> Scenario:
    """The primary analysis as a scenario: what every other scenario changes one thing of."""
    readings = {k: dict(v) for k, v in config.analysis.readings.items()}
    options = asdict(config.model.options())
    return Scenario(
        "primary", "the primary analysis", _prior_dict(priors), options, readings, label=MAIN
    )


def build_scenarios(base: Evidence, config, priors: PriorSpec) -> list[Scenario]:
    """Every scenario of the suite, plus the cumulative steps, in report order."""
    options = config.model.options()
    primary = primary_scenario(config, priors)
    readings = primary.readings
    resolved = base.resolve(readings)
    included = [s.id for s in resolved.included]
    b = _Builder(primary.priors, primary.options, readings)
    _prior_set_scenarios(b, base, config, priors)
    for sid in included:
        b.add(
            f"leave out {sid}",
            f"{base.study(sid).label} left out",
            f"{base.study(sid).label} removed",
            studies=tuple(s for s in included if s != sid),
        )
    _bias_scenario(b, options)
    _reading_scenarios(b, base, included)
    _fixed_nuisance_scenarios(b, config)
    _prior_slot_scenarios(b, base)
    _structure_scenarios(b, options, base)
    _cumulative_steps(b, resolved, included)
    return b.out
