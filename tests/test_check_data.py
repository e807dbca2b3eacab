"""check-data on the shipped studies and on every class of bad input.

Each bad-input test mutates one valid shipped file and checks three things: exit status 2, a
message naming file, study, field, found and expected, and no traceback.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from analyses.cli import main
from analyses.commands.new_study import TEMPLATE_FILE, template_text

ROOT = Path(__file__).resolve().parents[1]
STUDIES = sorted((ROOT / "data" / "studies").glob("*.toml"))


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main(["check-data", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def mutate(tmp_path: Path, study: str, old: str, new: str) -> Path:
    """Copy a shipped study file into tmp_path with one textual change."""
    text = (ROOT / "data" / "studies" / f"{study}.toml").read_text()
    assert old in text, f"test setup: {old!r} not in {study}.toml"
    path = tmp_path / f"{study}.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def assert_problem(code: int, err: str, *fragments: str) -> None:
    assert code == 2
    assert "Traceback" not in err
    line = next((ln for ln in err.splitlines() if all(f in ln for f in fragments)), None)
    assert line is not None, f"no error line with {fragments} in:\n{err}"
    assert "found" in line and "expected" in line


def test_shipped_data_is_valid(capsys):
    code, out, _ = run_cli(capsys)
    assert code == 0
    lines = {ln.split()[0]: ln.split() for ln in out.splitlines()}
    for path in STUDIES:
        assert path.stem in lines, f"{path.stem} missing from check-data output"
    assert lines["williams2018"][1:] == ["crossover", "acute", "included"]
    assert lines["yoon2025"][1:] == ["parallel", "sustained", "included"]
    assert lines["williams2019"][-1] == "excluded"
    assert lines["marton2019"][-1] == "excluded"
    assert lines["mket2"][-1] == "registered"


@pytest.mark.parametrize("path", STUDIES, ids=[p.stem for p in STUDIES])
def test_each_shipped_study_is_valid_alone(capsys, path):
    code, out, _ = run_cli(capsys, path)
    assert code == 0
    assert out.split()[0] == path.stem


def test_no_traceback_from_a_subprocess(tmp_path):
    """The promise holds for the real command line, not only the in-process entry point."""
    bad = tmp_path / "broken.toml"
    bad.write_text("id = [\n")
    proc = subprocess.run(
        [sys.executable, "-m", "analyses", "check-data", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "broken.toml" in proc.stderr


def test_unparseable_file(capsys, tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('id = "x"\nlabel = [1,\n')
    code, _, err = run_cli(capsys, path)
    assert_problem(code, err, "broken.toml", "invalid TOML")


def test_empty_file(capsys, tmp_path):
    path = tmp_path / "empty.toml"
    path.write_text("\n  \n")
    code, _, err = run_cli(capsys, path)
    assert_problem(code, err, "empty.toml", "study 'empty'", "an empty file")


def test_missing_field(capsys, tmp_path):
    path = mutate(tmp_path, "williams2018", 'label = "Williams 2018"\n', "")
    code, _, err = run_cli(capsys, path)
    assert_problem(code, err, "williams2018.toml", "'williams2018'", "field 'label'", "required")


def test_unknown_field(capsys, tmp_path):
    path = mutate(tmp_path, "jelen2025", "[evidence.value]\n", "[evidence.value]\nvalu = 5.0\n")
    code, _, err = run_cli(capsys, path)
    assert_problem(code, err, "'jelen2025'", "evidence[madrs_day1].value.valu", "unknown field")
    # the message lists what would have been valid
    assert "status" in err and "note" in err


def test_wrong_type(capsys, tmp_path):
    path = mutate(
        tmp_path, "williams2018", "[evidence.pairs]\nvalue = 12", '[evidence.pairs]\nvalue = "12"'
    )
    code, _, err = run_cli(capsys, path)
    assert_problem(
        code, err, "'williams2018'", "evidence[response_day1].pairs.value", "'12' (str)", "integer"
    )


def test_zero_or_negative_count(capsys, tmp_path):
    path = mutate(
        tmp_path, "williams2018", "[evidence.pairs]\nvalue = 12", "[evidence.pairs]\nvalue = 0"
    )
    code, _, err = run_cli(capsys, path)
    assert_problem(code, err, "evidence[response_day1].pairs", "found 0", "at least 1")
    path = mutate(tmp_path, "yoon2019", "[evidence.n]\nvalue = 5", "[evidence.n]\nvalue = -5")
    code, _, err = run_cli(capsys, path)
    assert_problem(code, err, "'yoon2019'", "evidence[response_madrs].n", "found -5", "at least 1")


def test_count_above_denominator(capsys, tmp_path):
    path = mutate(
        tmp_path,
        "williams2018",
        "[evidence.responders_placebo]\nvalue = 7",
        "[evidence.responders_placebo]\nvalue = 13",
    )
    code, _, err = run_cli(capsys, path)
    assert_problem(code, err, "evidence[response_day1].responders_placebo", "13", "pairs = 12")


def test_bound_above_denominator(capsys, tmp_path):
    """A count known only as a bound is checked too (Yoon 2025's '>80%')."""
    path = mutate(tmp_path, "yoon2025", "lower = 17\nupper = 20", "lower = 17\nupper = 21")
    code, _, err = run_cli(capsys, path)
    assert_problem(code, err, "'yoon2025'", "events", "21", "at most n = 20")


def test_sd_not_positive(capsys, tmp_path):
    path = tmp_path / "smith2027.toml"
    path.write_text(fill_template(template_text("smith2027"), sd="0.0"))
    code, _, err = run_cli(capsys, path)
    assert_problem(code, err, "'smith2027'", "sd_change", "found 0.0", "above 0")


def test_probability_outside_unit_interval(capsys, tmp_path):
    path = mutate(tmp_path, "jelen2025", "value = 0.023", "value = 2.3")
    code, _, err = run_cli(capsys, path)
    assert_problem(code, err, "evidence[madrs_day1].p_value", "2.3", "between 0 and 1")


def test_attenuation_given_as_percent(capsys, tmp_path):
    path = mutate(tmp_path, "jelen2025", "value = 0.28", "value = 28.0")
    code, _, err = run_cli(capsys, path)
    assert_problem(code, err, "evidence[madrs_day1].attenuation", "28.0", "0.28 for 28%")


def test_unknown_design(capsys, tmp_path):
    path = mutate(tmp_path, "jelen2025", 'type = "crossover"', 'type = "cross-over"')
    code, _, err = run_cli(capsys, path)
    assert_problem(code, err, "design.type", "'cross-over'", "'parallel'")


def test_unknown_regimen(capsys, tmp_path):
    path = mutate(tmp_path, "yoon2019", 'regimen = "sustained"', 'regimen = "depot"')
    code, _, err = run_cli(capsys, path)
    assert_problem(code, err, "naltrexone.regimen", "'depot'", "'acute' or 'sustained'")


def test_unknown_scale(capsys, tmp_path):
    path = mutate(tmp_path, "jelen2025", 'scale = "MADRS"', 'scale = "MADRS-S"')
    code, _, err = run_cli(capsys, path)
    assert_problem(code, err, "outcome.scale", "'MADRS-S'", "'HAM-D17'")


def test_unknown_evidence_kind(capsys, tmp_path):
    path = mutate(tmp_path, "yoon2019", 'kind = "single_arm_binary"', 'kind = "single_arm"')
    code, _, err = run_cli(capsys, path)
    assert_problem(code, err, "evidence[response_madrs].kind", "'single_arm'", "paired_binary")


def test_duplicate_study_ids(capsys, tmp_path):
    first = tmp_path / "a"
    second = tmp_path / "b"
    first.mkdir()
    second.mkdir()
    text = (ROOT / "data" / "studies" / "jelen2025.toml").read_text()
    (first / "jelen2025.toml").write_text(text)
    (second / "jelen2025.toml").write_text(text)
    code, _, err = run_cli(capsys, first, second)
    assert_problem(code, err, "'jelen2025'", "field 'id'", "already used by", "unique")


def test_time_range_reversed(capsys, tmp_path):
    path = mutate(
        tmp_path, "yoon2019", "lower = 48.0\nupper = 144.0", "lower = 144.0\nupper = 48.0"
    )
    code, _, err = run_cli(capsys, path)
    assert_problem(code, err, "naltrexone.hours_before_first_infusion", "lower 144.0 > upper 48.0")


def test_included_study_without_usable_evidence(capsys, tmp_path):
    text = (ROOT / "data" / "studies" / "yoon2019.toml").read_text()
    path = tmp_path / "yoon2019.toml"
    path.write_text(text[: text.index("[[evidence]]")])
    code, _, err = run_cli(capsys, path)
    assert_problem(code, err, "'yoon2019'", "field 'evidence'", "usable evidence item")


def test_undeclared_source(capsys, tmp_path):
    path = mutate(
        tmp_path,
        "jelen2025",
        'source = "news_legalreader"\nnote = "News',
        'source = "news"\nnote = "News',
    )
    code, _, err = run_cli(capsys, path)
    # the attenuation is a disputed number: the field names the reading too
    field = "evidence[madrs_day1].attenuation[news_28pct].source"
    assert_problem(code, err, field, "'news'", "[sources]")


def test_dispute_reading_mismatch(capsys, tmp_path):
    path = mutate(tmp_path, "williams2018", "readings.one]", "readings.uno]")
    code, _, err = run_cli(capsys, path)
    assert_problem(
        code, err, "responders_naltrexone.readings", "['uno', 'zero']", "['one', 'zero']"
    )


def test_derived_number_needs_its_arithmetic(capsys, tmp_path):
    path = mutate(
        tmp_path, "yoon2025", 'derivation = "more than 80% of 20', 'where = "more than 80% of 20'
    )
    code, _, err = run_cli(capsys, path)
    assert_problem(code, err, "'yoon2025'", "derivation", "the arithmetic")


# ---- new-study ----------------------------------------------------------------------------

FILLED = {
    "label": '"Smith 2027"',
    "year": "2027",
    "type": '"crossover"',
    "route": '"oral"',
    "regimen": '"acute"',
    "lower": "1.0",
    "upper": "1.0",
    "scale": '"MADRS"',
    "timepoint": '"24 h"',
    "alcohol_use_disorder": "0.0",
    "paired": "true",
    "id": '"madrs_day1"',
}
VALUES = {
    "ketamine.dose_mg_per_kg": "0.5",
    "ketamine.infusions": "1",
    "naltrexone.dose_mg": "50.0",
    "outcome.timepoint_hours": "24.0",
    "sample.enrolled": "30",
    "sample.analysed": "28",
    "evidence.timepoint_hours": "24.0",
    "evidence.arms.n": "28",
    "evidence.arms.mean_change": "12.5",
}


def fill_template(text: str, sd: str = "8.0") -> str:
    """Replace every TODO the way a user would, section by section."""
    out, section = [], ""
    for line in text.splitlines():
        header = re.match(r"^\[\[?([^\]]+)\]\]?", line)
        if header:
            section = header.group(1)
        m = re.match(r'^(\w+) = "TODO"', line)
        if m:
            key = m.group(1)
            if key == "value":
                replacement = sd if section == "evidence.arms.sd_change" else VALUES[section]
            else:
                replacement = FILLED.get(key, '"filled in"')
            line = f"{key} = {replacement}"
        out.append(line)
    return "\n".join(out) + "\n"


def test_new_study_template_fails_until_filled_then_passes(capsys, tmp_path):
    assert main(["new-study", "smith2027", "--dir", str(tmp_path)]) == 0
    path = tmp_path / "smith2027.toml"
    code, _, err = run_cli(capsys, path)
    assert_problem(code, err, "'smith2027'", "'TODO'")
    path.write_text(fill_template(path.read_text()))
    code, out, err = run_cli(capsys, path)
    assert code == 0, err
    assert out.split()[:4] == ["smith2027", "crossover", "acute", "included"]


def test_new_study_refuses_to_overwrite(capsys, tmp_path):
    path = tmp_path / "jelen2025.toml"
    path.write_text("precious")
    code = main(["new-study", "jelen2025", "--dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert_problem(code, err, "jelen2025.toml", "existing file", "never overwrites")
    assert path.read_text() == "precious"


def test_new_study_rejects_a_bad_id(capsys, tmp_path):
    code = main(["new-study", "Smith-2027", "--dir", str(tmp_path)])
    assert_problem(code, capsys.readouterr().err, "'Smith-2027'", "lower-case")
    assert not list(tmp_path.iterdir())


def test_new_study_template_is_a_toml_file_with_one_placeholder():
    text = TEMPLATE_FILE.read_text(encoding="utf-8")
    assert tomllib.loads(text)["id"] == "{id}"
    assert "{id}" not in template_text("smith2027")


def test_an_f_statistic_must_state_its_direction(capsys, tmp_path):
    path = mutate(tmp_path, "jelen2025", 'direction = "attenuation"', "")
    code, _, err = run_cli(capsys, path)
    assert_problem(code, err, "jelen2025", "direction", "no sign of its own")


# Numbers TOML accepts that no study can have (issue 12): each names the file, the study, the
# field, what was found and what was expected, and exits 2.
@pytest.mark.parametrize(
    ("study", "old", "new", "field", "expected"),
    [
        ("jelen2025", "value = 5.39", "value = nan", "evidence[madrs_day1].value", "finite"),
        ("jelen2025", "value = 5.39", "value = -inf", "evidence[madrs_day1].value", "finite"),
        ("jelen2025", "value = 74", "value = 10000000000000000000000", "madrs_day1].df", "1e+06"),
        (
            "jelen2025",
            "alcohol_use_disorder = 0.0",
            "alcohol_use_disorder = nan",
            "covariates.alcohol_use_disorder",
            "finite",
        ),
        ("jelen2025", "value = 27", "value = 20", "sample.analysed", "at most enrolled = 20"),
        ("williams2018", "value = 12", "value = 10", "pairs", "at most sample.analysed = 10"),
        ("williams2018", "value = 16\n", "value = -3\n", "sample.registry_enrolled", "at least 1"),
    ],
)
def test_impossible_numbers_are_refused(capsys, tmp_path, study, old, new, field, expected):
    code, _, err = run_cli(capsys, mutate(tmp_path, study, old, new))
    assert_problem(code, err, f"{study}.toml", f"'{study}'", field, expected)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('doi = "10.1176/appi.ajp.2018.18020138"', 'doi = "TODO"', "citation.doi"),
        ('label = "Williams 2018"', 'label = "TODO"', "label"),
    ],
)
def test_a_template_placeholder_left_in_a_text_field_is_refused(capsys, tmp_path, old, new, field):
    code, _, err = run_cli(capsys, mutate(tmp_path, "williams2018", old, new))
    assert_problem(code, err, "'williams2018'", f"field '{field}'", "'TODO'", "placeholder")


def test_an_arm_label_left_as_the_placeholder_is_refused(capsys, tmp_path):
    path = mutate(tmp_path, "yoon2025", 'label = "ketamine + saline"', 'label = "TODO"')
    code, _, err = run_cli(capsys, path)
    assert_problem(code, err, "'yoon2025'", ".label", "'TODO'", "placeholder")
