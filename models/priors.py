"""Prior sets: small TOML files mapping each model slot to a distribution spec.

A prior set may ``extends = "neutral"`` (a named set) and override some slots. Slots may take
``{dist = "literature"}`` to use the rule in :mod:`models.literature`. :func:`load_priors`
returns a :class:`PriorSpec` whose slots are all concrete, with the derivation of each
literature-based slot, ready to be stored in a result's attrs.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.distributions import scipy_dist, spec_error
from models.evidence.problems import InputError, Problem, read_toml
from models.evidence.schema import LiteratureFile
from models.likelihoods import RHO_MAX
from models.literature import RULES, rule_problems

PRIORS_DIR = Path(__file__).resolve().parents[1] / "analyses" / "priors"
NAMED_SETS = ("neutral", "sceptical", "opioid_favouring")

# Every slot of the blockade model, with what it means. A prior file must fill all of them
# (directly or through `extends`), so no parameter is ever silently given a default.
SLOTS: dict[str, str] = {
    "beta_acute": "blockade fraction under acute blockade (oral naltrexone shortly before)",
    "beta_sustained": "blockade fraction under sustained blockade (depot days before)",
    "tau_beta": "between-study SD of the blockade fraction",
    "covariate_coef": "coefficient of each user covariate in the regression on beta",
    "ketamine_effect": "mean specific effect of ketamine (SMD, latent-normal scale)",
    "tau_ketamine": "between-study SD of ketamine's specific effect",
    "ketamine_effect_midazolam": "mean specific effect of ketamine against midazolam (SMD)",
    "tau_ketamine_course": "between-study SD of ketamine's effect after a course of infusions",
    "ketamine_response_probit": "probit of 24-h response to one ketamine infusion alone",
    "course_response_probit": "probit of response or remission after a course of infusions",
    "external_response_probit": "probit of response to one infusion alone, for a single arm",
    "specific_share": "share of the improvement under ketamine + placebo that is specific",
    "within_subject_correlation": "correlation of one participant's latent outcomes in two periods",
    "early_stop_log_exaggeration": "log factor inflating an early-stopped trial's contrast",
    "nonspecific_improvement": "standardized improvement without ketamine",
    "nonspecific_share": "share of the non-specific improvement that naltrexone removes",
}


# Slots whose values are bounded: a prior must keep them in range (a correlation of 7, or a
# normal prior on an SD, would give the sampler NaN). An SD's prior lies on [0, inf); the
# quadrature of the paired-binary likelihood holds for correlations up to RHO_MAX; a
# specific share of 0 would make ketamine's effect all non-specific, so beta undefined.
SUPPORT: dict[str, tuple[float, float, str]] = {
    "tau_beta": (0.0, math.inf, "a between-study SD"),
    "tau_ketamine": (0.0, math.inf, "a between-study SD"),
    "tau_ketamine_course": (0.0, math.inf, "a between-study SD"),
    "within_subject_correlation": (0.0, RHO_MAX, "the paired-binary quadrature holds up to 0.9"),
    "specific_share": (0.0, 1.0, "a share, above 0"),
}
OPEN_AT_ZERO = {"specific_share"}


@dataclass(frozen=True)
class PriorSpec:
    """A resolved prior set.

    Attributes
    ----------
    name : str
        The set's name (file stem).
    slots : dict
        slot -> distribution spec, every slot concrete.
    derivations : dict
        slot -> how a literature-based slot's numbers were computed.
    source : str
        Where the set was read from.
    """

    name: str
    slots: dict[str, dict[str, Any]]
    derivations: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def __getitem__(self, slot: str) -> dict[str, Any]:
        return self.slots[slot]

    def with_slots(self, name: str, **slots: dict[str, Any]) -> PriorSpec:
        """A copy with some slots replaced (for sensitivity analyses)."""
        unknown = set(slots) - set(SLOTS)
        if unknown:
            raise KeyError(f"unknown prior slots {sorted(unknown)}; slots: {list(SLOTS)}")
        derivations = {k: v for k, v in self.derivations.items() if k not in slots}
        return PriorSpec(name, {**self.slots, **slots}, derivations, self.source)

    def to_dict(self) -> dict:
        """A plain, JSON-ready copy: what every result stores as its priors."""
        return copy.deepcopy(
            {
                "name": self.name,
                "slots": self.slots,
                "derivations": self.derivations,
                "source": self.source,
            }
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def resolve_path(name_or_path: str | Path) -> Path:
    """A named set (``neutral``) or a path to a prior file."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        return candidate
    return PRIORS_DIR / f"{name_or_path}.toml"


def load_priors(
    name_or_path: str | Path, literature: LiteratureFile, _chain: tuple[Path, ...] = ()
) -> PriorSpec:
    """Load a prior set by name or path, following ``extends`` and literature rules.

    Parameters
    ----------
    name_or_path : str or Path
        A named set in ``analyses/priors/`` or a path to a prior-set TOML file.
    literature : LiteratureFile
        The literature inputs that ``{dist = "literature"}`` slots are derived from.

    Returns
    -------
    PriorSpec
        Every slot concrete.

    Raises
    ------
    InputError
        Naming the file, the slot, what was found and what was expected.
    """
    path = resolve_path(name_or_path)
    if not path.exists() and path.parent == PRIORS_DIR:
        raise InputError([_no_such_set(name_or_path)])
    raw = read_toml(path, "priors", "a prior-set TOML file")
    label = str(path)
    problems = _unknown_keys(raw, label, path.stem)
    if "$" in path.stem:  # the set's name labels a scenario in the figures, as drawn text
        expected = "a file name without '$' (figures read text between two '$' as mathematics)"
        problems.append(Problem(label, path.stem, "file name", repr(path.name), expected))
    slots, derivations = _inherited(raw, literature, path, (*_chain, path.resolve()))
    given = raw.get("priors", {})
    if not isinstance(given, dict):
        problems.append(Problem(label, path.stem, "priors", repr(given), "a [priors] table"))
        given = {}
    for slot, spec in given.items():
        problem = _set_slot(slot, spec, slots, derivations, literature)
        if problem is not None:
            problems.append(Problem(label, path.stem, f"priors.{slot}", *problem))
    missing = [s for s in SLOTS if s not in slots]
    if missing:
        problems.append(
            Problem(
                label,
                path.stem,
                "priors",
                f"no prior for {missing}",
                "every slot filled, directly or through 'extends'",
            )
        )
    if problems:
        raise InputError(problems)
    return PriorSpec(path.stem, slots, derivations, str(path))


def _no_such_set(name_or_path: str | Path) -> Problem:
    named = sorted(p.stem for p in PRIORS_DIR.glob("*.toml"))
    return Problem(
        str(name_or_path),
        "priors",
        "",
        "no prior set of that name",
        f"one of {named} or a path to a .toml file",
    )


def _unknown_keys(raw: dict, label: str, stem: str) -> list[Problem]:
    return [
        Problem(
            label, stem, key, f"unknown key '{key}'", "only 'extends', 'description' and [priors]"
        )
        for key in raw
        if key not in ("extends", "description", "priors")
    ]


def _inherited(
    raw: dict, literature: LiteratureFile, path: Path, chain: tuple[Path, ...]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The slots and derivations of the set this one ``extends`` (none if it extends none).

    ``extends`` names a set (``neutral``) or a file; a relative path is read beside this file.
    """
    if "extends" not in raw:
        return {}, {}
    parent = raw["extends"]
    label, stem = str(path), path.stem
    if not isinstance(parent, str) or not parent.strip():
        expected = "the name of a prior set or a path to a prior file, as a string"
        raise InputError([Problem(label, stem, "extends", repr(parent), expected)])
    beside = path.parent / parent
    target = beside if beside.suffix == ".toml" and beside.exists() else resolve_path(parent)
    if not target.exists():
        named = sorted(p.stem for p in PRIORS_DIR.glob("*.toml"))
        expected = f"one of {named}, or a prior file (a relative path is read beside this file)"
        raise InputError([Problem(label, stem, "extends", repr(parent), expected)])
    if target.resolve() in chain:
        cycle = " -> ".join(p.name for p in (*chain, target.resolve()))
        raise InputError([Problem(label, stem, "extends", f"a cycle ({cycle})", "no cycle")])
    spec = load_priors(target, literature, chain)
    return dict(spec.slots), dict(spec.derivations)


def _set_slot(
    slot: str,
    spec: Any,
    slots: dict[str, Any],
    derivations: dict[str, str],
    literature: LiteratureFile,
) -> tuple[str, str] | None:
    """Fill ``slot`` from its spec (in place); (found, expected) if the spec is refused."""
    if slot not in SLOTS:
        return f"unknown slot '{slot}'", f"one of {', '.join(SLOTS)}"
    if isinstance(spec, dict) and spec.get("dist") == "literature":
        if slot not in RULES:
            return "dist = 'literature'", f"a literature rule exists only for {sorted(RULES)}"
        unusable = rule_problems(slot, literature)
        if unusable:
            field, found, expected = unusable[0]
            return f"dist = 'literature', but the literature file's {field} is {found}", expected
        spec, derivations[slot] = RULES[slot](literature)
    else:
        derivations.pop(slot, None)
    error = spec_error(spec) or support_error(slot, spec)
    if error:
        derivations.pop(slot, None)
        return repr(spec), error
    slots[slot] = dict(spec)
    return None


def support_error(slot: str, spec: dict) -> str | None:
    """Why a valid spec cannot be this slot's prior (its values outside the slot's range)."""
    if slot not in SUPPORT:
        return None
    lo, hi, meaning = SUPPORT[slot]
    if spec["dist"] == "fixed":
        inside = lo <= spec["value"] <= hi and not (slot in OPEN_AT_ZERO and spec["value"] == 0)
    else:
        low, high = scipy_dist(spec).support()
        inside = lo <= low and high <= hi
    return None if inside else f"a prior on [{lo:g}, {hi:g}] ({meaning})"
