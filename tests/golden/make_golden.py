"""Write the golden run that pins the analysis's numbers across refactors.

Run from the repository root: ``.venv/bin/python -m tests.golden.make_golden``. It fits the
blockade model to the shipped data under the neutral prior set with small, fixed sampler
settings and stores the hypothesis table and the parameter summary beside this file.
``tests/test_golden.py`` refits and compares. Regenerate only when a change is *meant* to
move the numbers, and say so in the commit message.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
# Small but real: 2 chains x 400 draws keep the refit to a few seconds once compiled.
SETTINGS = {"draws": 400, "tune": 400, "chains": 2, "target_accept": 0.9, "seed": 7}
SUMMARY_COLUMNS = ["mean", "sd", "eti95_lb", "eti95_ub"]
HYPOTHESIS_COLUMNS = ["hypothesis", "prior_prob", "posterior_prob", "posterior_prob_mcse"]


def golden_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit the golden configuration; return (hypotheses, summary) as stored."""
    from analyses.inference.fit import fit_analysis, parameter_summary
    from analyses.inference.hypotheses import Thresholds
    from analyses.inference.sampling import SamplerSettings
    from models.blockade import ModelOptions
    from models.evidence.load import load_evidence
    from models.priors import load_priors

    evidence = load_evidence().resolve({})
    priors = load_priors("neutral", evidence.literature)
    result = fit_analysis(
        evidence,
        priors,
        ModelOptions(),
        SamplerSettings(**SETTINGS),
        Thresholds(0.5, 0.2),
        [0.5],
        [0.2],
    )
    hypotheses = result.hypotheses[HYPOTHESIS_COLUMNS].reset_index(drop=True)
    summary = parameter_summary(result.idata)[SUMMARY_COLUMNS]
    return hypotheses, summary


def main() -> None:
    hypotheses, summary = golden_tables()
    hypotheses.to_csv(HERE / "hypotheses.csv", index=False, float_format="%.17g")
    summary.to_csv(HERE / "summary.csv", float_format="%.17g")
    print(f"wrote {HERE / 'hypotheses.csv'} and {HERE / 'summary.csv'}")


if __name__ == "__main__":
    main()
