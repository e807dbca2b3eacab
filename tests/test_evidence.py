"""The loader: typed objects, disputed readings, data hash and tidy tables."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from models.evidence import InputError, load_evidence
from models.evidence.schema import Disputed, Quantity
from models.evidence.tables import literature_table, quantities_table, studies_table

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def evidence():
    return load_evidence()


def test_included_studies_follow_the_sources(evidence):
    """Jelen is acute oral (not depot, as a seed article claims); the depot studies are Yoon's."""
    regimen = {s.id: s.naltrexone.regimen for s in evidence.included}
    assert regimen == {
        "williams2018": "acute",
        "jelen2025": "acute",
        "yoon2019": "sustained",
        "yoon2025": "sustained",
    }
    assert evidence.study("jelen2025").naltrexone.route == "oral"


def test_studies_are_in_publication_order(evidence):
    years = [s.citation.year for s in evidence.studies]
    assert years == sorted(years)


def test_default_readings_resolve_every_dispute(evidence):
    resolved = evidence.resolve()
    williams = resolved.study("williams2018").evidence[0]
    assert isinstance(williams.responders_naltrexone, Quantity)
    assert williams.responders_naltrexone.value == 0
    assert resolved.readings["yoon2019"] == {"rating_time": "after_infusion1_4h"}
    # the unresolved base keeps both readings
    assert isinstance(evidence.study("williams2018").evidence[0].responders_naltrexone, Disputed)


def test_alternative_reading_changes_the_number_and_the_hash(evidence):
    default = evidence.resolve()
    alt = evidence.resolve({"williams2018": {"naltrexone_responders": "one"}})
    assert alt.study("williams2018").evidence[0].responders_naltrexone.value == 1
    assert alt.data_hash != default.data_hash
    day21 = evidence.resolve({"yoon2019": {"rating_time": "day21"}}).study("yoon2019")
    assert day21.evidence[0].events.value == 5
    assert day21.evidence[0].timepoint_hours.value == 504.0


def test_unknown_reading_is_refused(evidence):
    with pytest.raises(KeyError, match="no reading 'two'"):
        evidence.resolve({"williams2018": {"naltrexone_responders": "two"}})


def test_disputes_listed(evidence):
    names = {(sid, name) for sid, name, _, _ in evidence.disputes()}
    assert names == {
        ("williams2018", "naltrexone_responders"),
        ("jelen2025", "pretreatment_interval"),
        ("jelen2025", "attenuation_source"),
        ("yoon2019", "rating_time"),
    }


def test_data_hash_tracks_file_bytes(tmp_path, evidence):
    studies = tmp_path / "studies"
    shutil.copytree(ROOT / "data" / "studies", studies)
    same = load_evidence(studies)
    assert same.data_hash == evidence.data_hash
    path = studies / "jelen2025.toml"
    path.write_text(path.read_text() + "\n# a comment\n")
    assert load_evidence(studies).data_hash != evidence.data_hash


def test_subset_drops_the_study_everywhere(evidence):
    sub = evidence.subset(["williams2018", "jelen2025"])
    assert [s.id for s in sub.studies] == ["williams2018", "jelen2025"]
    assert set(sub.file_hashes) == {"williams2018", "jelen2025", "literature"}


def test_load_raises_input_error_with_every_problem(tmp_path):
    studies = tmp_path / "studies"
    shutil.copytree(ROOT / "data" / "studies", studies)
    (studies / "empty.toml").write_text("")
    (studies / "broken.toml").write_text("[")
    with pytest.raises(InputError) as info:
        load_evidence(studies)
    files = {p.study for p in info.value.problems}
    assert files == {"empty", "broken"}


def test_covariates_must_be_given_by_every_included_study(tmp_path):
    studies = tmp_path / "studies"
    shutil.copytree(ROOT / "data" / "studies", studies)
    path = studies / "jelen2025.toml"
    path.write_text(path.read_text().replace("alcohol_use_disorder = 0.0", "other = 1.0"))
    with pytest.raises(InputError) as info:
        load_evidence(studies)
    assert any(
        p.study == "jelen2025" and "alcohol_use_disorder" in p.found for p in info.value.problems
    )


def test_tables(evidence):
    studies = studies_table(evidence)
    assert len(studies) == len(evidence.studies)
    assert set(studies.loc[studies.status == "excluded", "study"]) == {"williams2019", "marton2019"}
    assert studies.set_index("study").loc["yoon2025", "evidence"] == "arm_counts"
    numbers = quantities_table(evidence)
    # every number has a status and a note; every non-missing number a source
    assert numbers["status"].notna().all() and numbers["note"].str.len().gt(0).all()
    reported = numbers[numbers.status != "not_reported"]
    assert reported["source"].notna().all()
    # disputed numbers appear once per reading, with exactly one default per dispute
    disputed = numbers.dropna(subset=["dispute"])
    per_field = disputed.assign(field=disputed.field.str.replace(r"\[[^\]]+\]$", "", regex=True))
    assert (per_field.groupby(["study", "field"])["default"].sum() == 1).all()
    lit = literature_table(evidence)
    assert "bassler2010_ratio_of_relative_risks" in set(lit["input"])
