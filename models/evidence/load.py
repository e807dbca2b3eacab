"""Read study files into typed objects, or into a list of problems; never a traceback.

The entry points are :func:`check_paths` (what ``check-data`` runs) and
:func:`load_evidence` (what every analysis runs; it raises :class:`InputError`).
"""

from __future__ import annotations

import hashlib
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ValidationError

from models.evidence.problems import (
    MAX_FILE_BYTES,
    InputError,
    Problem,
    describe,
    toml_problem,
)
from models.evidence.schema import (
    EVIDENCE_CLASSES,
    Disputed,
    IndividualData,
    LiteratureFile,
    Quantity,
    StudyFile,
)
from models.evidence.validate import (
    MAX_MAGNITUDE,
    check_literature,
    check_study,
    magnitude_error,
)
from models.paths import DATA_DIR, LITERATURE_FILE, STUDIES_DIR

IPD_COLUMNS = ("participant", "condition", "change")


@dataclass(frozen=True)
class Evidence:
    """The evidence base: every study file, the literature inputs, and their hashes.

    Attributes
    ----------
    studies : tuple of StudyFile
        All studies, sorted by (year, id); disputed numbers still hold all readings until
        :meth:`resolve` picks one.
    literature : LiteratureFile
        Literature inputs for priors.
    files : dict
        Study id -> path of its file.
    file_hashes : dict
        Study id -> sha256 of its file's bytes (``"literature"`` for the literature file,
        ``"<study>/<item>"`` for an individual-participant-data CSV).
    ipd : dict
        (study id, item id) -> DataFrame of individual participant data.
    readings : dict
        The readings chosen so far: study id -> {dispute: reading}.
    """

    studies: tuple[StudyFile, ...]
    literature: LiteratureFile
    files: Mapping[str, Path]
    file_hashes: Mapping[str, str]
    ipd: Mapping[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    readings: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def included(self) -> tuple[StudyFile, ...]:
        return tuple(s for s in self.studies if s.status == "included")

    @property
    def data_hash(self) -> str:
        """One sha256 over every file's hash and the chosen readings."""
        digest = hashlib.sha256()
        for key in sorted(self.file_hashes):
            digest.update(f"{key}={self.file_hashes[key]}\n".encode())
        for study in sorted(self.readings):
            for dispute, reading in sorted(self.readings[study].items()):
                digest.update(f"{study}.{dispute}={reading}\n".encode())
        return digest.hexdigest()

    def study(self, study_id: str) -> StudyFile:
        for s in self.studies:
            if s.id == study_id:
                return s
        raise KeyError(f"no study with id {study_id!r}; ids: {[s.id for s in self.studies]}")

    def disputes(self) -> list[tuple[str, str, tuple[str, ...], str]]:
        """Every dispute: (study id, dispute name, readings, default reading)."""
        return [
            (s.id, name, tuple(d.readings), d.default)
            for s in self.studies
            for name, d in s.disputes.items()
        ]

    def resolve(self, readings: Mapping[str, Mapping[str, str]] | None = None) -> Evidence:
        """Replace each disputed number by one reading: the given one, else the default.

        Parameters
        ----------
        readings : mapping, optional
            study id -> {dispute name -> reading name}. Unnamed disputes take the default.
        """
        readings = dict(readings or {})
        chosen: dict[str, dict[str, str]] = {}
        for sid, picks in readings.items():
            study = self.study(sid)
            for dispute, reading in picks.items():
                if dispute not in study.disputes:
                    raise KeyError(
                        f"study {sid!r} has no dispute {dispute!r}: {list(study.disputes)}"
                    )
                if reading not in study.disputes[dispute].readings:
                    raise KeyError(
                        f"dispute {sid}.{dispute} has no reading {reading!r}: "
                        f"{study.disputes[dispute].readings}"
                    )
        resolved = []
        for s in self.studies:
            picks = {name: d.default for name, d in s.disputes.items()}
            picks.update(readings.get(s.id, {}))
            chosen[s.id] = picks
            resolved.append(_resolve(s, picks))
        return Evidence(
            studies=tuple(resolved),
            literature=self.literature,
            files=self.files,
            file_hashes=self.file_hashes,
            ipd=self.ipd,
            readings={k: v for k, v in chosen.items() if v},
        )

    def subset(self, study_ids: Iterable[str]) -> Evidence:
        """Keep only the named studies (for leave-one-out and cumulative analyses)."""
        keep = set(study_ids)
        return Evidence(
            studies=tuple(s for s in self.studies if s.id in keep),
            literature=self.literature,
            files={k: v for k, v in self.files.items() if k in keep},
            file_hashes={
                k: v
                for k, v in self.file_hashes.items()
                if k.split("/")[0] in keep or k == "literature"
            },
            ipd={k: v for k, v in self.ipd.items() if k[0] in keep},
            readings={k: v for k, v in self.readings.items() if k in keep},
        )


def _resolve(node, picks: Mapping[str, str]):
    """Return a copy of a model with every Disputed replaced by its chosen reading."""
    if isinstance(node, Disputed):
        return node.readings[picks[node.dispute]]
    if isinstance(node, list):
        return [_resolve(x, picks) for x in node]
    if isinstance(node, BaseModel) and not isinstance(node, Quantity):
        update = {}
        for name in type(node).model_fields:
            value = getattr(node, name)
            new = _resolve(value, picks)
            if new is not value:
                update[name] = new
        return node.model_copy(update=update) if update else node
    return node


# ---- reading files ------------------------------------------------------------------------


def _parse_toml(path: Path, label: str) -> tuple[dict | None, list[Problem]]:
    expected = "a study description (`python -m analyses new-study ID` writes a template)"
    raw, problem = toml_problem(path, path.stem, expected)
    if problem is not None:
        return None, [replace(problem, file=label)]
    return raw, []


def read_study(path: Path, label: str | None = None) -> tuple[StudyFile | None, list[Problem]]:
    """Parse and check one study file.

    Returns
    -------
    study : StudyFile or None
        The parsed study, or None if it has problems.
    problems : list of Problem
    """
    label = label or str(path)
    raw, problems = _parse_toml(path, label)
    if raw is None:
        return None, problems
    study_id = raw.get("id") if isinstance(raw.get("id"), str) else path.stem
    try:
        study = StudyFile.model_validate(raw)
    except ValidationError as err:
        return None, [_problem_from_error(e, raw, label, study_id) for e in err.errors()]
    problems = check_study(study, label, path.stem)
    problems += _check_ipd_files(study, path, label)
    return (None if problems else study), problems


def read_literature(path: Path, label: str | None = None):
    """Parse and check the literature-inputs file; returns (LiteratureFile | None, problems)."""
    label = label or str(path)
    raw, problems = _parse_toml(path, label)
    if raw is None:
        return None, problems
    try:
        lit = LiteratureFile.model_validate(raw)
    except ValidationError as err:
        return None, [
            _problem_from_error(e, raw, label, "literature", LiteratureFile) for e in err.errors()
        ]
    problems = check_literature(lit, label)
    return (None if problems else lit), problems


def ipd_path(study_path: Path, item: IndividualData) -> Path:
    """The CSV of an individual-participant-data item: a relative path inside the study's folder.

    Raises ValueError for an absolute path or one that leaves the folder (``../``, a link out):
    a study file must not make the toolkit read, hash or publish a file from elsewhere.
    """
    folder = study_path.parent.resolve()
    path = (study_path.parent / item.file).resolve()
    if Path(item.file).is_absolute() or not path.is_relative_to(folder):
        raise ValueError(f"a path outside the study's folder {folder}")
    return path


def read_ipd(study_path: Path, item: IndividualData) -> pd.DataFrame:
    """Read the CSV of an individual-participant-data item (path relative to the study file)."""
    path = ipd_path(study_path, item)
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"a file of {path.stat().st_size / 1e6:.1f} MB, above 1 MB")
    return pd.read_csv(path)


def _check_ipd_files(study: StudyFile, path: Path, label: str) -> list[Problem]:
    out = []
    for item in study.evidence:
        if item.kind != "ipd":
            continue
        where = f"evidence[{item.id}].file"
        try:
            frame = read_ipd(path, item)
        except (OSError, ValueError) as err:
            out.append(
                Problem(label, study.id, where, f"{item.file!r} ({err})", "a readable CSV file")
            )
            continue
        missing = [c for c in IPD_COLUMNS if c not in frame.columns]
        if missing:
            out.append(
                Problem(
                    label,
                    study.id,
                    where,
                    f"columns {list(frame.columns)}",
                    f"columns {list(IPD_COLUMNS)}",
                )
            )
            continue
        bad = sorted(
            set(frame["condition"]) - {"ketamine_placebo", "ketamine_naltrexone", "control"}
        )
        if bad:
            out.append(
                Problem(
                    label,
                    study.id,
                    f"{where}:condition",
                    str(bad),
                    "ketamine_placebo, ketamine_naltrexone or control",
                )
            )
        if not pd.api.types.is_numeric_dtype(frame["change"]) or frame["change"].isna().any():
            out.append(
                Problem(
                    label,
                    study.id,
                    f"{where}:change",
                    "non-numeric or empty values",
                    "a number on every row",
                )
            )
            continue
        out += [Problem(label, study.id, where + f, *fe) for f, *fe in _ipd_rows(item, frame)]
    return out


def _ipd_rows(item: IndividualData, frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    """Row-level problems of an IPD table: (field suffix, found, expected)."""
    out = []
    big = frame.loc[~frame["change"].map(lambda x: magnitude_error(float(x)) is None), "change"]
    if len(big):
        found = f"{len(big)} values such as {big.iloc[0]!r}"
        out.append((":change", found, f"finite numbers of at most {MAX_MAGNITUDE:g} in size"))
    if item.paired:
        twice = frame.duplicated(["participant", "condition"])
        if twice.any():
            who = sorted(set(frame.loc[twice, "participant"].astype(str)))[:5]
            out.append((":participant", f"two rows for one period ({who})", "one row a period"))
        extra = sorted(set(frame["condition"]) - {"ketamine_placebo", "ketamine_naltrexone"})
        if extra:
            out.append((":condition", str(extra), "only the two periods of a crossover"))
        periods = frame.groupby("participant")["condition"].nunique()
        if not twice.any() and not (periods == 2).any():
            out.append((":participant", "no participant with both periods", "complete pairs"))
    elif frame["participant"].duplicated().any():
        who = sorted(set(frame.loc[frame["participant"].duplicated(), "participant"].astype(str)))
        out.append((":participant", f"participants on two rows ({who[:5]})", "one row each"))
    return out


def _problem_from_error(err: dict, raw: dict, label: str, study_id: str, root=StudyFile) -> Problem:
    loc = list(err["loc"])
    kind = err["type"]
    # Union tags in the location are schema plumbing, not field names the user wrote.
    parts: list[str] = []
    node = raw
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            item = node[part]
            label_ = item.get("id") if isinstance(item, dict) else None
            parts[-1] = f"{parts[-1]}[{label_ or part}]"
            node = item
            continue
        else:
            if part in EVIDENCE_CLASSES or part in ("quantity", "disputed"):
                continue
        parts.append(str(part))
    field_path = ".".join(parts)
    found_value = err.get("input")
    if kind == "missing":
        return Problem(label, study_id, field_path, "nothing", "this required field")
    if kind == "extra_forbidden":
        allowed = _allowed_fields(loc[:-1], root)
        hint = f"one of the known fields: {', '.join(allowed)}" if allowed else "only known fields"
        return Problem(label, study_id, field_path, f"unknown field '{loc[-1]}'", hint)
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tags = err.get("ctx", {}).get("expected_tags", "")
        found = repr(found_value.get("kind")) if isinstance(found_value, dict) else "nothing"
        return Problem(label, study_id, f"{field_path}.kind", found, f"one of {tags}")
    if kind == "literal_error":
        return Problem(
            label, study_id, field_path, describe(found_value), f"one of {err['ctx']['expected']}"
        )
    expected = err["msg"].removeprefix("Input should be ").removeprefix("Value error, ")
    return Problem(label, study_id, field_path, describe(found_value), expected)


def _model_classes(annotation) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        out += _model_classes(arg)
    return out


def _allowed_fields(loc: Sequence, root: type[BaseModel]) -> list[str]:
    cls: type[BaseModel] | None = root
    for part in loc:
        if part in EVIDENCE_CLASSES:
            cls = EVIDENCE_CLASSES[part]
            continue
        if part == "quantity":
            cls = Quantity
            continue
        if part == "disputed":
            cls = Disputed
            continue
        if isinstance(part, int) or cls is None:
            continue
        info = cls.model_fields.get(part)
        if info is None:  # a dict key (a source name, a reading name)
            continue
        classes = _model_classes(info.annotation)
        cls = classes[0] if len(classes) == 1 else None
    return list(cls.model_fields) if cls is not None else []


# ---- whole evidence base ------------------------------------------------------------------


def _expand(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files += sorted(p.rglob("*.toml"))
        else:
            files.append(p)
    return files


def _is_literature(path: Path) -> bool:
    return path.resolve() == LITERATURE_FILE.resolve() or path.parent.name == "literature"


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def check_paths(
    paths: Sequence[Path] | None = None,
) -> tuple[list[StudyFile], LiteratureFile | None, list[Problem]]:
    """Check study files (and literature files) at the given paths; default: all of data/.

    Returns every study that parsed cleanly, the literature file if one was checked, and
    every problem, including duplicate study ids across files.
    """
    paths = [Path(p) for p in paths] if paths else [DATA_DIR]
    studies, literature, problems, _ = _check_files(_expand(paths), paths)
    return studies, literature, problems


def _check_files(files: list[Path], given: list[Path]):
    """check_paths, plus each valid study's file (a folder's subfolders are searched too)."""
    studies: list[StudyFile] = []
    literature = None
    problems: list[Problem] = []
    owner: dict[str, str] = {}
    located: dict[str, Path] = {}
    if not files:
        problems.append(
            Problem(", ".join(map(str, given)), "-", "", "no .toml files", "study files")
        )
    for path in files:
        label = _display(path)
        if _is_literature(path):
            literature, found = read_literature(path, label)
            problems += found
            continue
        study, found = read_study(path, label)
        problems += found
        if study is None:
            continue
        if study.id in owner:
            problems.append(
                Problem(
                    label,
                    study.id,
                    "id",
                    f"{study.id!r}, already used by {owner[study.id]}",
                    "a unique study id",
                )
            )
            continue
        owner[study.id] = label
        located[study.id] = path
        studies.append(study)
    return studies, literature, problems, located


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_evidence(studies_dir: Path | None = None, literature_file: Path | None = None) -> Evidence:
    """Load and check the whole evidence base.

    Raises
    ------
    InputError
        With every problem found, if any file is invalid.
    """
    studies_dir = Path(studies_dir or STUDIES_DIR)
    literature_file = Path(literature_file or LITERATURE_FILE)
    studies, _, problems, located = _check_files(_expand([studies_dir]), [studies_dir])
    literature, lit_problems = read_literature(literature_file, _display(literature_file))
    problems += lit_problems
    if not studies and not problems:
        problems.append(Problem(str(studies_dir), "-", "", "no study files", "at least one study"))
    problems += _check_covariates(studies)
    if problems:
        raise InputError(problems)
    files = {s.id: located[s.id] for s in studies}
    hashes = {sid: _sha256(p) for sid, p in files.items()}
    hashes["literature"] = _sha256(literature_file)
    ipd = {}
    for s in studies:
        for item in s.evidence:
            if item.kind == "ipd":
                ipd[(s.id, item.id)] = read_ipd(files[s.id], item)
                # The data hash covers the participants' rows too: editing a CSV is a change.
                hashes[f"{s.id}/{item.id}"] = _sha256(ipd_path(files[s.id], item))
    ordered = tuple(sorted(studies, key=lambda s: (s.citation.year, s.id)))
    return Evidence(ordered, literature, files, hashes, ipd)


def _check_covariates(studies: list[StudyFile]) -> list[Problem]:
    """Included studies must name the same covariates, or a regression on them is undefined."""
    included = [s for s in studies if s.status == "included"]
    if not included:
        return []
    names = set().union(*(s.covariates for s in included))
    out = []
    for s in included:
        missing = sorted(names - set(s.covariates))
        if missing:
            out.append(
                Problem(
                    f"data/studies/{s.id}.toml",
                    s.id,
                    "covariates",
                    f"no value for {missing}",
                    "every included study to give every covariate another included study gives",
                )
            )
    return out
