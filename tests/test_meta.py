"""The contrast-level meta-regression: exact quadrature, MCMC agreement, and the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from analyses.cli import main
from analyses.commands.meta import run_meta
from analyses.inference.sampling import SamplerSettings
from models.exact import exact_posterior
from models.meta_regression import MetaTable
from tests.test_outputs import undocumented

# MCMC vs exact, in posterior-SD units. With ESS >= 2000 the Monte Carlo SE of a posterior
# mean is <= 1/sqrt(2000) = 0.022 SD and of a posterior SD about 0.016-0.03 SD (heavier for
# tau's skewed posterior); 0.1 is over 3 MCSE for every quantity. The measured worst case
# was 0.022 (eight schools with a moderator and a uniform tau prior, a case `make validate`
# now covers).
AGREEMENT_SDS = 0.1
MIN_ESS = 2000

EIGHT_Y = np.array([28.0, 8, -3, 7, -1, 1, 18, 12])
EIGHT_SE = np.array([15.0, 10, 16, 11, 9, 11, 10, 18])


def eight_schools() -> MetaTable:
    return MetaTable(tuple("ABCDEFGH"), EIGHT_Y, EIGHT_SE, pd.DataFrame(index=range(8)))


def blockade_table() -> MetaTable:
    """Four per-study blockade estimates, the shape of the naltrexone cross-check."""
    return MetaTable(
        ("w", "j", "y19", "y25"),
        np.array([1.1, 0.6, 0.1, 0.2]),
        np.array([0.45, 0.25, 0.6, 0.8]),
        pd.DataFrame({"acute": [1.0, 1, 0, 0]}),
    )


def test_exact_matches_the_conjugate_formula_when_tau_is_fixed():
    """With tau fixed and a normal prior on mu, the posterior of mu is normal in closed form."""
    tau, m0, s0 = 5.0, 0.0, 20.0
    priors = {
        "mu": {"dist": "normal", "mu": m0, "sigma": s0},
        "tau": {"dist": "fixed", "value": tau},
    }
    post = exact_posterior(eight_schools(), priors)
    w = 1.0 / (EIGHT_SE**2 + tau**2)
    precision = 1.0 / s0**2 + w.sum()
    mean = (m0 / s0**2 + (w * EIGHT_Y).sum()) / precision
    assert post.mean("mu") == pytest.approx(mean, rel=1e-10)
    assert post.sd("mu") == pytest.approx(precision**-0.5, rel=1e-10)
    assert post.quantile("mu", 0.975) == pytest.approx(mean + 1.959964 * precision**-0.5, rel=1e-6)


def test_exact_tau_posterior_integrates_to_one_and_respects_the_prior_support():
    priors = {
        "mu": {"dist": "normal", "mu": 0, "sigma": 20},
        "tau": {"dist": "uniform", "lower": 0, "upper": 30},
    }
    post = exact_posterior(eight_schools(), priors)
    assert post.weights.sum() == pytest.approx(1.0)
    assert post.tau.min() >= 0 and post.tau.max() <= 30


# Two end-to-end cases through `meta --method mcmc`. `make validate` compares MCMC with the
# exact posterior on 12 random tables (half-normal, half-Cauchy, uniform and exponential tau
# priors, with and without a moderator; tests/test_validation_record.py reads its record);
# these two cover what it does not: a Student-t prior on mu (the exact side's grid over mu),
# and the command reading and writing a table whose moderator is named on the command line.
CASES = [
    (
        "eight schools, Student-t mu (grid)",
        eight_schools(),
        {
            "mu": {"dist": "studentt", "nu": 3, "mu": 0, "sigma": 10},
            "tau": {"dist": "halfnormal", "sigma": 10},
        },
    ),
    (
        "blockade estimates, exponential tau",
        blockade_table(),
        {
            "mu": {"dist": "normal", "mu": 0.5, "sigma": 1},
            "tau": {"dist": "exponential", "lam": 4},
            "acute": {"dist": "normal", "mu": 0, "sigma": 1},
        },
    ),
]


@pytest.mark.fit
@pytest.mark.parametrize(("label", "table", "priors"), CASES, ids=[c[0] for c in CASES])
def test_mcmc_agrees_with_exact(tmp_path, label, table, priors):
    exact = exact_posterior(table, priors).summary().set_index("parameter")
    csv = tmp_path / "table.csv"
    frame = pd.DataFrame({"study": table.study, "estimate": table.estimate, "se": table.se})
    for m in table.moderator_names:
        frame[m] = table.moderators[m]
    frame.to_csv(csv, index=False)
    prior_file = tmp_path / "priors.toml"
    prior_file.write_text(
        "\n".join(
            f"{k} = {{{', '.join(f'{a} = {v!r}' for a, v in spec.items())}}}"
            for k, spec in priors.items()
        ).replace("'", '"')
    )
    settings = SamplerSettings(draws=2000, tune=1000, chains=4, target_accept=0.95, seed=11)
    mcmc = run_meta(csv, tmp_path / "out", prior_file, table.moderator_names, "mcmc", settings)
    mcmc = mcmc.set_index("parameter")
    assert set(mcmc.index) == set(exact.index)
    assert mcmc["ess_bulk"].min() >= MIN_ESS
    gap_mean = ((mcmc["mean"] - exact["mean"]).abs() / exact["sd"]).max()
    gap_sd = ((mcmc["sd"] - exact["sd"]).abs() / exact["sd"]).max()
    assert gap_mean < AGREEMENT_SDS, (label, gap_mean)
    assert gap_sd < AGREEMENT_SDS, (label, gap_sd)


def write_csv(path, text):
    path.write_text(text)
    return path


def test_cli_exact_writes_the_promised_files(tmp_path, capsys):
    csv = write_csv(
        tmp_path / "t.csv",
        "study,estimate,se,acute\nA,0.9,0.3,1\nB,0.6,0.2,1\nC,0.1,0.4,0\nD,-0.1,0.5,0\n",
    )
    out = tmp_path / "out"
    assert (
        main(["meta", str(csv), "--moderator", "acute", "--method", "exact", "--out", str(out)])
        == 0
    )
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns) == ["parameter", "mean", "sd", "median", "eti95_lb", "eti95_ub"]
    assert list(summary["parameter"]) == ["mu", "coef_acute", "tau", "A", "B", "C", "D"]
    tree = xr.open_datatree(out / "posterior.nc", engine="h5netcdf")
    assert "priors" in tree.attrs and "table_sha256" in tree.attrs
    assert float(tree["quadrature"]["tau_weight"].sum()) == pytest.approx(1.0)


@pytest.mark.fit
def test_cli_mcmc_summary_columns(tmp_path):
    csv = write_csv(tmp_path / "t.csv", "study,estimate,se\nA,0.9,0.3\nB,0.6,0.2\nC,0.1,0.4\n")
    assert main(["meta", str(csv), "--out", str(tmp_path / "out")]) == 0
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert undocumented(summary, "summary.csv (meta)") == []
    assert list(summary.columns) == [
        "parameter",
        "mean",
        "sd",
        "median",
        "eti95_lb",
        "eti95_ub",
        "r_hat",
        "ess_bulk",
    ]
    tree = xr.open_datatree(tmp_path / "out" / "posterior.nc", engine="h5netcdf")
    assert {"posterior", "sample_stats"} <= {p.strip("/") for p in tree.groups}
    assert "seed" in tree.attrs


@pytest.mark.parametrize(
    ("csv", "args", "fragments"),
    [
        ("study,estimate\nA,1\nB,2\n", [], ("se", "a column 'se'")),
        ("study,estimate,se\nA,1,x\nB,2,1\n", [], ("'A'", "field 'se'", "'x'", "finite number")),
        ("study,estimate,se\nA,1,0\nB,2,1\n", [], ("'A'", "field 'se'", "at least 1e-06")),
        # issue 12: degenerate tables, a folder, a constant or reserved moderator
        ("study,estimate,se\nA,1,1e-300\nB,2,1\n", [], ("'A'", "field 'se'", "at least 1e-06")),
        ("study,estimate,se\nA,1e308,1\nB,2,1\n", [], ("'A'", "estimate", "at most 1e+06")),
        ("study,estimate,se,d\nA,1,1,3\nB,2,1,3\n", ["--moderator", "d"], ("'d'", "varies")),
        ("study,estimate,se,tau\nA,1,1,3\nB,2,1,4\n", ["--moderator", "tau"], ("model parameter",)),
        ("study,estimate,se\nA,1,1\nA,2,1\n", [], ("'A'", "unique study names")),
        ("study,estimate,se\nA,1,1\nB,2,1\n", ["--moderator", "dose"], ("dose", "a column 'dose'")),
    ],
)
def test_cli_bad_tables(tmp_path, capsys, csv, args, fragments):
    path = write_csv(tmp_path / "t.csv", csv)
    code = main(["meta", str(path), *args, "--method", "exact", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert any(all(f in line for f in fragments) for line in err.splitlines()), err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("toml", "fragments"),
    [
        (
            'mu = {dist = "normal", mu = 0, sigma = 1}\nrho = {dist = "normal"}\n',
            ("rho", "unknown parameter"),
        ),
        (
            'tau = {dist = "halfnormal", scale = 1}\n',
            ("tau", "parameters of halfnormal: sigma (not scale)"),
        ),
        ('mu = {dist = "normal", mu = 0, tau = 1}\n', ("mu", "(not tau)")),
        ('tau = {dist = "halfnormal", sigma = -1}\n', ("tau", "sigma > 0")),
        ('tau = {dist = "uniform", lower = 2, upper = 1}\n', ("tau", "lower < upper")),
        ('tau = {dist = "wibble"}\n', ("tau", "dist one of")),
        ('tau = {dist = "normal", mu = 0, sigma = 1}\n', ("tau", "tau >= 0")),
        ('tau = {dist = "halfnormal", sigma = "1"}\n', ("tau", "not a number")),
    ],
)
def test_cli_bad_priors(tmp_path, capsys, toml, fragments):
    csv = write_csv(tmp_path / "t.csv", "study,estimate,se\nA,1,1\nB,2,1\n")
    priors = write_csv(tmp_path / "p.toml", toml)
    code = main(
        [
            "meta",
            str(csv),
            "--priors",
            str(priors),
            "--method",
            "exact",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert any(all(f in line for f in fragments) for line in err.splitlines()), err


def test_cli_refuses_to_overwrite(tmp_path, capsys):
    csv = write_csv(tmp_path / "t.csv", "study,estimate,se\nA,1,1\nB,2,1\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.csv").write_text("earlier result")
    code = main(["meta", str(csv), "--method", "exact", "--out", str(out)])
    assert code == 2 and "never overwritten" in capsys.readouterr().err
    assert (out / "summary.csv").read_text() == "earlier result"


def test_exact_refuses_non_normal_coefficients_with_moderators(tmp_path, capsys):
    csv = write_csv(tmp_path / "t.csv", "study,estimate,se,m\nA,1,1,0\nB,2,1,1\nC,2,1,1\n")
    priors = write_csv(tmp_path / "p.toml", 'm = {dist = "studentt", nu = 3, mu = 0, sigma = 1}\n')
    code = main(
        [
            "meta",
            str(csv),
            "--moderator",
            "m",
            "--priors",
            str(priors),
            "--method",
            "exact",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2 and "normal priors on mu and every coefficient" in capsys.readouterr().err


def test_cli_refuses_a_folder_as_table_and_a_dangling_out(tmp_path, capsys):
    folder = tmp_path / "table"
    folder.mkdir()
    assert main(["meta", str(folder), "--method", "exact", "--out", str(tmp_path / "o")]) == 2
    assert "found a folder" in capsys.readouterr().err
    table = write_csv(tmp_path / "t.csv", "study,estimate,se\nA,1,1\nB,2,1\n")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert main(["meta", str(table), "--out", str(tmp_path / "dangling")]) == 2
    err = capsys.readouterr().err
    assert "a link to nothing" in err and "Traceback" not in err
