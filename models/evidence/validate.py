"""Rules that relate fields to each other, applied after the schema has parsed a file.

Each rule yields :class:`~models.evidence.problems.Problem` objects; nothing here raises.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from models.evidence.problems import Problem
from models.evidence.schema import Disputed, LiteratureFile, Quantity, StudyFile

# Field names by the rule their values obey. The names are the schema's own field names, so a
# new evidence form inherits the rules by reusing them.
DENOMINATORS = {
    "pairs",
    "n",
    "participants",
    "planned",
    "enrolled",
    "registry_enrolled",
    "analysed",
    "infusions",
}
DEGREES_OF_FREEDOM = {"df", "df_numerator"}
# numerator field -> the sibling field that is its denominator
NUMERATORS = {
    "responders_placebo": "pairs",
    "responders_naltrexone": "pairs",
    "both_responded": "pairs",
    "events": "n",
    "analysed": "enrolled",
}
# No number in a study file is this large: trial counts, doses, hours, statistics and
# covariates all sit orders of magnitude below it, while 1e23 (a slip of the exponent) or a
# mangled paste does not. Every number must also be finite: TOML accepts nan and inf.
MAX_MAGNITUDE = 1e6
STRICTLY_POSITIVE = {"sd_change", "dose_mg", "dose_mg_per_kg"}
NON_NEGATIVE = {"timepoint_hours", "hours_before_first_infusion"}
# A test statistic this close to 0 was reported as 0: an attenuation's SE (attenuation / t)
# and an F's t would overflow.
MIN_STATISTIC = 1e-6
# Hours between naltrexone and ketamine, or to a rating: depot naltrexone blocks for about a
# month; a year is a generous ceiling that still catches 999999.
MAX_HOURS = 24 * 365
# A citation year: the first ketamine antidepressant trial is from 2000; 1950 leaves room for
# older naltrexone work, and a year ahead of now admits a paper in press.
FIRST_YEAR = 1950
REGISTERED_YEARS_AHEAD = 10
PROBABILITIES = {"p_value"}
# A correlation lies in [-1, 1].
SIGNED_PROPORTIONS = {"within_subject_correlation"}
# A reported attenuation is a proportion of the improvement. A negative one (naltrexone
# *enhancing* ketamine) is possible, and so, in a small trial, is one beyond 1 (naltrexone
# removing more than the mean improvement): under the neutral prior, 2.9% of simulated
# attenuations exceed 1 in size and none of 5000 exceeded 2. "28" for 28% is the mistake the
# bound of 3 catches.
ATTENUATIONS = {"attenuation"}
MAX_ATTENUATION = 3.0


def walk_quantities(
    node: Any, path: str = ""
) -> Iterator[tuple[str, str, Quantity, Disputed | None, BaseModel | None]]:
    """Yield ``(path, field_name, quantity, disputed_parent, owner)`` for every number.

    A disputed number yields one entry per reading, with ``[reading]`` in its path.
    """
    if not isinstance(node, BaseModel) or isinstance(node, Quantity):
        return
    for name in type(node).model_fields:
        value = getattr(node, name)
        here = f"{path}.{name}" if path else name
        yield from _walk_value(value, here, name, node)


def _walk_value(value: Any, here: str, name: str, owner: BaseModel):
    if isinstance(value, Quantity):
        yield here, name, value, None, owner
    elif isinstance(value, Disputed):
        for reading, quantity in value.readings.items():
            yield f"{here}[{reading}]", name, quantity, value, owner
    elif isinstance(value, BaseModel):
        yield from walk_quantities(value, here)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            label = getattr(item, "id", None) or str(i)
            yield from _walk_value(item, f"{here}[{label}]", name, owner)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, BaseModel):
                yield from _walk_value(item, f"{here}.{key}", key, owner)


def check_study(study: StudyFile, file: str, stem: str) -> list[Problem]:
    """Every cross-field rule for one parsed study file.

    Parameters
    ----------
    study : StudyFile
        The parsed file, disputes unresolved.
    file : str
        The file's name as reported in problems.
    stem : str
        The file name without ``.toml``, which the study id must equal.

    Returns
    -------
    list of Problem
        Empty when every rule holds.
    """
    return [
        *_check_header(study, file, stem),
        *_check_drawn_text(study, file),
        *_check_placeholders(study, file),
        *_check_numbers(study, file),
        *_check_evidence(study, file),
    ]


PLACEHOLDER = "TODO"  # what the new-study template puts in every field to fill
# Figures draw a study's label, its arms' labels, its covariates' names and its disputes' and
# readings' names.
# matplotlib reads text between two '$' as mathematics and stops at what it cannot parse
# ("Smith $\frac$ 2024"), so those may not hold a '$'.
NOT_IN_DRAWN_TEXT = "$"
# A figure's tick label, one line: the longest label shipped is under 50 characters, and a
# reading's words under 50; 80 leaves room and still keeps a figure's margin in bounds.
MAX_DRAWN_TEXT = 80


def _drawn_text(study: StudyFile) -> Iterator[tuple[str, str]]:
    """(path, text) of every text of the study that a figure or a scenario's label shows."""
    yield "label", study.label
    for item in study.evidence:
        for i, arm in enumerate(getattr(item, "arms", None) or []):
            yield f"evidence[{item.id}].arms[{i}].label", arm.label
    for name in study.covariates:  # a covariate's coefficient is a coordinate in the views
        yield f"covariates.{name}", name
    for name, dispute in study.disputes.items():
        yield f"disputes.{name}", name
        for reading in dispute.readings:
            yield f"disputes.{name}.readings", reading
        for reading, words in dispute.words.items():
            yield f"disputes.{name}.words.{reading}", words


def _check_drawn_text(study: StudyFile, file: str) -> Iterator[Problem]:
    """A label the figures can draw: not blank, no '$' (:data:`NOT_IN_DRAWN_TEXT`), one line
    of at most :data:`MAX_DRAWN_TEXT` characters."""
    if not study.label.strip():
        yield Problem(
            file, study.id, "label", repr(study.label), "the study's name, e.g. 'Smith 2024'"
        )
    for path, text in _drawn_text(study):
        if NOT_IN_DRAWN_TEXT in text:
            expected = "text without '$' (figures read text between two '$' as mathematics)"
            yield Problem(file, study.id, path, repr(text), expected)
        elif len(text) > MAX_DRAWN_TEXT or "\n" in text:
            shown = repr(text if len(text) <= 40 else text[:40] + "...")
            found = f"{shown} ({len(text)} characters)"
            expected = f"one line of at most {MAX_DRAWN_TEXT} characters (figures draw it)"
            yield Problem(file, study.id, path, found, expected)


def _texts(node: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every text field of a study, with its path."""
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from _texts(getattr(node, name), f"{path}.{name}" if path else name)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _texts(item, f"{path}[{getattr(item, 'id', None) or i}]")
    elif isinstance(node, dict):
        for key, item in node.items():
            yield from _texts(item, f"{path}.{key}")


def _check_placeholders(study: StudyFile, file: str) -> Iterator[Problem]:
    """No text field may still hold the new-study template's placeholder."""
    for path, text in _texts(study, ""):
        if text.strip() == PLACEHOLDER:
            expected = "the text from the source (the template's placeholder is still there)"
            yield Problem(file, study.id, path, repr(text), expected)


def _check_header(study: StudyFile, file: str, stem: str) -> Iterator[Problem]:
    """The id, the status and its reason, the outcome scale, and the disputes' defaults."""
    if study.id != stem:
        expected = f"the file name without '.toml' ({stem!r})"
        yield Problem(file, study.id, "id", repr(study.id), expected)
    if study.status == "included" and study.exclusion_reason:
        yield Problem(
            file,
            study.id,
            "exclusion_reason",
            repr(study.exclusion_reason),
            "no reason on an included study",
        )
    if study.status != "included" and not study.exclusion_reason:
        yield Problem(
            file,
            study.id,
            "exclusion_reason",
            "nothing",
            f"a reason why a {study.status} study is not used",
        )
    if study.status == "included" and study.outcome.scale is None:
        yield Problem(
            file, study.id, "outcome.scale", "nothing", "the outcome scale of an included study"
        )
    # A registered trial's year is its expected completion, which may be years ahead.
    ahead = REGISTERED_YEARS_AHEAD if study.status == "registered" else 1
    last = datetime.now(UTC).year + ahead
    if not FIRST_YEAR <= study.citation.year <= last:
        yield Problem(
            file, study.id, "citation.year", repr(study.citation.year), f"{FIRST_YEAR} to {last}"
        )
    for name, value in study.covariates.items():
        if (problem := magnitude_error(value)) is not None:
            yield Problem(file, study.id, f"covariates.{name}", repr(value), problem)
    for name, dispute in study.disputes.items():
        if dispute.default not in dispute.readings:
            yield Problem(
                file,
                study.id,
                f"disputes.{name}.default",
                repr(dispute.default),
                f"one of {dispute.readings}",
            )
        for reading in dispute.words:
            if reading not in dispute.readings:
                where = f"disputes.{name}.words"
                yield Problem(file, study.id, where, repr(reading), f"one of {dispute.readings}")


def _check_numbers(study: StudyFile, file: str) -> Iterator[Problem]:
    """Every number's provenance and range, and every disputed number against its dispute."""
    used_disputes: set[str] = set()
    for path, name, q, disputed, owner in walk_quantities(study):
        yield from _check_provenance(q, path, study, file)
        if disputed is not None:
            used_disputes.add(disputed.dispute)
        yield from _check_range(q, path, name, owner, study, file)

    for path, disputed in _disputed_fields(study):
        declared = study.disputes.get(disputed.dispute)
        if declared is None:
            yield Problem(
                file,
                study.id,
                f"{path}.dispute",
                repr(disputed.dispute),
                f"a dispute declared under [disputes] (declared: {sorted(study.disputes)})",
            )
        elif set(disputed.readings) != set(declared.readings):
            yield Problem(
                file,
                study.id,
                f"{path}.readings",
                str(sorted(disputed.readings)),
                f"the readings of dispute '{disputed.dispute}': {sorted(declared.readings)}",
            )
    for name in sorted(set(study.disputes) - used_disputes):
        yield Problem(
            file,
            study.id,
            f"disputes.{name}",
            "a dispute no number uses",
            "each dispute to name a disputed number",
        )


def _check_evidence(study: StudyFile, file: str) -> Iterator[Problem]:
    """Unique item ids, each item's shape, and at least one usable item if included."""
    seen: set[str] = set()
    for item in study.evidence:
        if item.id in seen:
            yield Problem(
                file,
                study.id,
                f"evidence[{item.id}].id",
                repr(item.id),
                "evidence ids unique within a study",
            )
        seen.add(item.id)
        yield from _check_item_shape(item, study, file)
        yield from _check_pairs(item, study, file)

    if study.status == "included" and not any(usable(item) for item in study.evidence):
        yield Problem(
            file,
            study.id,
            "evidence",
            f"{len(study.evidence)} item(s), none with its numbers reported",
            "an included study to have at least one usable evidence item "
            "(or status = 'excluded' with a reason)",
        )


def check_literature(lit: LiteratureFile, file: str) -> list[Problem]:
    """Provenance rules for the literature-inputs file."""
    problems: list[Problem] = []
    for name, q in lit.inputs.items():
        for p in _check_provenance(q, f"inputs.{name}", None, file, lit.sources):
            problems.append(p)
        for x in [*_numbers(q), *(q.ci95 or [])]:
            if (problem := magnitude_error(x)) is not None:
                problems.append(Problem(file, "literature", f"inputs.{name}", repr(x), problem))
        if q.ci95 is not None and (len(q.ci95) != 2 or q.ci95[0] > q.ci95[1]):
            problems.append(
                Problem(file, "literature", f"inputs.{name}.ci95", str(q.ci95), "[lower, upper]")
            )
        if q.unit in ("probability", "proportion"):
            for x in [*_numbers(q), *(q.ci95 or [])]:
                if not 0 <= x <= 1:
                    problems.append(
                        Problem(
                            file,
                            "literature",
                            f"inputs.{name}",
                            repr(x),
                            "a probability between 0 and 1",
                        )
                    )
    return problems


def usable(item: Any) -> bool:
    """Whether an evidence item has the numbers its likelihood needs.

    Each of its form's essential quantities (:mod:`models.forms`) must have a value or a
    bound in at least one reading.
    """
    # Imported here: the form modules import the model code, which imports this package, so
    # a module-level import would be circular.
    from models.forms import form_of

    for q in form_of(item.kind).essential(item):
        quantities = list(q.readings.values()) if isinstance(q, Disputed) else [q]
        if all(_missing(x) for x in quantities):
            return False
    return True


def _missing(q: Quantity) -> bool:
    return q.status == "not_reported" or (q.value is None and q.lower is None)


def _disputed_fields(node: Any, path: str = "") -> Iterator[tuple[str, Disputed]]:
    if not isinstance(node, BaseModel):
        return
    for name in type(node).model_fields:
        value = getattr(node, name)
        here = f"{path}.{name}" if path else name
        if isinstance(value, Disputed):
            yield here, value
        elif isinstance(value, BaseModel):
            yield from _disputed_fields(value, here)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                label = getattr(item, "id", None) or str(i)
                yield from _disputed_fields(item, f"{here}[{label}]")


def _check_provenance(q: Quantity, path: str, study, file: str, sources=None) -> list[Problem]:
    sources = study.sources if sources is None else sources
    sid = study.id if study is not None else "literature"
    out = []
    if q.source is not None and q.source not in sources:
        out.append(
            Problem(
                file,
                sid,
                f"{path}.source",
                repr(q.source),
                f"a key of [sources]: {sorted(sources)}",
            )
        )
    if q.status == "not_reported":
        if q.value is not None or q.lower is not None or q.upper is not None:
            out.append(
                Problem(
                    file,
                    sid,
                    f"{path}.value",
                    repr(q.value),
                    "no value when status = 'not_reported'",
                )
            )
        return out
    if q.source is None:
        out.append(
            Problem(file, sid, f"{path}.source", "nothing", "the key of the source it came from")
        )
    if q.value is None and q.lower is None and q.upper is None:
        out.append(
            Problem(
                file,
                sid,
                f"{path}.value",
                "nothing",
                "a value, or lower/upper bounds, or status = 'not_reported'",
            )
        )
    if q.status == "derived" and not q.derivation:
        out.append(
            Problem(
                file, sid, f"{path}.derivation", "nothing", "the arithmetic of a derived number"
            )
        )
    if q.lower is not None and q.upper is not None and q.lower > q.upper:
        out.append(
            Problem(
                file, sid, f"{path}.lower", f"lower {q.lower} > upper {q.upper}", "lower <= upper"
            )
        )
    return out


def _numbers(q: Quantity) -> list[float]:
    return [x for x in (q.value, q.lower, q.upper) if x is not None]


def magnitude_error(x: float) -> str | None:
    """Why ``x`` cannot be a number in a study or literature file, or None if it can."""
    if not math.isfinite(x):
        return "a finite number"
    if abs(x) > MAX_MAGNITUDE:
        return f"a number of at most {MAX_MAGNITUDE:g} in size"
    return None


def _check_range(q: Quantity, path: str, name: str, owner, study, file) -> list[Problem]:
    out = []

    def bad(x, expected):
        out.append(Problem(file, study.id, path, repr(x), expected))

    for x in [*_numbers(q), *(q.ci95 or [])]:
        if (problem := magnitude_error(x)) is not None:
            bad(x, problem)
    if out:
        return out
    for x in _numbers(q):
        if name in DENOMINATORS and x < 1:
            bad(x, "a count of at least 1")
        elif name in DEGREES_OF_FREEDOM and x < 1:
            bad(x, "degrees of freedom of at least 1")
        elif name in NUMERATORS and x < 0:
            bad(x, "a count of 0 or more")
        elif name in STRICTLY_POSITIVE and x <= 0:
            bad(x, "a number above 0")
        elif name in NON_NEGATIVE and not 0 <= x <= MAX_HOURS:
            bad(x, f"hours from 0 to {MAX_HOURS} (a year)")
        elif name in PROBABILITIES and not 0 <= x <= 1:
            bad(x, "a probability between 0 and 1")
        elif name in SIGNED_PROPORTIONS and not -1 <= x <= 1:
            bad(x, "a correlation between -1 and 1")
        elif name in ATTENUATIONS and not -MAX_ATTENUATION <= x <= MAX_ATTENUATION:
            bad(x, f"a proportion of at most {MAX_ATTENUATION:g} in size (0.28 for 28%)")
    if name in NUMERATORS and owner is not None:
        denominator = getattr(owner, NUMERATORS[name], None)
        top = _max_value(denominator)
        if top is not None:
            for x in _numbers(q):
                if x > top:
                    bad(x, f"at most {NUMERATORS[name]} = {top}")
    return out


def _check_pairs(item, study: StudyFile, file: str) -> Iterator[Problem]:
    """A crossover cannot have more complete pairs than the study analysed."""
    pairs, analysed = _max_value(getattr(item, "pairs", None)), _max_value(study.sample.analysed)
    if pairs is not None and analysed is not None and pairs > analysed:
        yield Problem(
            file,
            study.id,
            f"evidence[{item.id}].pairs",
            repr(pairs),
            f"at most sample.analysed = {analysed:g}",
        )


def _all_numbers(q: Any) -> list[float]:
    """Every number a quantity can take, across the readings of a disputed one."""
    if isinstance(q, Disputed):
        return [v for r in q.readings.values() for v in _numbers(r)]
    return _numbers(q) if isinstance(q, Quantity) else []


def _paired_table(item, study: StudyFile, file: str) -> list[Problem]:
    """A crossover's 2x2 table must exist: both-responders within each margin and the total.

    Checked for every reading of a disputed count (the tightest combination).
    """
    both = _all_numbers(item.both_responded) if item.both_responded is not None else []
    placebo, naltrexone = (
        _all_numbers(item.responders_placebo),
        _all_numbers(item.responders_naltrexone),
    )
    pairs = _all_numbers(item.pairs)
    if not (both and placebo and naltrexone and pairs):
        return []
    where = f"evidence[{item.id}].both_responded"
    if max(both) > min(min(placebo), min(naltrexone)):
        expected = "at most the responders in each period (the table's margins)"
        return [Problem(file, study.id, where, repr(max(both)), expected)]
    if min(placebo) + min(naltrexone) - min(both) > max(pairs):
        found = f"{min(both)!r} with margins {min(placebo):g} and {min(naltrexone):g}"
        expected = (
            f"responders in either period (sum of margins - both) at most pairs = {max(pairs):g}"
        )
        return [Problem(file, study.id, where, found, expected)]
    return []


def _max_value(q: Any) -> float | None:
    if isinstance(q, Disputed):
        values = [v for r in q.readings.values() for v in _numbers(r)]
    elif isinstance(q, Quantity):
        values = _numbers(q)
    else:
        return None
    return max(values) if values else None


def _check_item_shape(item, study, file) -> list[Problem]:
    out = []
    where = f"evidence[{item.id}]"
    if item.kind == "arm_means" and item.paired:
        conditions = {arm.condition for arm in item.arms}
        if not {"ketamine_placebo", "ketamine_naltrexone"} <= conditions:
            out.append(
                Problem(
                    file,
                    study.id,
                    f"{where}.arms",
                    f"conditions {sorted(conditions)}",
                    "a paired item to have a ketamine_placebo and a ketamine_naltrexone arm",
                )
            )
    if item.kind in ("arm_counts", "arm_means"):
        conditions = [arm.condition for arm in item.arms]
        if len(set(conditions)) != len(conditions):
            out.append(
                Problem(
                    file,
                    study.id,
                    f"{where}.arms",
                    f"conditions {conditions}",
                    "each condition once",
                )
            )
    if item.kind == "contrast_statistic":
        out += _statistic_problems(item, study, file, where)
    if item.kind == "paired_binary":
        out += _paired_table(item, study, file)
    return out


def _statistic_problems(item, study: StudyFile, file: str, where: str) -> list[Problem]:
    """A reported test statistic: an F's direction, size and degrees of freedom; a t's size."""
    out = []
    if item.statistic == "F" and item.direction is None:
        out.append(
            Problem(
                file,
                study.id,
                f"{where}.direction",
                "nothing",
                '"attenuation" or "enhancement": an F statistic has no sign of its own',
            )
        )
    if item.statistic == "F":
        negative = [x for x in _all_numbers(item.value) if x < MIN_STATISTIC]
        if negative:
            out.append(
                Problem(
                    file,
                    study.id,
                    f"{where}.value",
                    repr(negative[0]),
                    f"an F statistic of at least {MIN_STATISTIC:g} (an F is a squared t; its "
                    "sign goes in direction)",
                )
            )

    if item.statistic != "F" and item.attenuation:
        tiny = [x for x in _all_numbers(item.value) if abs(x) < MIN_STATISTIC]
        if tiny:
            expected = f"a statistic of at least {MIN_STATISTIC:g} in size (the attenuation's SE "
            expected += "is attenuation / t)"
            out.append(Problem(file, study.id, f"{where}.value", repr(tiny[0]), expected))
    if item.statistic == "F":
        if item.df is None or item.df_numerator is None:
            out.append(
                Problem(
                    file,
                    study.id,
                    f"{where}.df",
                    "nothing",
                    "df_numerator and df for an F statistic",
                )
            )
        elif _max_value(item.df_numerator) != 1:
            out.append(
                Problem(
                    file,
                    study.id,
                    f"{where}.df_numerator",
                    repr(_max_value(item.df_numerator)),
                    "1: only a single-contrast F(1, df) maps onto the blockade fraction",
                )
            )
    return out
