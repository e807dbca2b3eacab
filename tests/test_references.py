"""The report's citations: labels and reference lines from docs/references.bib."""

from __future__ import annotations

from analyses.report.references import cite, read_bib, reference_line, short_label


def test_a_cut_short_author_list_reads_et_al():
    entry = {"author": "Jelen, Luke A. and others", "year": "2025", "title": "T"}
    assert short_label(entry) == "Jelen et al. 2025"
    assert reference_line(entry).startswith("Jelen, Luke A. et al. (2025)")
    assert short_label({"author": "Kass, R. and Raftery, A.", "year": "1995"}) == (
        "Kass & Raftery 1995"
    )


def test_no_shipped_citation_reads_others():
    bib = read_bib()
    text = cite(" ".join(f"[@{key}]" for key in bib))
    assert "& others" not in text and "; others" not in text
