"""`python -m analyses design`: design files, the simulated candidate study, and determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analyses.cli import main
from analyses.design.spec import load_design
from analyses.inference.hypotheses import Thresholds
from tests.conftest import ROOT, private_project
from tests.test_outputs import undocumented

DESIGNS = sorted((ROOT / "analyses" / "designs").glob("*.toml"))
PROGRAMME = """[design]
name = "p"
sample_sizes = [20]
[[design.study]]
label = "acute"
regimen = "acute"
type = "parallel"
control = "saline"
[design.study.population]
label = "depression"
transport_sd = 0.0
[[design.study]]
label = "depot"
regimen = "sustained"
type = "crossover"
[design.study.population]
label = "depression"
"""
VALID = """[design]
name = "x"
regimen = "acute"
type = "parallel"
control = "saline"
sample_sizes = [20, 40]
[design.population]
label = "depression"
"""


def test_the_shipped_designs_are_valid():
    names = {load_design(path).name for path in DESIGNS}
    assert names == {
        "depot-crossover",
        "depot-three-arm",
        "acute-three-arm",
        "mket2",
        "both-regimens",
        "two-each",
        "one-acute-two-depot",
    }
    mket2 = load_design(ROOT / "analyses" / "designs" / "mket2.toml")
    assert mket2.studies[0].population.transport_sd > 0  # OCD: a transport prior, stated
    both = load_design(ROOT / "analyses" / "designs" / "both_regimens.toml")
    assert both.programme and both.regimens() == ["acute", "sustained"]


@pytest.mark.parametrize(
    ("old", "new", "fragments"),
    [
        ("sample_sizes = [20, 40]", "sample_sizes = [0, 40]", ("sample_sizes[0]", "0")),
        ("sample_sizes = [20, 40]", "sample_sizes = [-5]", ("sample_sizes[0]", "-5")),
        ('regimen = "acute"', 'regimen = "weekly"', ("regimen", "'weekly'")),
        ('type = "parallel"', 'type = "crossover"', ("control", "'saline'", "crossover")),
        ('label = "depression"', 'label = "depression"\ntransport_sd = nan', ("transport_sd",)),
        ('name = "x"', 'name = "x"\nwibble = 1', ("wibble", "unknown field")),
    ],
)
def test_bad_design_files_are_refused(tmp_path, capsys, old, new, fragments):
    path = tmp_path / "bad.toml"
    assert old in VALID
    path.write_text(VALID.replace(old, new))
    code = main(["design", str(path), "--sims", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    lines = [ln for ln in err.splitlines() if str(path) in ln]
    assert any(all(f in ln for f in fragments) for ln in lines), err


def test_the_candidate_study_has_the_designs_arms():
    from analyses.design.simulate import template_study

    spec = load_design(ROOT / "analyses" / "designs" / "acute_three_arm.toml")
    arms = [a["condition"] for a in template_study(spec.studies[0], 30)["evidence"][0]["arms"]]
    assert arms == ["ketamine_placebo", "ketamine_naltrexone", "control"]
    spec = load_design(ROOT / "analyses" / "designs" / "mket2.toml")
    study = template_study(spec.studies[0], 75)
    assert [a["condition"] for a in study["evidence"][0]["arms"]] == [
        "ketamine_placebo",
        "ketamine_naltrexone",
    ]
    assert study["design"]["population"] == "obsessive-compulsive disorder"
    crossover = template_study(
        load_design(ROOT / "analyses" / "designs" / "depot_crossover.toml").studies[0], 20
    )
    assert crossover["evidence"][0]["kind"] == "paired_binary"
    assert crossover["naltrexone"]["hours_before_first_infusion"]["lower"] == 96.0


@pytest.mark.fit
def test_a_tiny_design_writes_documented_tables_and_leaves_the_studies_alone(tmp_path):
    """A tiny design on one study (short fits), with one Dask worker.

    That two workers give the same tables is `make validate`'s design_determinism section
    (tests/test_validation_record.py checks it): it needs a second cluster and compile.
    """
    from analyses.commands.design import (
        assurance,
        assurance_by_threshold,
        assurance_by_truth,
        simulate,
    )
    from analyses.commands.preflight import preflight
    from analyses.commands.run import fit_inputs
    from analyses.validation.cluster import dask_client

    studies, _, config = private_project(tmp_path)
    for path in studies.glob("*.toml"):
        if path.stem != "jelen2025":
            path.unlink()
    design = tmp_path / "tiny.toml"
    design.write_text(VALID.replace("sample_sizes = [20, 40]", "sample_sizes = [15, 30]"))
    spec, inputs = load_design(design), preflight(config, studies)
    primary = fit_inputs(inputs, predictive=False)
    with dask_client(workers=1) as client:
        table = simulate(spec, inputs, primary, 1, client, lambda _: None, config, studies)
    # Common random numbers: both sizes simulate one world and one candidate, other data.
    first, second = table.iloc[0], table.iloc[1]
    for column in ("draw_index", "beta_new", "true_beta_acute", "truth"):
        assert first[column] == second[column], column
    assert (first["n"], second["n"]) == (15, 30) and first["seed"] != second["seed"]
    assert undocumented(table, "design.csv") == []
    assert undocumented(assurance(table), "assurance.csv") == []
    by_threshold = assurance_by_threshold(table)
    assert undocumented(by_threshold, "assurance_thresholds.csv") == []
    assert len(by_threshold) == 18  # section 6's grid, at each of the two sizes
    by_truth = assurance_by_truth(table)
    assert undocumented(by_truth, "assurance_by_truth.csv") == []
    assert by_truth["simulations"].sum() == 2
    assert set(table["truth"]) <= {"primary", "permissive", "none", "other"}
    assert len(table) == 2 and set(table["n"]) == {15, 30}
    assert Path(studies / "jelen2025.toml").exists()  # the user's folder is not touched
    assert sorted(p.name for p in studies.iterdir()) == ["jelen2025.toml"]


@pytest.mark.parametrize("sims", ["-3", "0", "many", "100000"])
def test_a_bad_simulation_count_is_refused(capsys, sims):
    path = ROOT / "analyses" / "designs" / "mket2.toml"
    with pytest.raises(SystemExit) as caught:
        main(["design", str(path), "--sims", sims])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "--sims" in err and "Traceback" not in err


def test_sizes_are_taken_in_turn_and_put_back_in_order():
    from analyses.commands.design import in_turn, size_by_size
    from analyses.design.spec import MAX_SAMPLE_SIZES
    from analyses.inference.compiled import MAX_CACHED

    # Taken in turn, every size's model is needed again soon: a worker keeps them all.
    assert MAX_CACHED >= MAX_SAMPLE_SIZES
    with pytest.raises(ValueError, match="equal"):
        size_by_size([1, 2, 3], 2)

    by_size = [[("a", i) for i in range(3)], [("b", i) for i in range(3)]]
    tasks = in_turn(by_size)
    assert tasks == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert size_by_size(tasks, 2) == by_size[0] + by_size[1]
    assert size_by_size(in_turn([[1, 2]]), 1) == [1, 2]


def test_a_sizes_candidates_share_one_structure_and_one_inputs_key(tmp_path):
    """What lets a worker skip the structure key: one key of inputs, one structure."""
    from analyses.commands.preflight import preflight
    from analyses.design.simulate import candidate_inputs, inputs_key, templates
    from analyses.inference.compiled import structure_key

    studies, _, config = private_project(tmp_path)
    for path in studies.glob("*.toml"):
        if path.stem != "jelen2025":
            path.unlink()
    spec = load_design(ROOT / "analyses" / "designs" / "depot_crossover.toml")
    inputs = preflight(config, studies)
    name = "candidate__outcome"
    assert templates(spec, 20)[0]["evidence"][0]["kind"] == "paired_binary"
    built = [
        candidate_inputs(spec.to_dict(), n, {name: draw}, str(studies), str(config))
        for n, draw in ((20, [12, 5]), (20, [3, 9]), (30, [12, 5]))
    ]
    keys = [structure_key(model) for _, model in built]
    assert keys[0] == keys[1] != keys[2]
    sizes = (20, 20, 30)
    by_inputs = [
        inputs_key(spec.to_dict(), n, str(studies), i)
        for n, (i, _) in zip(sizes, built, strict=True)
    ]
    assert by_inputs[0] == by_inputs[1] != by_inputs[2]
    assert inputs_key(spec.to_dict(), 20, str(studies), inputs) == by_inputs[0]
    (studies / "jelen2025.toml").write_text((studies / "jelen2025.toml").read_text() + "\n")
    assert inputs_key(spec.to_dict(), 20, str(studies), inputs) != by_inputs[0]


def test_an_assurance_of_no_hits_has_an_interval_above_zero():
    """With no simulation in a class the Monte Carlo SE is 0; the Jeffreys interval is not:
    at 0 of 50 it reaches about 0.05 (Beta(0.5, 50.5)'s 97.5% point), and it mirrors at 50."""
    from scipy.stats import beta

    from analyses.commands.design import jeffreys_interval

    low, high = jeffreys_interval(0, 50)
    assert low == 0.0 and high == pytest.approx(beta.ppf(0.975, 0.5, 50.5))
    assert 0.03 < high < 0.07
    assert jeffreys_interval(50, 50) == pytest.approx((1 - high, 1.0))
    low, high = jeffreys_interval(9, 50)
    assert low < 9 / 50 < high


def test_the_design_report_names_its_configuration_and_uncertified_fits(tmp_path):
    """The report says which configuration gave today's posterior (a what-if differs from the
    shipped one), gives each share's interval, and counts the fits the gate did not certify."""
    from types import SimpleNamespace

    import pandas as pd

    from analyses.commands.design import assurance
    from analyses.design.report import design_report

    path = tmp_path / "d.toml"
    path.write_text(VALID)
    table = pd.DataFrame(
        {
            "n": [20] * 4,
            "bf_permissive_vs_primary": [12.0, 1.5, 2.0, 0.5],
            "bf_bound": [""] * 4,
            "p_primary": [0.1, 0.2, 0.2, 0.4],
            "p_permissive": [0.8, 0.7, 0.7, 0.5],
            "certified": [True, True, True, False],
        }
    )
    hypotheses = pd.DataFrame(
        {
            "hypothesis": ["primary", "permissive"],
            "posterior_prob": [0.23, 0.74],
            "prior_prob": [0.25, 0.5],
        }
    )
    draws = {name: np.array([0.1, 0.3, 0.6, 0.9]) for name in ("beta_acute", "beta_sustained")}
    fit = SimpleNamespace(hypotheses=hypotheses, idata={"posterior": draws})
    manifest = {
        "simulations_per_size": 4,
        "config_file": "analyses/designs/what_if/homogeneous.toml",
        "priors": {"name": "homogeneous_priors"},
        "data_hash": "0" * 64,
        "seed": 1,
        "runtime_seconds": 1.0,
    }
    thresholds = Thresholds(primary=0.5, permissive=0.2)
    text = design_report(load_design(path), assurance(table), manifest, fit, thresholds)
    assert "the fit of `analyses/designs/what_if/homogeneous.toml`, prior set " in text
    assert "| 0.25 (0.03 to 0.72) |" in text  # one of four past 10: Jeffreys' interval
    assert "certified 75% at n = 20" in text
    # An acute design: even a certain β acute ≥ 0.5 leaves primary to β sustained (half the
    # draws), so the best BF is (1/2)/(1/2) over prior odds 2.
    best = "P(β sustained ≥ 0.5) = 0.50), the Bayes factor permissive : primary would be 0.5, "
    assert best in text


def test_the_most_a_design_can_do_for_primary_follows_the_other_fraction():
    """A sustained study made certain leaves primary to β acute ≥ P and permissive to
    Q ≤ β acute < P; an acute study, primary to β sustained ≥ P and permissive to the rest."""
    from analyses.design.report import best_case_for_primary

    draws = {name: np.array([0.1, 0.3, 0.6, 0.9]) for name in ("beta_acute", "beta_sustained")}
    prior = {"primary": 0.25, "permissive": 0.5}  # prior odds permissive : primary 2
    t = Thresholds(primary=0.5, permissive=0.2)
    sustained = best_case_for_primary(draws, "sustained", t, prior)
    assert sustained == pytest.approx((1 / 4) / (2 / 4) / 2)
    assert best_case_for_primary(draws, "acute", t, prior) == pytest.approx((2 / 4) / (2 / 4) / 2)
    none_high = {name: np.zeros(4) for name in draws}
    assert best_case_for_primary(none_high, "acute", t, prior) == float("inf")


@pytest.mark.parametrize(
    ("old", "new", "fragments"),
    [
        ('regimen = "sustained"', 'regimen = "weekly"', ("study[1].regimen", "'weekly'")),
        ('type = "crossover"', 'type = "crossover"\ncontrol = "saline"', ("study[1].control",)),
        ('label = "depot"', 'label = "acute"', ("study", "each study of a programme")),
        ('label = "depot"\nregimen = "sustained"', 'label = "depot"\nregimen = "acute"', ()),
        ('label = "depot"', 'label = "depot"\nsize = 3', ("study[1].size", "unknown field")),
        ("sample_sizes = [20]", "sample_sizes = [20]\nregimen = 'acute'", ("regimen",)),
        ('label = "acute"', 'label = "$x$"', ("study[0].label", "'$x$'", "without '$'")),
        ('label = "acute"', 'label = "\u200b"', ("study[0].label", "invisible")),
        ('label = "depot"', 'label = " ACUTE "', ("study", "no two alike")),
        ("sample_sizes = [20]", 'sample_sizes = [20]\nstudies = "x"', ("studies", "'study'")),
        (
            "sample_sizes = [20]",
            "sample_sizes = [20, 20]",
            ("sample_sizes", "each sample size once"),
        ),
        (
            "sample_sizes = [20]",
            "sample_sizes = [1]",
            ("sample_sizes[0]", "greater than or equal to 2"),
        ),
        (
            "sample_sizes = [20]",
            'sample_sizes = [20]\ncontrol = "saline"',
            ("control", "[[design.study]]"),
        ),
        ('label = "acute"', 'label = "acute"\nid = "z"', ("study[0].id", "label, regimen, type")),
        (
            "transport_sd = 0.0",
            "transport_sd = 0.0\nfoo = 1",
            ("study[0].population.foo", "transport_sd, note"),
        ),
        ('label = "depression"', 'label = "TODO"', ("study[0].population.label", "placeholder")),
    ],
)
def test_bad_programmes_are_refused(tmp_path, capsys, old, new, fragments):
    """A programme's errors name the study (study[i]) and its field. Two studies of one
    regimen in different populations are refused: a regimen's transport shift is shared."""
    path = tmp_path / "bad.toml"
    assert old in PROGRAMME
    text = PROGRAMME.replace(old, new)
    if not fragments:  # the same regimen, another population
        head, _, tail = text.rpartition('label = "depression"')
        text = head + 'label = "OCD"' + tail
        fragments = ("acute studies of 2 populations",)
    path.write_text(text)
    code = main(["design", str(path), "--sims", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    lines = [ln for ln in err.splitlines() if str(path) in ln]
    assert any(all(f in ln for f in fragments) for ln in lines), err


def test_a_programmes_studies_are_simulated_from_one_draw_and_appended_together(tmp_path):
    """Each study gets an id, label and regimen of its own and its own true fraction; a
    transport shift moves only its regimen; both are appended to the evidence."""
    import pymc as pm

    from analyses.commands.preflight import preflight
    from analyses.design.simulate import _model_of, candidate_inputs, preposterior_draws, templates
    from analyses.inference.predictive import FORWARD_COMPILE

    path = tmp_path / "p.toml"
    # A large shift for the acute population only (sd 3 against the fractions' spread).
    path.write_text(PROGRAMME.replace("transport_sd = 0.0", "transport_sd = 3.0"))
    spec = load_design(path)
    studies, _, config = private_project(tmp_path)
    inputs = preflight(config, studies)
    found = templates(spec, 20)
    assert [t["id"] for t in found] == ["candidate_1", "candidate_2"]
    assert [t["naltrexone"]["regimen"] for t in found] == ["acute", "sustained"]
    assert found[0]["label"] == "Candidate 1: acute"
    with _model_of(found, inputs.priors, inputs.options):
        prior = pm.sample_prior_predictive(
            draws=200, random_seed=1, compile_kwargs=FORWARD_COMPILE
        )["prior"]
    draws = preposterior_draws(spec, 20, prior, 200, 7, inputs.priors, inputs.options)
    acute = np.array([d["beta_new_1"] for d in draws])
    sustained = np.array([d["beta_new_2"] for d in draws])
    shifted = acute - prior["beta_acute"].values.ravel()[[d["draw_index"] for d in draws]]
    kept = sustained - prior["beta_sustained"].values.ravel()[[d["draw_index"] for d in draws]]
    assert shifted.std() > 2 and kept.std() < 1  # only the acute regimen was shifted
    run_inputs, model = candidate_inputs(spec.to_dict(), 20, draws[0], str(studies), str(config))
    ids = [s.id for s in run_inputs.evidence.studies]
    assert {"candidate_1", "candidate_2"} <= set(ids)
    assert len(ids) == len(list(studies.glob("*.toml"))) + 2
    assert {"candidate_1", "candidate_2"} <= set(model.coords["study"])
    # Each study holds its own simulated observations, not another's.
    by_id = {s.id: s for s in run_inputs.evidence.studies}
    arms = by_id["candidate_1"].evidence[0].arms
    assert [a.events.value for a in arms] == [
        draws[0][f"candidate_1__outcome__{a.condition}"] for a in arms
    ]
    pair = by_id["candidate_2"].evidence[0]
    found = [pair.responders_placebo.value, pair.responders_naltrexone.value]
    assert found == list(draws[0]["candidate_2__outcome"])


def test_a_programme_of_both_regimens_can_in_principle_settle_it_for_primary(tmp_path):
    """Making both fractions certain leaves no permissive mass: the bound is 0, and the
    report says so and describes each study."""
    from types import SimpleNamespace

    import pandas as pd

    from analyses.commands.design import assurance, assurance_by_truth
    from analyses.design.report import best_case_for_primary, design_report

    draws = {name: np.array([0.1, 0.3, 0.6, 0.9]) for name in ("beta_acute", "beta_sustained")}
    prior = {"primary": 0.25, "permissive": 0.5}
    t = Thresholds(primary=0.5, permissive=0.2)
    assert best_case_for_primary(draws, ["acute", "sustained"], t, prior) == 0.0
    path = tmp_path / "p.toml"
    path.write_text(PROGRAMME)
    table = pd.DataFrame(
        {
            "n": [20] * 2,
            "bf_permissive_vs_primary": [0.05, 1.5],
            "bf_bound": [""] * 2,
            "p_primary": [0.9, 0.2],
            "p_permissive": [0.1, 0.7],
            "certified": [True, True],
        }
    )
    hypotheses = pd.DataFrame(
        {
            "hypothesis": ["primary", "permissive"],
            "posterior_prob": [0.23, 0.74],
            "prior_prob": [0.25, 0.5],
        }
    )
    fit = SimpleNamespace(hypotheses=hypotheses, idata={"posterior": draws})
    manifest = {
        "simulations_per_size": 2,
        "config_file": "analyses/primary.toml",
        "priors": {"name": "neutral"},
        "data_hash": "0" * 64,
        "seed": 1,
        "runtime_seconds": 1.0,
    }
    table["truth"] = ["primary", "permissive"]
    by_truth = assurance_by_truth(table)
    text = design_report(load_design(path), assurance(table), manifest, fit, t, None, by_truth)
    assert "| primary | 20 | 1 | 0.00 (0.00 to 0.85) | 1.00 (0.15 to 1.00) |" in text
    assert "A programme of 2 studies" in text
    assert "- 1. acute: a parallel-arm study, with a saline (placebo) arm, of acute" in text
    assert "- 2. depot: a crossover (each participant in both conditions)" in text
    assert "'primary' would be certain (BF permissive : primary 0)" in text
    assert "each study's blockade fraction may differ" in text


def test_the_threshold_grid_reads_each_refit_with_the_regions_moved():
    """The grid's headline BF at this run's thresholds is the headline BF itself; the shares
    per threshold pair count each side as assurance.csv does (a bound on its own side only)."""
    import pandas as pd
    import xarray as xr

    from analyses.commands.design import assurance, assurance_by_threshold
    from analyses.design.simulate import threshold_bfs, threshold_column
    from analyses.inference.bayes_factors import bayes_factor_table
    from analyses.suite.scenarios import THRESHOLD_GRID

    rng = np.random.default_rng(3)
    a = xr.DataArray(rng.uniform(0, 1, (4, 500)), dims=("chain", "draw"))
    s = xr.DataArray(rng.uniform(0, 1, (4, 500)), dims=("chain", "draw"))
    spec = {"dist": "uniform", "lower": -0.5, "upper": 1.5}
    grid = threshold_bfs(a, s, spec, spec)
    assert len(grid) == 2 * len(THRESHOLD_GRID)
    full = bayes_factor_table(a, s, spec, spec, Thresholds(0.5, 0.2)).iloc[0]
    assert grid[threshold_column(0.5, 0.2)] == pytest.approx(full["bf"], rel=1e-12)

    column = threshold_column(0.5, 0.2)
    bf = [12.0, 0.05, 0.2, 2.0]
    table = pd.DataFrame(
        {
            "n": [10] * 4,
            "bf_permissive_vs_primary": bf,
            "bf_bound": ["", "", ">", ""],
            "p_primary": 0.2,
            "p_permissive": 0.7,
            "certified": True,
        }
    )
    for p, q in THRESHOLD_GRID:
        table[threshold_column(p, q)] = bf
        table[f"{threshold_column(p, q)}_bound"] = ["", "", ">", ""]
    by_threshold = assurance_by_threshold(table).set_index(
        ["primary_threshold", "permissive_threshold"]
    )
    row = by_threshold.loc[(0.5, 0.2)]
    summary = assurance(table).iloc[0]
    assert row["p_bf_permissive_10"] == summary["p_bf_permissive_10"] == 0.25
    assert row["p_bf_primary_10"] == summary["p_bf_primary_10"] == 0.25
    assert column in table
    assert assurance_by_threshold(table.drop(columns=[column])).empty  # an old table


def test_each_simulation_knows_its_true_hypothesis():
    """The truth is the region of the world's pooled fractions; shares given it count each
    side as assurance.csv does."""
    import pandas as pd

    from analyses.commands.design import assurance_by_truth
    from analyses.design.simulate import true_hypothesis

    t = Thresholds(primary=0.5, permissive=0.2)
    worlds = [(0.9, 0.6), (0.9, 0.1), (0.1, 0.05), (0.1, 0.6)]
    found = [
        true_hypothesis({"true_beta_acute": a, "true_beta_sustained": s}, t) for a, s in worlds
    ]
    assert found == ["primary", "permissive", "none", "other"]
    assert true_hypothesis({}, t) == ""
    table = pd.DataFrame(
        {
            "n": [10] * 4,
            "truth": ["primary", "primary", "permissive", "permissive"],
            "bf_permissive_vs_primary": [0.05, 2.0, 12.0, 20.0],
            "bf_bound": ["", "", "", "<"],
        }
    )
    rows = assurance_by_truth(table).set_index("truth")
    assert rows.loc["primary", "p_bf_primary_10"] == 0.5
    assert rows.loc["primary", "p_bf_between_third_and_3"] == 0.5
    assert rows.loc["permissive", "p_bf_permissive_10"] == 0.5  # a bound '<' is not >= 10
    assert assurance_by_truth(table.drop(columns="truth")).empty


def test_the_truth_figure_gives_each_sizes_simulations_per_truth(tmp_path):
    """Its ticks say how many simulations had each truth (0 where none did), which is what
    the intervals' widths follow."""
    import pandas as pd

    from analyses.commands.design import assurance_by_truth
    from analyses.design.report import truth_figure

    path = tmp_path / "p.toml"
    path.write_text(PROGRAMME)
    table = pd.DataFrame(
        {
            "n": [20, 20, 20, 40],
            "truth": ["primary", "permissive", "permissive", "permissive"],
            "bf_permissive_vs_primary": [0.05, 12.0, 2.0, 30.0],
            "bf_bound": [""] * 4,
        }
    )
    fig = truth_figure(assurance_by_truth(table), load_design(path))
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["20\n2 / 1", "40\n1 / 0"]
    assert "in each study" in fig.axes[0].get_xlabel()


def test_curves_at_one_size_are_drawn_side_by_side():
    """Intervals at one size would hide each other: each curve is shifted a little, the
    curves centred on the size, and one size gets a window of its own."""
    import pandas as pd

    from analyses.design.report import _dodged

    one = pd.Series([100])
    shifted = [float(_dodged(one, i, 4)[0]) for i in range(4)]
    assert shifted == sorted(shifted) and len(set(shifted)) == 4
    assert np.mean(shifted) == pytest.approx(100)
    grid = pd.Series([20, 200])
    assert np.allclose(_dodged(grid, 1, 2) - _dodged(grid, 0, 2), 0.015 * 180)
