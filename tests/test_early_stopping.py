"""The simulated exaggeration of a crossover stopped at an interim analysis (docs/science.md)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from models.early_stopping import mcnemar_exact_p, stopped_trials

# Trials per simulation: the stopped share's factor then has a Monte Carlo SE of about 0.01
# at a contrast of 1 (printed by the module's factor_se); the margins below are 10-30 of those.
TRIALS = 20_000
# The probit estimate with (x + 0.5) / (n + 1) is slightly shrunk without any selection
# (0.98 of the contrast at 1, from 200,000 simulated trials: factor_table's `unselected`).
UNSELECTED_TOLERANCE = 0.1


@pytest.mark.parametrize(("placebo_only", "naltrexone_only"), [(7, 0), (1, 7), (3, 7), (5, 5)])
def test_mcnemars_exact_p_is_the_binomial_test_of_the_discordant_pairs(
    placebo_only, naltrexone_only
):
    found = mcnemar_exact_p(np.array([placebo_only]), np.array([naltrexone_only]))[0]
    expected = stats.binomtest(placebo_only, placebo_only + naltrexone_only, 0.5).pvalue
    assert found == pytest.approx(expected)
    assert mcnemar_exact_p(np.array([0]), np.array([0]))[0] == 1.0  # no discordant pair


def test_only_stopping_exaggerates_and_stopping_is_likelier_for_larger_contrasts():
    every = stopped_trials(1.0, 1.01, trials=TRIALS)  # a rule that always stops
    assert every.stopped == 1.0 and every.factor == pytest.approx(1.0, abs=1e-12)
    assert every.unselected == pytest.approx(1.0, abs=UNSELECTED_TOLERANCE)
    stopped = [stopped_trials(c, 0.05, trials=TRIALS) for c in (0.5, 1.0, 2.0)]
    assert stopped[1].factor > 1.3
    assert [s.factor for s in stopped] == sorted((s.factor for s in stopped), reverse=True)
    assert [s.stopped for s in stopped] == sorted(s.stopped for s in stopped)


def test_a_contrast_must_be_positive_to_form_a_factor():
    with pytest.raises(ValueError, match="positive"):
        stopped_trials(0.0, 0.05)


def test_the_table_holds_every_contrast_threshold_and_correlation():
    from models.early_stopping import ALPHAS, CONTRASTS, RHOS, factor_table

    table = factor_table(trials=2_000)
    assert len(table) == len(ALPHAS) * len(CONTRASTS) * len(RHOS)
    assert set(table.rho) == set(RHOS) and table.stopped.between(0, 1).all()


def test_the_suites_larger_factor_is_the_tables():
    """The scenario's centre is the simulated factor it cites, to Monte Carlo error."""
    from analyses.suite.scenarios import STOPPING_RULE, STOPPING_RULE_FACTOR

    found = stopped_trials(STOPPING_RULE["contrast"], STOPPING_RULE["alpha"])
    assert found.factor == pytest.approx(STOPPING_RULE_FACTOR, abs=0.01 + 3 * found.factor_se)
