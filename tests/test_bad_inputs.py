"""Issue 12's classes of bad input, beyond one study's numbers (see tests/test_check_data.py).

Each case checks the promise of docs/reliability.md: exit status 2, a line naming the file,
the study (or "config"), the field, what was found and what was expected, and no traceback.
Nothing here fits a model: `check-data` and `run` share one pre-fit check
(:mod:`analyses.commands.preflight`), so what it refuses, neither command gets past.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from analyses.cli import main
from analyses.commands.preflight import output_problems, preflight
from analyses.commands.publish import previous_runs, unreadable_runs, update_latest
from analyses.report.sections import _what_changed
from models.evidence import load_evidence
from models.evidence.problems import MAX_PROBLEMS_PER_FILE, InputError, Problem
from models.simulate import Truth, simulate_study, write_study
from tests.conftest import ROOT, private_project


def problems_of(call) -> list[str]:
    with pytest.raises(InputError) as info:
        call()
    return [str(p) for p in info.value.problems]


def has(lines: list[str], *fragments: str) -> bool:
    return any(all(f in line for f in fragments) for line in lines)


# ---- the study files ------------------------------------------------------------------------


def copy_studies(tmp_path: Path) -> Path:
    studies = tmp_path / "studies"
    shutil.copytree(ROOT / "data" / "studies", studies)
    return studies


def edit(studies: Path, study: str, old: str, new: str) -> None:
    path = studies / f"{study}.toml"
    text = path.read_text()
    assert old in text, f"test setup: {old!r} not in {study}.toml"
    path.write_text(text.replace(old, new, 1))


BOTH = (
    '[evidence.both_responded]\nvalue = 5\nstatus = "reported"\nsource = "abstract"\nnote = "x"\n\n'
)


@pytest.mark.parametrize(
    ("study", "old", "new", "fragments"),
    [
        ("williams2018", "year = 2018", "year = 1066", ("citation.year", "1066", "1950 to")),
        ("williams2018", "year = 2018", "year = 3000", ("citation.year", "3000")),
        ("jelen2025", "value = 5.39", "value = -5.39", ("madrs_day1].value", "at least 1e-06")),
        ("jelen2025", "value = 5.39", "value = 0.0", ("madrs_day1].value", "at least 1e-06")),
        ("jelen2025", "value = 5.39", "value = 1e-300", ("madrs_day1].value", "at least 1e-06")),
        ("williams2018", "value = 24.0", "value = 999999.0", ("timepoint_hours", "8760")),
        # Figures draw labels and readings: matplotlib would read '$...$' as mathematics.
        ("williams2018", 'label = "Williams 2018"', 'label = "W $\\frac$"', ("label", "'$'")),
        ("williams2018", 'label = "Williams 2018"', 'label = " "', ("label", "study's name")),
        (
            "yoon2025",
            'label = "ketamine + saline"',
            'label = "ketamine $+$ saline"',
            ("arms[1].label", "without '$'"),
        ),
        ("williams2018", '"zero", "one"]', '"zero", "$one$"]', ("readings", "'$one$'")),
        ("williams2018", "words = { zero =", "words = { two =", ("words", "'two'", "one of")),
        ("williams2018", 'label = "Williams 2018"', f'label = "{"W" * 81}"', ("81 characters",)),
        ("williams2018", 'label = "Williams 2018"', 'label = "W\\n2018"', ("label", "one line")),
        (
            "williams2018",
            "alcohol_use_disorder = 0.0",
            '"$d$" = 0.0',
            ("covariates.$d$", "without '$'"),
        ),
        (
            "williams2018",
            "[evidence.responders_naltrexone]\ndispute",
            BOTH + "[evidence.responders_naltrexone]\ndispute",
            ("both_responded", "at most the responders in each period"),
        ),
    ],
)
def test_impossible_years_statistics_hours_and_tables(tmp_path, study, old, new, fragments):
    studies = copy_studies(tmp_path)
    edit(studies, study, old, new)
    assert has(problems_of(lambda: load_evidence(studies)), f"'{study}'", *fragments)


def test_a_prior_file_whose_name_holds_a_dollar_is_refused(tmp_path):
    """The set's name labels a scenario in the figures, where '$...$' reads as mathematics."""
    from models.priors import load_priors

    path = tmp_path / "my$set$.toml"
    path.write_text('extends = "neutral"\n')
    lines = problems_of(lambda: load_priors(path, load_evidence().literature))
    assert has(lines, "my$set$", "file name", "without '$'")


def test_a_study_in_a_subfolder_is_read_by_run_as_by_check_data(tmp_path):
    studies = copy_studies(tmp_path)
    (studies / "2025").mkdir()
    shutil.move(studies / "yoon2025.toml", studies / "2025" / "yoon2025.toml")
    evidence = load_evidence(studies)
    assert evidence.files["yoon2025"] == studies / "2025" / "yoon2025.toml"
    assert evidence.data_hash == load_evidence(ROOT / "data" / "studies").data_hash


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("\ufeffid = 'x'\n", "byte-order mark"),
        ("a = " + "[" * 100_000 + "]" * 100_000 + "\n", "nested too deeply"),
        ("# padding\n" * 120_000, "under 1 MB"),
    ],
)
def test_unreadable_toml_is_named(tmp_path, capsys, text, fragment):
    path = tmp_path / "x.toml"
    path.write_text(text, encoding="utf-8")
    assert main(["check-data", str(path)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err


def test_problems_per_file_are_capped():
    many = [Problem("f.toml", "s", f"k{i}", "x", "y") for i in range(5 * MAX_PROBLEMS_PER_FILE)]
    shown = InputError(many).problems
    assert len(shown) == MAX_PROBLEMS_PER_FILE + 1
    assert f"{4 * MAX_PROBLEMS_PER_FILE} more problems" in str(shown[-1])


# ---- individual participant data ------------------------------------------------------------


def ipd_study(folder: Path, paired: bool = False) -> tuple[Path, Path]:
    """A simulated study with an IPD CSV beside it (paired: a 10-person crossover)."""
    folder.mkdir(parents=True, exist_ok=True)
    study, ipd, _ = simulate_study("ipd", "sim2030", "sustained", Truth(), 20, seed=3)
    if paired:
        study["evidence"][0]["paired"] = True
        ipd = pd.DataFrame(
            [
                {"participant": f"p{i}", "condition": c, "change": 5.0 + i + j}
                for i in range(10)
                for j, c in enumerate(("ketamine_placebo", "ketamine_naltrexone"))
            ]
        )
    return write_study(study, folder, ipd), folder / study["evidence"][0]["file"]


def test_editing_an_ipd_file_changes_the_data_hash(tmp_path):
    studies = copy_studies(tmp_path)
    _, csv = ipd_study(studies)
    before = load_evidence(studies)
    assert "sim2030/outcome" in before.file_hashes
    frame = pd.read_csv(csv)
    frame.loc[0, "change"] += 1.0
    frame.to_csv(csv, index=False)
    assert load_evidence(studies).data_hash != before.data_hash


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        ("outside", ("evidence[outcome].file", "outside the study's folder")),
        ("absolute", ("evidence[outcome].file", "outside the study's folder")),
        ("duplicate", (":participant", "two rows for one period")),
        ("no_pair", (":participant", "no participant with both periods")),
        ("infinite", (":change", "finite numbers")),
        ("control_row", (":condition", "only the two periods")),
    ],
)
def test_bad_ipd_files_are_refused(tmp_path, capsys, change, fragments):
    study_file, csv = ipd_study(tmp_path / "studies", paired=True)
    frame = pd.read_csv(csv)
    text = study_file.read_text()
    if change in ("outside", "absolute"):
        outside = tmp_path / "elsewhere.csv"
        frame.to_csv(outside, index=False)
        target = "../elsewhere.csv" if change == "outside" else str(outside)
        study_file.write_text(text.replace(f'file = "{csv.name}"', f'file = "{target}"'))
    elif change == "duplicate":
        pd.concat([frame, frame.iloc[[0]]]).to_csv(csv, index=False)
    elif change == "no_pair":
        frame[frame.condition == "ketamine_placebo"].to_csv(csv, index=False)
    elif change == "infinite":
        frame.assign(change=[float("inf"), *frame.change[1:]]).to_csv(csv, index=False)
    else:
        extra = pd.DataFrame([{"participant": "p99", "condition": "control", "change": 1.0}])
        pd.concat([frame, extra]).to_csv(csv, index=False)
    assert main(["check-data", str(study_file)]) == 2
    err = capsys.readouterr().err
    assert has(err.splitlines(), "'sim2030'", *fragments), err
    assert "Traceback" not in err


def test_paired_ipd_draws_its_predictive_check(tmp_path):
    """A paired IPD item once crashed the predictive-check figure after a whole fit."""
    import pymc as pm

    from analyses.inference.predictive import FORWARD_COMPILE
    from analyses.report.figures import predictive_checks
    from models.blockade import build_blockade_model
    from models.priors import load_priors

    studies = copy_studies(tmp_path)
    ipd_study(studies, paired=True)
    evidence = load_evidence(studies).resolve()
    model = build_blockade_model(evidence, load_priors("neutral", evidence.literature))
    with model:
        idata = pm.sample_prior_predictive(draws=20, random_seed=1, compile_kwargs=FORWARD_COMPILE)
    fig = predictive_checks(idata, "prior_predictive", "check")
    panels = [(ax.get_title(), ax.get_xlabel()) for ax in fig.axes]
    # The paired IPD item's panel for the naltrexone period, on the outcome's raw scale.
    assert any(
        "ketamine + naltrexone" in t and x == "mean change (raw scale)" for t, x in panels
    ), panels


# ---- configuration, priors and the results folder: one pre-fit check -------------------------


@pytest.fixture
def project(tmp_path):
    studies, results, config = private_project(tmp_path)
    return {"studies": studies, "results": results, "config": config, "base": tmp_path}


def with_config(project, old: str, new: str) -> Path:
    text = project["config"].read_text()
    assert old in text, f"test setup: {old!r} not in the configuration"
    project["config"].write_text(text.replace(old, new, 1))
    return project["config"]


@pytest.mark.parametrize(
    ("old", "new", "fragments"),
    [
        ("covariates = []", 'covariates = ["age"]', ("model.covariates", "'age'")),
        ("prior_files = []", 'prior_files = ["nowhere.toml"]', ("nowhere.toml", "no such file")),
        ("draws = 1000", "draws = 1000000000000", ("sampler.draws", "100000")),
        ('name = "primary"', f'name = "{"x" * 300}"', ("analysis.name", "40")),
        ("[hypotheses]", "[hypotheses]\nprimary_grid = [0.3, nan]", ("primary_grid", "nan")),
        ("primary = 0.5 ", "primary = 2.0 ", ("hypotheses.primary", "2.0")),
        ("[model]", "[model]\nunknown_hours = [-5.0, 10.0]", ("unknown_hours", "-5.0")),
        ("[model]", "[model]\nacute_reference_hours = 96.0", ("model", "below sustained")),
    ],
)
def test_run_and_check_data_refuse_the_same_configuration(project, capsys, old, new, fragments):
    config = with_config(project, old, new)
    for command in (["check-data", "--config", str(config)], ["run", "--config", str(config)]):
        assert main(command) == 2, command
        err = capsys.readouterr().err
        assert has(err.splitlines(), *fragments), err
        assert "Traceback" not in err
    assert not project["results"].exists() or not any(project["results"].iterdir())


def test_a_literature_input_a_prior_needs_is_checked_before_the_fit(project, monkeypatch):
    """check-data used to pass a literature file that made `run` crash (issue 12)."""
    import analyses.commands.preflight as pf

    real = pf.load_evidence

    def broken(studies_dir=None):
        evidence = real(studies_dir)
        lit = evidence.literature
        inputs = dict(lit.inputs)
        key = "bassler2010_ratio_of_relative_risks"
        inputs[key] = inputs[key].model_copy(update={"value": 0.0})
        from dataclasses import replace

        return replace(evidence, literature=lit.model_copy(update={"inputs": inputs}))

    monkeypatch.setattr(pf, "load_evidence", broken)
    lines = problems_of(lambda: preflight(project["config"], project["studies"]))
    assert has(lines, "early_stop_log_exaggeration", "bassler2010", "a ratio > 0")


@pytest.mark.parametrize("kind", ["file", "dangling", "latest_dir", "latest_file", "readonly"])
def test_a_results_folder_that_cannot_take_a_run_is_refused_before_fitting(tmp_path, kind):
    root = tmp_path / "results"
    if kind == "file":
        root.write_text("not a folder")
    elif kind == "dangling":
        root.symlink_to(tmp_path / "nowhere")
    else:
        root.mkdir()
    if kind == "latest_dir":
        (root / "latest").mkdir()
    elif kind == "latest_file":
        (root / "latest").write_text("mine")
    elif kind == "readonly":
        if os.geteuid() == 0:
            pytest.skip("root can write to a read-only folder")
        root.chmod(0o500)
    lines = [str(p) for p in output_problems(root, "config.toml")]
    assert has(lines, "config.toml", "output.results_dir"), lines


def test_latest_that_is_not_our_link_is_left_alone(tmp_path):
    (tmp_path / "run1").mkdir()
    (tmp_path / "latest").write_text("the user's own file")
    assert update_latest(tmp_path, tmp_path / "run1") is False
    assert (tmp_path / "latest").read_text() == "the user's own file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest", "run1"]  # no stray link


@pytest.mark.parametrize("manifest", ["{not json", "[1, 2]", '{"run_id": "x"}'])
def test_a_corrupt_earlier_manifest_is_skipped_and_said(tmp_path, manifest):
    good, bad = tmp_path / "20260101-000000-primary-aaaaaa", tmp_path / "broken"
    for folder in (good, bad):
        folder.mkdir()
    record = {"run_id": good.name, "created": "2026-01-01T00:00:00Z", "headline": {}}
    (good / "manifest.json").write_text(json.dumps(record))
    (bad / "manifest.json").write_text(manifest)
    assert previous_runs(tmp_path) == [good]
    assert unreadable_runs(tmp_path) == [bad]
    text = _what_changed({"skipped_earlier_runs": ["broken"], "headline": {}}, good)
    assert "broken" in text and "could not be compared" in text


def test_run_ids_made_in_the_same_second_differ(tmp_path, monkeypatch):
    from analyses.commands import publish

    tokens = iter(["aaaaaa", "aaaaaa", "bbbbbb"])
    monkeypatch.setattr(publish.secrets, "token_hex", lambda _: next(tokens))
    first = publish.new_run_id(tmp_path, "primary")
    (tmp_path / first).mkdir()
    second = publish.new_run_id(tmp_path, "primary")  # the same token again: drawn anew
    assert first != second and second.endswith("bbbbbb")


def test_a_stale_partial_folder_is_reported_and_left_alone(project, monkeypatch):
    """A killed process's staging folder: the next run says so and does not touch it."""
    from analyses.commands import run as run_module

    stale = project["results"] / ".20260101-000000-primary-aaaaaa.partial-999"
    stale.mkdir(parents=True)
    (stale / "half.csv").write_text("x")

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(run_module, "fit_primary", stop)
    lines = []
    with pytest.raises(Stop):
        run_module.run(
            project["config"], quick=True, say=lines.append, studies_dir=project["studies"]
        )
    assert any(stale.name in line and "killed run" in line for line in lines), lines
    assert (stale / "half.csv").read_text() == "x"


@pytest.mark.parametrize("kind", ["file", "dangling", "long_id"])
def test_new_study_refuses_a_folder_it_cannot_write_and_an_over_long_id(tmp_path, capsys, kind):
    target, study_id = tmp_path / "dir", "smith2027"
    if kind == "file":
        target.write_text("not a folder")
    elif kind == "dangling":
        target.symlink_to(tmp_path / "nowhere")
    else:
        study_id = "s" * 300
    assert main(["new-study", study_id, "--dir", str(target)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert ("'--dir'" in err) if kind != "long_id" else ("<= 40" in err and len(err) < 400)


# ---- the model at its starting point --------------------------------------------------------


def test_a_term_infinite_at_the_start_is_named_and_a_merely_unstable_one_is_not(monkeypatch):
    """-inf where the sampler would start is refused, naming the term; a term that overflows
    only as written (log1p(exp(800))), not as the sampler evaluates it, passes."""
    import pymc as pm
    import pytensor.tensor as pt

    from analyses.commands import preflight as preflight_module
    from models import blockade

    real = blockade.build_blockade_model

    def with_extra_terms(*args, **kwargs):
        model = real(*args, **kwargs)
        with model:
            pm.Potential("impossible", pt.log(pt.zeros(())))
            pm.Potential("unstable_as_written", pt.log1p(pt.exp(800.0 + model["beta_acute"])))
        return model

    monkeypatch.setattr(blockade, "build_blockade_model", with_extra_terms)
    inputs = preflight_module.load_inputs(None, None)
    (problem,) = preflight_module.start_problems(inputs)
    assert "starting point in impossible" in str(problem)
    assert "unstable_as_written" not in str(problem)


# nutpie's real failure to start, in a process of its own: after it, nutpie's threads crash
# the interpreter's teardown, so the script leaves at once as the command line does.
CANNOT_START = """
import os
import pymc as pm
import pytensor.tensor as pt
from analyses.commands.preflight import could_not_start
from analyses.inference.sampling import SamplerSettings, compile_model, sample_compiled

with pm.Model() as model:
    pm.Normal("x")
    pm.Potential("impossible", pt.log(pt.zeros(())))
settings = SamplerSettings(draws=100, tune=100, chains=2, seed=1)
try:
    sample_compiled(compile_model(model), {}, settings)
    print("started")
except Exception as err:
    print("recognised" if could_not_start(err) else f"not recognised: {err!r}")
os._exit(0)
"""


@pytest.mark.fit
def test_nutpies_real_failure_to_start_is_recognised():
    """The command line checks the starting point only once nutpie fails to start: this is
    nutpie's own error (a later nutpie rewording it would fail here, not in a user's run)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", CANNOT_START], cwd=ROOT, capture_output=True, text=True
    )
    assert done.stdout.strip() == "recognised", done.stdout + done.stderr[-2000:]


def test_only_the_command_line_leaves_the_start_check_until_nutpie_fails(monkeypatch):
    """A run from ``main`` in Python checks first; from ``entry`` (which leaves at once)
    it does not."""
    from analyses import cli
    from analyses.commands import run as run_module

    seen = []
    monkeypatch.setattr(run_module, "main_run", lambda *a, **k: seen.append(k) or 0)
    assert main(["run", "--quick"]) == 0
    monkeypatch.setitem(cli._LEAVES_AT_ONCE, "yes", True)
    assert main(["run", "--quick"]) == 0
    assert [k["check_start"] for k in seen] == [True, False]


def test_a_run_whose_fit_cannot_start_names_the_infinite_term(monkeypatch):
    """A run checks the starting point only when nutpie cannot start; it then raises the same
    named error preflight (and so check-data) gives, and passes any other error through."""
    import pymc as pm
    import pytensor.tensor as pt

    from analyses.commands import preflight as preflight_module
    from analyses.commands import run as run_module
    from models import blockade

    real = blockade.build_blockade_model
    impossible = {"on": True}

    def with_extra_term(*args, **kwargs):
        model = real(*args, **kwargs)
        if impossible["on"]:
            with model:
                pm.Potential("impossible", pt.log(pt.zeros(())))
        return model

    def cannot_start(*args, **kwargs):
        raise RuntimeError("All initialization points failed\n\nCaused by: ErrorCode(4)")

    monkeypatch.setattr(blockade, "build_blockade_model", with_extra_term)
    monkeypatch.setattr(run_module, "fit_inputs", cannot_start)
    inputs = preflight_module.load_inputs(None, None)
    with pytest.raises(InputError, match="starting point in impossible"):
        run_module.fit_primary(inputs, say=lambda line: None)
    # Every term finite at the start: nutpie failed at its jittered points, and says so.
    impossible["on"] = False
    with pytest.raises(InputError, match="jittered points") as caught:
        run_module.fit_primary(inputs, say=lambda line: None)
    assert "All initialization points failed" in str(caught.value.problems[0])
    assert preflight_module.start_failure(inputs, RuntimeError("another failure")) is None
    with pytest.raises(RuntimeError, match="another failure"):  # passed through as it is
        monkeypatch.setattr(run_module, "fit_inputs", _raises(RuntimeError("another failure")))
        run_module.fit_primary(inputs, say=lambda line: None)


def _raises(err: Exception):
    def fail(*args, **kwargs):
        raise err

    return fail


@pytest.mark.parametrize("command", ["validate", "bench"])
def test_an_out_path_that_cannot_take_the_file_is_refused_first(tmp_path, capsys, command):
    """Minutes of validation or benchmark must not end in a traceback where they write."""
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    for out, fragment in [
        (tmp_path, "a folder or another non-file"),
        (a_file / "record.json", "a file, where a folder is needed"),
        (Path("/proc/no/such/record.json"), "a folder that cannot be written"),
    ]:
        assert main([command, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "field '--out'" in err and fragment in err and "Traceback" not in err


def test_validate_only_refuses_a_record_it_cannot_read_and_leaves_it_alone(tmp_path, capsys):
    for text, fragment in [("not json", "not a validation record"), ("[1, 2]", "holding list")]:
        record = tmp_path / "results.json"
        record.write_text(text)
        assert main(["validate", "--only", "union_log_density", "--out", str(record)]) == 2
        assert fragment in capsys.readouterr().err
        assert record.read_text() == text


def test_a_scheduler_address_that_answers_nothing_is_bad_input(tmp_path, capsys):
    """Refused before any section runs, as one line, not Dask's traceback."""
    from analyses.validation.cluster import _connect

    out = tmp_path / "record.json"
    args = ["validate", "--only", "sbc_blockade", "--scheduler", "garbage", "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "field '--scheduler'" in err and "garbage" in err and "Traceback" not in err
    assert not out.exists()

    def silent(address, timeout):  # what Dask raises after its timeout, without the wait
        raise OSError(f"Timed out trying to connect to {address} after {timeout}")

    with pytest.raises(InputError, match="no Dask scheduler answered there"):
        _connect(silent, "tcp://10.0.0.1:8786")


def test_a_device_or_a_fifo_is_refused_without_reading_it(tmp_path):
    """/dev/zero reports size 0 and never ends, and a FIFO blocks its reader forever: both are
    refused before any read, as not regular files (found by a hostile test)."""
    from models.evidence.problems import toml_problem

    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        raw, problem = toml_problem(path, "design", "a design file (.toml)")
        assert raw is None and problem.found == "not a regular file"
    raw, problem = toml_problem(tmp_path, "design", "a design file (.toml)")
    assert problem.found == "a directory"
