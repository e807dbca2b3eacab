"""The report's risk-of-bias table: facts from the study files, unrated."""

from __future__ import annotations

import pandas as pd
import pytest

from analyses.report.bias import bias_section, bias_table
from models.evidence import load_evidence
from models.evidence.tables import quantities_table, studies_table


@pytest.fixture(scope="module")
def tables():
    evidence = load_evidence()
    return studies_table(evidence), quantities_table(evidence)


def test_one_row_per_included_study_with_its_facts(tables):
    studies, numbers = tables
    table = bias_table(studies, numbers).set_index("study")
    included = studies.loc[studies["status"] == "included", "label"]
    assert list(table.index) == list(included)
    williams = table.loc["Williams 2018"]
    # The registry's 16 against the abstract's 14 studied: a gap a rater needs to see.
    expected = "12 of 14 (86%); 30 planned; the registry: 16 enrolled"
    assert williams["analysed of enrolled"] == expected
    # Where the registry is the source of the enrolled count itself, nothing is repeated.
    assert table.loc["Jelen 2025", "analysed of enrolled"] == "26 of 27 (96%)"
    assert williams["stopped early"] == "yes"
    assert williams["randomisation and blinding"] == "double-blind, randomized order"
    assert table.loc["Yoon 2019", "design"] == "single arm, no control"
    assert table.loc["Yoon 2025", "design"] == "parallel, midazolam control arm"
    assert table.loc["Jelen 2025", "design"] == "crossover, no arm without ketamine"
    assert table.loc["Williams 2018", "between periods"] == "30 days (secondary)"
    assert table.loc["Jelen 2025", "between periods"] == "19 days (secondary)"
    assert table.loc["Yoon 2025", "between periods"] == "not a crossover"
    assert "abstract" in table.loc["Yoon 2025", "sources"]


def test_the_number_counts_are_the_study_files_own(tables):
    studies, numbers = tables
    table = bias_table(studies, numbers).set_index("study")
    column = next(c for c in table.columns if c.startswith("numbers ("))
    # A disputed number counts once, at its default reading.
    once = numbers[numbers["default"].map(lambda d: d is not False)]
    for sid, label in studies.loc[studies["status"] == "included", ["study", "label"]].values:
        counts = [int(x) for x in table.loc[label, column].split(" / ")]
        assert sum(counts) == int((once["study"] == sid).sum()), sid
        assert counts[0] == int(((once["study"] == sid) & (once.status == "reported")).sum())
    # Williams 2018 has 14 numbers, 4 secondary (its washout, its starting time, the registry's
    # enrolment, and its responder count, disputed between two secondary readings: counted once).
    assert table.loc["Williams 2018", column] == "10 / 4 / 0 / 0"


def test_completeness_without_enrolment_or_analysed(tables):
    studies, numbers = tables
    edited = studies.copy()
    row = edited.index[edited["study"] == "jelen2025"][0]
    edited.loc[row, ["enrolled", "planned"]] = float("nan")
    table = bias_table(edited, numbers).set_index("study")
    assert table.loc["Jelen 2025", "analysed of enrolled"] == "26"
    edited.loc[row, ["analysed", "enrolled"]] = [0.0, 0.0]  # a file at its limit: no share
    table = bias_table(edited, numbers).set_index("study")
    assert table.loc["Jelen 2025", "analysed of enrolled"] == "0 of 0"
    edited.loc[row, "analysed"] = float("nan")
    table = bias_table(edited, numbers).set_index("study")
    # Nothing analysed reported: the registry's enrolment is still shown where it differs.
    flagged = edited.assign(registry_enrolled=float("nan"))
    flagged.loc[row, "registry_enrolled"] = 30.0
    found = bias_table(flagged, numbers).set_index("study").loc["Jelen 2025"]
    assert found["analysed of enrolled"] == "not reported; the registry: 30 enrolled"
    assert table.loc["Jelen 2025", "analysed of enrolled"] == "not reported"


def test_the_section_says_what_the_model_does_not_correct(tables):
    studies, numbers = tables
    text = bias_section(studies, numbers, {"early_stopping_bias": True})
    assert text.startswith("### Risk of bias")
    assert "[@sterne2019rob2]" in text and "does not rate" in text
    assert "missing at random" in text and "bias term for a trial stopped early" in text
    off = bias_section(studies, numbers, {"early_stopping_bias": False})
    assert "`early_stopping_bias` is off" in off


def test_a_run_made_before_the_columns_gets_no_section(tables):
    studies, numbers = tables
    old = studies.drop(columns=["blinding", "enrolled", "planned", "sources", "comparator"])
    assert bias_section(old, numbers, {}) == ""
    assert bias_section(studies.iloc[:0], numbers, {}) == ""


def test_free_text_with_bars_or_line_breaks_stays_in_its_cell():
    from analyses.report.markdown import markdown_table

    text = markdown_table(pd.DataFrame({"a": ["double-blind |\nrandomized"], "b": [1]}))
    _, _, row = text.splitlines()
    assert row == "| double-blind / randomized | 1 |"


def test_each_studys_sources_are_listed_as_its_file_describes_them(tables):
    studies, numbers = tables
    text = bias_section(studies, numbers, {"early_stopping_bias": True})
    line = next(x for x in text.splitlines() if x.startswith("- Williams 2018: "))
    assert "abstract: Publisher's abstract (full text not reachable)" in line
    assert "carlat: Carlat Psychiatry Report review" in line
    assert "- Marton 2019" not in text  # excluded studies are not in the table
    old = studies.drop(columns=["source_descriptions"])
    assert "**Sources**" not in bias_section(old, numbers, {})


def test_the_caveats_count_secondary_numbers_as_the_table_does(tables):
    """One basis for the report's two counts of secondary numbers: a disputed number once."""
    from analyses.report.sections import _source_caveats

    studies, numbers = tables
    table = bias_table(studies, numbers).set_index("study")
    column = next(c for c in table.columns if c.startswith("numbers ("))
    included = studies.loc[studies["status"] == "included"]
    text = " ".join(_source_caveats(numbers[numbers["study"].isin(included["study"])]))
    for sid, label in included[["study", "label"]].values:
        secondary = int(table.loc[label, column].split(" / ")[1])
        if secondary:
            assert f"{sid} {secondary}" in text, sid
