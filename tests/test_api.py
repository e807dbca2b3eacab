"""The Python API of the README works as printed, on the shipped data."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure

from analyses.api import fit, forest_plot, load_inputs
from analyses.inference.hypotheses import HYPOTHESES
from tests.conftest import ROOT


@pytest.mark.fit
def test_readme_api_fits_and_draws(tmp_path):
    # The README's lines, with a short sampler so the test stays small.
    config = tmp_path / "short.toml"
    config.write_text(
        (ROOT / "analyses" / "primary.toml")
        .read_text()
        .replace("draws = 1000", "draws = 300")
        .replace("tune = 1000", "tune = 300")
        .replace("chains = 4", "chains = 2")
    )
    inputs = load_inputs(config)
    result = fit(inputs)
    assert list(result.hypotheses["hypothesis"]) == list(HYPOTHESES)
    assert result.hypotheses["posterior_prob"].sum() == pytest.approx(1.0)
    fig = forest_plot(inputs, result)
    assert isinstance(fig, Figure)
    assert not list(tmp_path.glob("results*")), "the API writes nothing"


def test_readme_shows_the_api():
    readme = (ROOT / "README.md").read_text()
    for line in (
        "from analyses.api import load_inputs, fit, forest_plot",
        "inputs = load_inputs()",
        "result = fit(inputs)",
        "result.hypotheses",
        "fig = forest_plot(inputs, result)",
    ):
        assert line in readme, line
