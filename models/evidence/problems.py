"""A problem found in an input file, phrased for the person who has to fix it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field of one file.

    Parameters
    ----------
    file : str
        The file, as the user named it.
    study : str
        The study id (the file stem when the file could not be read far enough to know it).
    field : str
        A dotted path to the field, e.g. ``evidence[response_day1].pairs.value``.
    found : str
        What the file holds there.
    expected : str
        What would be valid.
    """

    file: str
    study: str
    field: str
    found: str
    expected: str

    def __str__(self) -> str:
        where = f"{self.file}: study '{self.study}'"
        if self.field:
            where += f", field '{self.field}'"
        # One line per problem, whatever a library's message held (pandas' carry newlines).
        found = " ".join(str(self.found).split())
        return f"{where}: found {found}; expected {self.expected}"


class InputError(Exception):
    """Raised when input files have problems; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = _capped(list(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


def _capped(problems: list[Problem]) -> list[Problem]:
    """At most MAX_PROBLEMS_PER_FILE problems per file, then one line counting the rest."""
    shown: dict[str, int] = {}
    out: list[Problem] = []
    for p in problems:
        shown[p.file] = shown.get(p.file, 0) + 1
        if shown[p.file] <= MAX_PROBLEMS_PER_FILE:
            out.append(p)
    for file, count in shown.items():
        if count > MAX_PROBLEMS_PER_FILE:
            hidden = count - MAX_PROBLEMS_PER_FILE
            found = f"{hidden} more problems (not shown)"
            out.append(Problem(file, "-", "", found, "a file that passes once the above are fixed"))
    return out


def describe(value: object) -> str:
    """Show a found value compactly, with its type when the type is the likely mistake."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


# Input files are hand-written TOML of a few kB. A bigger one is a mistake (or an attack): one
# of 66 MB with 3 million unknown keys once took 7 GB to report. Refused before parsing.
MAX_FILE_BYTES = 1_000_000
# At most this many problems are shown per file; the rest are counted in one line.
MAX_PROBLEMS_PER_FILE = 20
BOM = "\ufeff"


def toml_problem(path, owner: str, expected: str) -> tuple[dict | None, Problem | None]:
    """Parse a TOML file: (its table, None), or (None, the problem with it).

    Names an empty file, a byte-order mark, a file too large, nesting too deep for the parser
    and invalid TOML, each in words the user can act on.
    """
    import stat
    import tomllib
    from pathlib import Path

    label = str(path)
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            # A device (/dev/zero) reports size 0 and never ends; a FIFO blocks forever.
            found = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            return None, Problem(label, owner, "", found, expected)
        if info.st_size > MAX_FILE_BYTES:
            found = f"a file of {info.st_size / 1e6:.1f} MB"
            return None, Problem(label, owner, "", found, f"{expected}, under 1 MB")
        with path.open("rb") as handle:  # at most the limit, should the file grow meanwhile
            data = handle.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            found = "a file over 1 MB"
            return None, Problem(label, owner, "", found, f"{expected}, under 1 MB")
        text = data.decode("utf-8")
    except FileNotFoundError:
        return None, Problem(label, owner, "", "no such file", expected)
    except (OSError, UnicodeDecodeError) as err:
        return None, Problem(label, owner, "", f"an unreadable file ({err})", expected)
    if text.startswith(BOM):
        found = "a UTF-8 byte-order mark (BOM) before the first line"
        return None, Problem(label, owner, "", found, "UTF-8 without a BOM (re-save the file)")
    if not text.strip():
        return None, Problem(label, owner, "", "an empty file", expected)
    try:
        return tomllib.loads(text), None
    except tomllib.TOMLDecodeError as err:
        return None, Problem(label, owner, "", f"invalid TOML ({err})", "valid TOML")
    except RecursionError:
        found = "arrays or tables nested too deeply to parse"
        return None, Problem(label, owner, "", found, "valid TOML of ordinary depth")


def read_toml(path, owner: str, expected: str) -> dict:
    """Parse a TOML file, or raise InputError naming the file and what was expected.

    Parameters
    ----------
    path : path-like
        The file.
    owner : str
        What the file is, for the message's "study" slot ("config", "priors").
    expected : str
        What a valid file would be, e.g. "a run configuration (.toml)".
    """
    raw, problem = toml_problem(path, owner, expected)
    if problem is not None:
        raise InputError([problem])
    return raw
