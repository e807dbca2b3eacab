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
        return f"{where}: found {self.found}; expected {self.expected}"


class InputError(Exception):
    """Raised when input files have problems; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def describe(value: object) -> str:
    """Show a found value compactly, with its type when the type is the likely mistake."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


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
    import tomllib
    from pathlib import Path

    label = str(path)
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError([Problem(label, owner, "", "no such file", expected)]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(
            [Problem(label, owner, "", f"an unreadable file ({err})", expected)]
        ) from None
    except tomllib.TOMLDecodeError as err:
        raise InputError(
            [Problem(label, owner, "", f"invalid TOML ({err})", "valid TOML")]
        ) from None
