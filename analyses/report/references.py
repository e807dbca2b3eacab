"""Citations and the reference list, from ``docs/references.bib``.

The bib file keeps one field per line (``field = {value},``), so a small parser suffices and
no BibTeX dependency is needed. A citation ``[@key]`` whose key is not in the file is an error:
the report must not cite what it cannot list.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from models.paths import DOCS_DIR

BIB_FILE = DOCS_DIR / "references.bib"
CITATION = re.compile(r"\[@([a-z0-9_-]+)\]")
ENTRY = re.compile(r"^@(\w+)\{([^,\s]+),\s*$")
FIELD = re.compile(r"^\s*(\w+)\s*=\s*\{(.*)\},?\s*$")


@cache
def read_bib(path: Path = BIB_FILE) -> dict[str, dict[str, str]]:
    """Entries of a bib file: key -> fields (lower-case names), with ``type``."""
    entries: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if match := ENTRY.match(line.strip()):
            current = {"type": match.group(1).lower()}
            entries[match.group(2)] = current
        elif current is not None and (match := FIELD.match(line)):
            current[match.group(1).lower()] = match.group(2).strip()
    return entries


def short_label(entry: dict[str, str]) -> str:
    """``Bassler et al. 2010``, ``Kass & Raftery 1995``, or the title of an anonymous work."""
    authors = [a.strip() for a in entry.get("author", "").split(" and ") if a.strip()]
    surnames = [a.split(",")[0].strip("{} ") for a in authors]
    year = entry.get("year", "n.d.")
    if not surnames:
        return f"{entry.get('title', '?')} {year}"
    if len(surnames) == 1:
        return f"{surnames[0]} {year}"
    if surnames[-1] == "others":  # BibTeX's "and others": the author list is cut short
        return f"{surnames[0]} et al. {year}"
    if len(surnames) == 2:
        return f"{surnames[0]} & {surnames[1]} {year}"
    return f"{surnames[0]} et al. {year}"


def reference_line(entry: dict[str, str]) -> str:
    """One line of the reference list, with the DOI as a link where known."""
    authors = entry.get("author", "").replace(" and others", " et al.").replace(" and ", "; ")
    parts = [authors, f"({entry.get('year', 'n.d.')})"]
    parts.append(entry.get("title", "").strip("{}") + ".")
    venue = entry.get("journal") or entry.get("booktitle") or entry.get("howpublished")
    if venue:
        parts.append(f"*{venue.strip('{}')}*.")
    if doi := entry.get("doi"):
        parts.append(f"[doi:{doi}](https://doi.org/{doi})")
    elif url := entry.get("url"):
        parts.append(url)
    return " ".join(p for p in parts if p)


def cite(text: str, bib: dict[str, dict[str, str]] | None = None) -> str:
    """Replace every ``[@key]`` by "(Label)" and append the reference list.

    Raises
    ------
    KeyError
        If a cited key is not in the bib file.
    """
    bib = read_bib() if bib is None else bib
    order: list[str] = []

    def label(match: re.Match) -> str:
        key = match.group(1)
        if key not in bib:
            raise KeyError(f"citation [@{key}] is not in {BIB_FILE.name}")
        if key not in order:
            order.append(key)
        return f"({short_label(bib[key])})"

    body = CITATION.sub(label, text)
    if not order:
        return body
    listing = "\n".join(f"{i}. {reference_line(bib[k])}" for i, k in enumerate(order, 1))
    return f"{body}\n## References\n\n{listing}\n"
