"""The toolkit from Python (a notebook, a script): fit an analysis without writing a run folder.

>>> from analyses.api import load_inputs, fit, forest_plot
>>> inputs = load_inputs()                 # analyses/primary.toml, data/ checked and resolved
>>> result = fit(inputs)                   # behind the convergence gate; nothing is written
>>> result.hypotheses                      # prior/posterior probabilities and Bayes factors
>>> fig = forest_plot(inputs, result)      # a matplotlib Figure; saving it is yours to do

``python -m analyses run`` does the same and writes everything into ``results/``.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from analyses.commands.preflight import RunInputs
from analyses.commands.preflight import load_inputs as _load_inputs
from analyses.commands.run import fit_inputs
from analyses.inference.fit import FitResult
from models.contrasts import beta_estimates

__all__ = ["FitResult", "RunInputs", "fit", "forest_plot", "load_inputs"]


def load_inputs(config: Path | str | None = None, studies: Path | str | None = None) -> RunInputs:
    """Read and check a run configuration, the evidence it reads and its prior set.

    Parameters
    ----------
    config : path, optional
        A run configuration (default ``analyses/primary.toml``).
    studies : path, optional
        A folder of study files (default ``data/studies``).

    Raises
    ------
    InputError
        Naming the file, the study, the field, what was found and what was expected.
    """
    return _load_inputs(Path(config) if config else None, Path(studies) if studies else None)


def fit(inputs: RunInputs, predictive: bool = False) -> FitResult:
    """Fit the blockade model as the configuration says, behind the convergence gate.

    Parameters
    ----------
    inputs : RunInputs
        From :func:`load_inputs`.
    predictive : bool
        Also draw the prior and posterior predictive groups and the log-likelihood.
    """
    return fit_inputs(inputs, predictive)


def forest_plot(inputs: RunInputs, result: FitResult) -> Figure:
    """The forest plot of the report: each study's β, the pooled values, the closed-form check."""
    from analyses.report.figures import forest

    estimates = beta_estimates(inputs.evidence, inputs.priors, inputs.options)
    return forest(result.idata, inputs.evidence, estimates, inputs.config.hypotheses.thresholds)
