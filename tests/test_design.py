"""`python -m analyses design`: design files, the simulated candidate study, and determinism."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analyses.cli import main
from analyses.design.spec import load_design
from tests.conftest import ROOT, private_project
from tests.test_outputs import undocumented

DESIGNS = sorted((ROOT / "analyses" / "designs").glob("*.toml"))
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
    assert names == {"depot-crossover", "acute-three-arm", "mket2"}
    mket2 = load_design(ROOT / "analyses" / "designs" / "mket2.toml")
    assert mket2.population.transport_sd > 0  # OCD: a transport prior, stated


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
    arms = [a["condition"] for a in template_study(spec, 30)["evidence"][0]["arms"]]
    assert arms == ["ketamine_placebo", "ketamine_naltrexone", "control"]
    spec = load_design(ROOT / "analyses" / "designs" / "mket2.toml")
    study = template_study(spec, 75)
    assert [a["condition"] for a in study["evidence"][0]["arms"]] == [
        "ketamine_placebo",
        "ketamine_naltrexone",
    ]
    assert study["design"]["population"] == "obsessive-compulsive disorder"
    crossover = template_study(load_design(DESIGNS[1]), 20)
    assert crossover["evidence"][0]["kind"] == "paired_binary"
    assert crossover["naltrexone"]["hours_before_first_infusion"]["lower"] == 96.0


@pytest.mark.fit
def test_the_same_seed_gives_the_same_tables_with_one_or_two_workers(tmp_path):
    """A tiny design on one study (short fits): design.csv and assurance.csv are identical."""
    from analyses.commands.design import assurance, simulate
    from analyses.commands.preflight import preflight
    from analyses.commands.run import fit_inputs
    from analyses.design.simulate import candidate_inputs, preposterior_draws
    from analyses.inference.sampling import compile_model
    from analyses.validation.cluster import dask_client

    studies, _, config = private_project(tmp_path)
    for path in studies.glob("*.toml"):
        if path.stem != "jelen2025":
            path.unlink()
    design = tmp_path / "tiny.toml"
    design.write_text(VALID.replace("sample_sizes = [20, 40]", "sample_sizes = [15]"))
    spec, inputs = load_design(design), preflight(config, studies)
    primary = fit_inputs(inputs, predictive=False)
    # The first compile of a new model writes PyTensor's numba cache and samples with
    # slightly different rounding than every later compile, which reads it (measured: posterior
    # means differ at the Monte Carlo level). Warm the cache, so both runs read it.
    post = primary.idata["posterior"].to_dataset()
    draw = preposterior_draws(spec, 15, post, 1, 0, inputs.priors, inputs.options)[0]
    warm = candidate_inputs(spec.to_dict(), 15, draw, str(studies), str(config))[1]
    compile_model(warm)
    tables = {}
    for workers in (1, 2):
        with dask_client(workers=workers) as client:
            tables[workers] = simulate(
                spec, inputs, primary, 2, client, lambda _: None, config, studies
            )
    pd.testing.assert_frame_equal(tables[1], tables[2])
    pd.testing.assert_frame_equal(assurance(tables[1]), assurance(tables[2]))
    assert undocumented(tables[1], "design.csv") == []
    assert undocumented(assurance(tables[1]), "assurance.csv") == []
    assert len(tables[1]) == 2 and set(tables[1]["n"]) == {15}
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
