"""The standard ArviZ views and the rank test the report states in words."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from analyses.report.views import RANK_TEST_ALPHA, rank_test


def _posterior(shift: float) -> xr.Dataset:
    rng = np.random.default_rng(0)
    draws = rng.standard_normal((4, 1000))
    draws[0] += shift  # one chain off to the side
    return xr.Dataset(
        {name: (("chain", "draw"), draws) for name in ("beta_acute", "tau_beta")},
        coords={"chain": range(4), "draw": range(1000)},
    )


def test_the_rank_test_flags_a_chain_that_saw_another_distribution():
    assert all(p < RANK_TEST_ALPHA for p in rank_test(_posterior(0.5)).values())


def test_the_rank_test_passes_chains_that_agree():
    found = rank_test(_posterior(0.0))
    assert set(found) == {"beta_acute", "tau_beta"}
    assert all(p > RANK_TEST_ALPHA for p in found.values())


def test_a_flag_just_above_the_cutoff_is_called_borderline():
    import pandas as pd

    from analyses.report.robustness import _borderline

    table = pd.DataFrame(
        {"prior": [0.113, 0.03], "likelihood": [0.054, 0.2]}, index=["delta_timing", "x"]
    )
    text = _borderline(table)
    assert "Δ's likelihood sensitivity (0.054)" in text
    assert "0.113" not in text and "0.200" not in text  # clear flags are not borderline
    assert _borderline(table.assign(likelihood=[0.03, 0.2])) == ""


def test_a_prior_set_that_changes_the_leader_is_named():
    import pandas as pd

    from analyses.report.sections import _leader_flips

    table = pd.DataFrame(
        {
            "scenario": ["primary", "priors: sceptical", "priors: opioid_favouring"],
            "p_primary": [0.2, 0.1, 0.8],
            "p_permissive": [0.7, 0.6, 0.2],
            "p_none": [0.05, 0.25, 0.0],
            "p_other": [0.05, 0.05, 0.0],
        }
    )
    sets = table["scenario"].str.startswith("priors: ")
    (line,) = _leader_flips(table, sets)
    assert "**opioid_favouring** 'primary' leads (P = 0.80)" in line
    assert "sceptical" not in line


def test_the_report_states_the_likelihood_of_every_form_it_uses():
    from analyses.report.sections import LIKELIHOODS
    from models.forms import FORMS

    # Every form of evidence the toolkit reads has its likelihood written out for the report.
    assert set(FORMS) <= set(LIKELIHOODS), set(FORMS) - set(LIKELIHOODS)


def test_a_derivation_cites_the_reference_it_names_and_only_an_unambiguous_one():
    from analyses.report.sections import _sources_named

    bib = {
        "murrough2013": {"author": "Murrough, James W. and others", "year": "2013"},
        "yoon2019": {"author": "Yoon, Gihyun and others", "year": "2019"},
        "yoon2019reply": {"author": "Yoon, Gihyun and others", "year": "2019"},
    }
    assert _sources_named("mean 0.467 (Murrough 2013: 7.7 of 16.5)", bib) == " [@murrough2013]"
    assert _sources_named("a single arm (Yoon 2019)", bib) == ""


def test_the_rank_plots_p_values_are_spaced_as_the_reports_numbers():
    from matplotlib.text import Text

    from analyses.report.views import rank_plot

    figure = rank_plot(xr.DataTree.from_dict({"posterior": _posterior(0.0)}))
    labels = [t.get_text() for t in figure.findobj(Text) if t.get_text().startswith("p")]
    assert len(labels) == 2, labels
    assert all(label.startswith("p = ") and label.endswith(" (α = 0.01)") for label in labels)


def test_the_prior_posterior_axis_shows_the_priors_central_99_percent():
    from scipy import stats

    from analyses.report.figures import _shown_range

    post = np.random.default_rng(1).normal(0.8, 0.3, 4000)
    prior = stats.norm(0.5, 0.5)
    lo, hi = _shown_range(post, prior, None)
    # (1 - 0.99) / 2 is 0.005 to within a rounding: so is the comparison.
    assert lo <= prior.ppf(0.005) + 1e-12 and hi >= prior.ppf(0.995) - 1e-12
    assert lo <= np.quantile(post, 0.005) + 1e-12 and hi >= np.quantile(post, 0.995) - 1e-12
    assert lo == pytest.approx(prior.ppf(0.005)) and hi == pytest.approx(prior.ppf(0.995))


def test_a_heavy_tailed_prior_widens_the_axis_by_at_most_two_posterior_widths():
    from scipy import stats

    from analyses.report.figures import MAX_PRIOR_WIDENING, _shown_range

    post = np.random.default_rng(1).normal(0.8, 0.3, 4000)
    width = np.subtract(*np.quantile(post, [0.995, 0.005]))
    lo, hi = _shown_range(post, stats.cauchy(0.5, 0.5), None)
    assert hi - lo == pytest.approx((1 + 2 * MAX_PRIOR_WIDENING) * width)


# A scenario row of sensitivity.csv, as much of it as the report's robustness code reads.
SCENARIO_ROW = {
    "p_primary": 0.25,
    "p_permissive": 0.7,
    "p_none": 0.03,
    "p_other": 0.02,
    "certified": True,
    "same_fit_as": "",
    **{
        f"{b}_{s}": 0.5
        for b in ("beta_acute", "beta_sustained")
        for s in ("median", "eti95_lb", "eti95_ub")
    },
}


def test_the_main_analysis_is_never_labelled_with_a_hypothesis_name():
    """The scenario named "primary" reads "Main analysis" beside the hypothesis 'primary'."""
    import pandas as pd

    from analyses.report import robustness

    base = SCENARIO_ROW | {
        "bf_permissive_vs_primary": 1.5,
        "agrees": True,
        "agrees_bf": True,
        "method": "refit",
    }
    table = pd.DataFrame(
        [
            base | {"scenario": "primary", "kind": "primary"},
            base | {"scenario": "leave out a", "kind": "sensitivity"},
            base | {"scenario": "twin of main", "kind": "sensitivity", "same_fit_as": "primary"},
        ]
    )
    text = robustness._scenario_table(table, table[table.kind == "sensitivity"])
    rows = [line.split(" | ")[0].lstrip("| ") for line in text.splitlines()[2:]]
    assert rows == ["Main analysis", "leave out a", "twin of main"]
    assert "same fit as Main analysis" in text
    labels = [robustness._scenario_label(r) for r in robustness.with_shown(table).itertuples()]
    assert labels[0] == "Main analysis" and "(= Main analysis: the same fit)" in labels[2]


def test_the_robustness_lists_keep_agreeing_reversing_and_disagreeing_scenarios_apart():
    """A scenario whose BF leaves the band is never among the agreeing ones; a lean that
    reverses within a bare mention agrees by band and is listed on its own."""
    import pandas as pd

    from analyses.report import robustness
    from analyses.suite.table import with_agreement

    base = SCENARIO_ROW | {"change": "one thing"}
    rows = [
        ("primary", "primary", 1.66, 0.70),
        ("leave out a", "sensitivity", 0.71, 0.60),  # reverses, still a bare mention
        ("leave out b", "sensitivity", 5.0, 0.95),  # another band
        ("priors: c", "sensitivity", 1.5, 0.50),  # agrees, P(permissive) moved most
    ]
    table = pd.DataFrame(
        [
            base | {"scenario": n, "kind": k, "bf_permissive_vs_primary": bf, "p_permissive": p}
            for n, k, bf, p in rows
        ]
    )
    table = robustness.with_shown(with_agreement(table, "permissive"))
    refits, primary = table[table.kind == "sensitivity"], table.iloc[0]
    assert list(table["agrees_bf"]) == [True, True, False, True]
    assert list(table["reverses_bf"]) == [False, True, False, False]
    moved = "\n".join(robustness._moved_most_lines(refits, primary, "permissive"))
    assert "priors: c" in moved and "leave out a" not in moved and "leave out b" not in moved
    assert "leave out a" in "\n".join(robustness._reversal_lines(refits))
    assert "leave out b" in "\n".join(robustness._disagreement_lines(refits, "permissive"))


def test_a_twin_in_the_robustness_lists_says_whose_fit_it_is():
    import pandas as pd

    from analyses.report import robustness

    table = robustness.with_shown(
        pd.DataFrame(
            {
                "scenario": ["leave out yoon2019", "single-arm evidence excluded", "a", "b"],
                "label": ["Yoon 2019 left out", "Single-arm evidence left out", "A", "B"],
                "same_fit_as": ["", "leave out yoon2019", "", float("nan")],
            }
        )
    )
    notes = [robustness._twin_note(r) for _, r in table.iterrows()]
    assert notes == ["", " (the same fit as Yoon 2019 left out)", "", ""]


def test_the_rank_test_text_names_parameters_by_symbol():
    """The report's line on the rank plots' test writes β acute, not beta_acute, and flags a
    chain that saw another distribution by its symbol."""
    from types import SimpleNamespace

    import numpy as np
    import xarray as xr

    from analyses.report.sections import _rank_test_text

    rng = np.random.default_rng(3)
    draws = rng.normal(size=(4, 500))
    shifted = draws.copy()
    shifted[0] += 2.0  # one chain elsewhere: the test must flag it
    posterior = xr.Dataset(
        {
            "beta_acute": (("chain", "draw"), draws),
            "beta_sustained": (("chain", "draw"), shifted),
        }
    )
    text = _rank_test_text(SimpleNamespace(run=SimpleNamespace(posterior=posterior)))
    assert "β acute" in text and "beta_acute" not in text
    assert "**β sustained below 0.01**" in text


def test_a_questions_variable_names_read_as_symbols():
    """The report's Bayes-factor table shows each question with symbols; the table's keys
    (bayes_factors.csv) keep the names."""
    from analyses.report.symbols import readable

    assert readable("sustained: beta_sustained >= P vs < P") == "sustained: β sustained ≥ P vs < P"
    assert readable("regimen difference: beta_acute > beta_sustained vs <=") == (
        "regimen difference: β acute > β sustained vs ≤"
    )
    assert readable("tau_beta_other") == "tau_beta_other"  # only whole names
