"""The sensitivity suite: every scenario changes what it claims, and a run writes it all.

A real run with a few scenarios of each kind checks the suite's whole path here; the full suite
on the shipped data runs in `make validate` (see tests/test_validation_record.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analyses.commands import run as run_module
from analyses.inference.config import load_config
from analyses.suite.reweight import K_HAT_MAX
from analyses.suite.scenarios import _spec, build_scenarios
from analyses.suite.worker import model_for as _model_for
from models.evidence import load_evidence
from models.priors import load_priors
from tests.conftest import private_project
from tests.test_outputs import undocumented

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scenarios():
    config, _ = load_config()
    base = load_evidence()
    priors = load_priors(config.analysis.priors, base.literature)
    return base, {s.name: s for s in build_scenarios(base, config, priors)}


def model(base, scenarios, name):
    return _model_for(base, scenarios[name])


def test_the_suite_has_every_required_scenario(scenarios):
    _, by_name = scenarios
    names = set(by_name)
    required = {
        "priors: sceptical",
        "priors: opioid_favouring",
        "leave out williams2018",
        "leave out yoon2019",
        "leave out jelen2025",
        "leave out yoon2025",
        "early-stopping bias off",
        "reading williams2018.naltrexone_responders = one",
        "reading jelen2025.pretreatment_interval = news_60min",
        "reading yoon2019.rating_time = day21",
        "within-subject correlation 0.3",
        "within-subject correlation 0.5",
        "within-subject correlation 0.8",
        "single-arm evidence excluded",
        "timing moderator: log_hours",
        "cumulative to 2018",
        "cumulative to 2019",
        "cumulative to 2025",
        # what the answer leans on (each name says the slot or dispute it changes)
        "tau_beta halfnormal(sigma=0.5)",
        "tau_beta halfnormal(sigma=1)",
        "tau_beta halfcauchy(beta=0.2)",
        "specific_share fixed at 1",
        "reading jelen2025.attenuation_source = f_only",
        "ketamine_response of the single arm's external control: SD 1",
        "ketamine_response of the single arm's external control: 52.2%",
        "nonspecific_share equal to beta",
        "ketamine_effect pooled across comparators",
        "nonspecific_share fixed at 0",
        "specific_share concentration 10",
        "early_stop_log_exaggeration SD of the pooled mean",
        "early_stop_log_exaggeration centred on 2",
    }
    assert required <= names, required - names
    assert sum(n.startswith("specific_share fixed at") for n in names) == 3


@pytest.mark.parametrize("study", ["williams2018", "yoon2019", "jelen2025", "yoon2025"])
def test_leave_one_out_lacks_its_study(scenarios, study):
    base, by_name = scenarios
    coords = model(base, by_name, f"leave out {study}").coords["study"]
    assert study not in coords and len(coords) == 3


def value_of(m, name):
    """The location of a prior that a model holds as data."""
    node = m[name].owner
    mu = node.op.dist_params(node)[0]
    return float(m.compile_fn(mu, inputs=[], on_unused_input="ignore")({}))


def test_prior_scenarios_change_the_prior(scenarios):
    base, by_name = scenarios
    for name, mu in (("priors: sceptical", 0.0), ("priors: opioid_favouring", 0.9)):
        m = model(base, by_name, name)
        assert value_of(m, "beta_acute") == pytest.approx(mu)


def test_correlation_scenarios_fix_the_correlation(scenarios):
    base, by_name = scenarios
    for rho in (0.3, 0.5, 0.8):
        m = model(base, by_name, f"within-subject correlation {rho:g}")
        assert "within_subject_correlation" not in {v.name for v in m.free_RVs}
        got = m.compile_fn(m["within_subject_correlation"], inputs=[], on_unused_input="ignore")
        assert float(got({})) == pytest.approx(rho)


def test_reading_scenarios_use_the_alternative(scenarios):
    base, by_name = scenarios
    sc = by_name["reading williams2018.naltrexone_responders = one"]
    resolved = base.resolve(sc.readings).study("williams2018")
    assert resolved.evidence[0].responders_naltrexone.value == 1
    day21 = base.resolve(by_name["reading yoon2019.rating_time = day21"].readings).study("yoon2019")
    assert day21.evidence[0].events.value == 5


def test_structural_scenarios(scenarios):
    base, by_name = scenarios
    assert (
        "early_stop_log_exaggeration"
        not in model(base, by_name, "early-stopping bias off").named_vars
    )
    assert "yoon2019" not in model(base, by_name, "single-arm evidence excluded").coords["study"]
    assert "log_hours" in model(base, by_name, "timing moderator: log_hours").named_vars
    kappa = model(base, by_name, "specific_share fixed at 1")
    assert "specific_share" not in {v.name for v in kappa.free_RVs}


def test_cumulative_steps_follow_publication_order(scenarios):
    base, by_name = scenarios
    assert model(base, by_name, "cumulative to 2018").coords["study"] == ("williams2018",)
    assert set(model(base, by_name, "cumulative to 2019").coords["study"]) == {
        "williams2018",
        "yoon2019",
    }
    assert by_name["cumulative to 2025"].studies is None  # every study: the primary fit itself


def test_every_scenario_has_a_label_a_reader_can_read(scenarios):
    """Figures and the report show labels: one per scenario, none alike, and none carrying a
    prior slot's name or a study's id (those stay in the key, ``scenario``)."""
    base, by_name = scenarios
    labels = [sc.label for sc in by_name.values()]
    assert all(labels) and len(set(labels)) == len(labels)
    slots = set(next(iter(by_name.values())).priors["slots"])
    ids = {s.id for s in base.studies}
    for label in labels:
        assert not [word for word in (*slots, *ids) if word in label], label
    assert by_name["leave out williams2018"].label == "Williams 2018 left out"
    assert by_name["tau_beta halfnormal(sigma=0.5)"].label.startswith("Between-study SD τ_β ~")
    assert by_name["specific_share fixed at 1"].label == "Specific share κ_s fixed at 1"
    assert by_name["cumulative to 2019"].label == "Studies up to 2019"
    readings = [sc.label for name, sc in by_name.items() if name.startswith("reading ")]
    assert "Williams 2018: one responder under naltrexone" in readings
    assert "_" not in "".join(readings)  # each reading in the study file's words
    assert by_name["tau_beta halfcauchy(beta=0.2)"].label.endswith("HalfCauchy(0.2)")


def test_the_figures_and_report_show_labels_and_fall_back_to_names():
    """A table with labels shows them (a twin names its twin's label); one written before the
    column existed shows the scenario names."""
    from analyses.report import robustness

    rows = [
        {"scenario": "primary", "label": "main analysis", "same_fit_as": ""},
        {"scenario": "leave out a", "label": "Study A left out", "same_fit_as": ""},
        {"scenario": "twin", "label": "Twin", "same_fit_as": "leave out a"},
    ]
    shown = robustness.with_shown(pd.DataFrame(rows))
    assert list(shown["shown"]) == ["Main analysis", "Study A left out", "Twin"]
    assert list(shown["twin_shown"]) == ["", "", "Study A left out"]
    old = robustness.with_shown(pd.DataFrame(rows).drop(columns="label"))
    assert list(old["shown"]) == ["Main analysis", "leave out a", "twin"]
    assert list(old["twin_shown"]) == ["", "", "leave out a"]


def test_user_prior_files_become_scenarios(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(
        'extends = "neutral"\n[priors]\ntau_beta = {dist = "halfnormal", sigma = 0.05}\n'
    )
    config_path = tmp_path / "config.toml"
    text = (
        (ROOT / "analyses" / "primary.toml")
        .read_text()
        .replace("prior_files = []", f'prior_files = ["{path}"]')
    )
    config_path.write_text(text)
    config, _ = load_config(config_path)
    base = load_evidence()
    names = {
        s.name: s for s in build_scenarios(base, config, load_priors("neutral", base.literature))
    }
    assert _spec(names["priors: mine"].priors)["tau_beta"] == {"dist": "halfnormal", "sigma": 0.05}


# A few scenarios of each kind the suite's main model holds: a study left out, its twin (leaving
# out the only single-arm study = excluding single-arm evidence), a prior set, and cumulative
# steps (the last is the primary fit). The whole suite on the shipped data is run by
# `make validate` and checked from its record in tests/test_validation_record.py.
SMALL_SUITE = (
    "priors: sceptical",
    "leave out yoon2019",
    "single-arm evidence excluded",
    "leave out jelen2025",
    "cumulative to 2018",
    "cumulative to 2025",
)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A real run with the suite cut to SMALL_SUITE: the suite's whole path, in about 40 s."""
    from analyses.suite import runner

    def small(*args):
        return [s for s in build_scenarios(*args) if s.name in SMALL_SUITE]

    studies, _, config = private_project(tmp_path_factory.mktemp("full"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "build_scenarios", small)
        return run_module.run(config, quick=False, say=lambda _: None, studies_dir=studies)


@pytest.mark.fit
def test_a_run_with_the_suite_writes_it(small_run):
    table = pd.read_csv(small_run / "sensitivity.csv")
    for col in (
        "scenario",
        "change",
        "p_primary",
        "p_permissive",
        "p_none",
        "p_other",
        "bf_permissive_vs_primary",
        "beta_acute_median",
        "beta_acute_eti95_lb",
        "beta_acute_eti95_ub",
        "beta_sustained_median",
        "delta_timing_median",
        "certified",
        "agrees",
        "log10_bf_permissive_vs_primary",
        "agrees_bf",
    ):
        assert col in table.columns, col
    assert table.iloc[0]["scenario"] == "primary"
    assert bool(table.iloc[0]["agrees_bf"])  # the primary row agrees with itself
    assert (table.kind == "thresholds").sum() == 8
    loo = table.set_index("scenario").loc["leave out jelen2025"]
    assert "jelen2025" not in loo["studies"].split()
    cumulative = pd.read_csv(small_run / "cumulative.csv")
    assert list(cumulative["added"]) == ["williams2018", "jelen2025 yoon2019 yoon2025"]
    assert list(cumulative["added_label"]) == [
        "Williams 2018",
        "Jelen 2025, Yoon 2019, Yoon 2025",
    ]
    assert table.set_index("scenario").loc["leave out jelen2025", "label"] == "Jelen 2025 left out"
    assert cumulative.iloc[-1]["same_fit_as"] == "primary"
    for name in ("robustness.png", "cumulative.png"):
        assert (small_run / "figures" / name).stat().st_size > 0
    report = (small_run / "report.md").read_text()
    assert "## Robustness" in report and "## Cumulative evidence" in report
    assert "Power-scaling" in report and "moved P(" in report
    assert json.loads((small_run / "manifest.json").read_text())["quick"] is False


@pytest.mark.fit
def test_the_suite_compiles_each_model_once_and_fits_twins_once(small_run):
    table = pd.read_csv(small_run / "sensitivity.csv")
    cumulative = pd.read_csv(small_run / "cumulative.csv")
    refits = pd.concat([table[table.kind == "sensitivity"], cumulative])
    refits = refits[refits["same_fit_as"].fillna("") != "primary"]  # the last step is primary
    assert 1 <= int(refits["compiled"].sum()) <= 2
    table = table.set_index("scenario")
    assert table.loc["single-arm evidence excluded", "same_fit_as"] == "leave out yoon2019"
    assert not table.loc["single-arm evidence excluded", "compiled"]


@pytest.mark.fit
def test_every_column_of_every_table_is_in_the_codebook(small_run):
    """docs/outputs.md lists every column of every CSV a full run writes."""
    tables = sorted(small_run.glob("*.csv"))
    assert len(tables) >= 12
    for path in tables:
        assert undocumented(path, path.name) == [], path.name
        header = path.read_text().splitlines()[0].split(",")
        assert all(header), f"{path.name} has a blank column name"


@pytest.mark.fit
def test_a_prior_only_scenario_is_reweighted_not_refitted(small_run):
    """A prior set changes only priors: the primary draws are reweighted (PSIS), no refit."""
    table = pd.read_csv(small_run / "sensitivity.csv").set_index("scenario")
    row = table.loc["priors: sceptical"]
    assert row["method"] == "reweighted" and row["attempts"] == 0
    assert row["pareto_k"] < K_HAT_MAX and 0 < row["importance_ess"] < 4000
    assert table.loc["leave out yoon2019", "method"] == "refit"
    assert np.isnan(table.loc["leave out yoon2019", "pareto_k"])  # not a candidate
    report = (small_run / "report.md").read_text()
    assert "Reweighted: Prior set: sceptical (k̂ " in report
    assert "| reweighted (k̂ " in report


@pytest.mark.fit
def test_the_report_says_the_refits_target_acceptance(small_run):
    manifest = json.loads((small_run / "manifest.json").read_text())
    target = manifest["refit_sampler"]["target_accept"]
    assert target != manifest["sampler"]["target_accept"]  # the suite's own, 0.95 against 0.9
    report = (small_run / "report.md").read_text()
    assert f"from 1 compiled model (first attempts at target acceptance {target:g})" in report


@pytest.mark.fit
def test_each_studys_likelihood_is_power_scaled_alone(small_run):
    """psense_studies.csv: one row per modelled study, each headline quantity's sensitivity."""
    from analyses.inference.fit import HEADLINE_VARS

    table = pd.read_csv(small_run / "psense_studies.csv").set_index("study")
    conflict = pd.read_csv(small_run / "conflict.csv")
    assert set(conflict["study"]) <= set(table.index)
    assert list(table.columns) == list(HEADLINE_VARS)
    assert np.isfinite(table.values).all() and (table.values >= 0).all()
    report = (small_run / "report.md").read_text()
    assert "Which study's data each answer leans on" in report


def test_the_per_study_power_scaling_text_names_the_most_and_least_sensitive():
    from analyses.report.robustness import _psense_studies_text

    table = pd.DataFrame(
        {"beta_acute": [0.052, 0.009], "beta_sustained": [0.006, 0.022]},
        index=pd.Index(["williams2018", "yoon2019"], name="study"),
    )
    text = _psense_studies_text(table, {"williams2018": "Williams 2018"})
    assert "β acute on Williams 2018 (0.052; least on yoon2019, 0.009)" in text
    assert "β sustained on yoon2019 (0.022; least on Williams 2018, 0.006)" in text
    assert "| Williams 2018 | 0.052 | 0.006 |" in text
    assert _psense_studies_text(None) == "" and _psense_studies_text(table.iloc[:0]) == ""


def test_power_scaling_text_flags_only_flagged_rows():
    """arviz-stats marks an unflagged row '✓'; only 'potential ...' rows are reported."""
    from analyses.report.robustness import _psense_text

    table = pd.DataFrame(
        {
            "prior": [0.14, 0.01],
            "likelihood": [0.06, 0.2],
            "diagnosis": ["potential prior-data conflict", "✓"],
        },
        index=["beta_acute", "ketamine_effect"],
    )
    text = _psense_text(table)
    plain = text[text.index("In plain words") :]
    assert "β acute" in plain and "δ" not in plain
    assert "| β acute (`beta_acute`) |" in text
    clean = _psense_text(table.assign(diagnosis=["✓", "✓"]))
    assert "no headline quantity is flagged" in clean


@pytest.mark.parametrize(
    ("prefix", "slot"),
    [
        ("tau_beta ", "tau_beta"),
        ("specific_share fixed at ", "specific_share"),
        ("ketamine_response of the single arm", "external_response_probit"),
    ],
)
def test_prior_slot_scenarios_change_only_their_slot(scenarios, prefix, slot):
    base, by_name = scenarios
    config, _ = load_config()
    primary = load_priors(config.analysis.priors, base.literature).slots
    found = [s for name, s in by_name.items() if name.startswith(prefix)]
    assert found
    for sc in found:
        changed = {k for k, v in sc.priors["slots"].items() if v != primary[k]}
        assert changed == {slot}, (sc.name, changed)


@pytest.mark.fit
def test_each_left_out_study_is_checked_against_the_others_prediction(small_run):
    """conflict.csv: one row per single study left out, its prediction from that refit."""
    table = pd.read_csv(small_run / "sensitivity.csv").set_index("scenario")
    conflict = pd.read_csv(small_run / "conflict.csv").set_index("study")
    estimates = pd.read_csv(small_run / "beta_estimates.csv").set_index("study")
    assert sorted(conflict.index) == ["jelen2025", "yoon2019"]
    for study in conflict.index:
        row = table.loc[f"leave out {study}"]
        assert row["left_out"] == study
        assert conflict.loc[study, "predicted_mean"] == pytest.approx(row["left_out_beta_mean"])
        assert conflict.loc[study, "estimate"] == pytest.approx(estimates.loc[study, "estimate"])
    # Only a scenario leaving out one study carries a prediction (the twin shares its row's).
    assert table["left_out"].fillna("").astype(str).ne("").sum() == 3
    # The acute prediction (from williams2018's regimen) and the sustained one differ.
    assert conflict.loc["jelen2025", "predicted_mean"] != conflict.loc["yoon2019", "predicted_mean"]
    # Each study's data replicated from its refit: a p-value, and the study's observed
    # statistic (Jelen's reported attenuation, Yoon 2019's 3 responders of 5).
    assert ((conflict["p"] >= 0) & (conflict["p"] <= conflict["p_high"])).all()
    assert (conflict["p_high"] <= 1).all()
    assert conflict.loc["jelen2025", "observed_low"] == pytest.approx(0.28)
    assert conflict.loc["yoon2019", "observed_high"] == pytest.approx(-3 / 5)
    assert conflict.loc["yoon2019", "statistic"] == "minus the response rate under naltrexone"
    report = (small_run / "report.md").read_text()
    assert "## Does any study disagree with the others?" in report


def test_the_early_stopping_variants_need_the_literature_prior(tmp_path):
    """The variants move the literature-derived normal prior's SD or centre; a prior set that
    gives the factor a prior of its own (here a uniform, with neither) gets no such scenario,
    and no error."""
    path = tmp_path / "uniform_lambda.toml"
    path.write_text(
        'extends = "neutral"\n\n[priors]\n'
        'early_stop_log_exaggeration = {dist = "uniform", lower = 0.0, upper = 1.0}\n'
    )
    config, _ = load_config()
    base = load_evidence()
    names = {s.name for s in build_scenarios(base, config, load_priors(str(path), base.literature))}
    assert "early-stopping bias off" in names
    assert not any(n.startswith("early_stop_log_exaggeration") for n in names), names
