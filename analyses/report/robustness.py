"""Figures and report text for the sensitivity suite and the cumulative analysis.

All text is generated from the suite's tables, so it follows the data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analyses.inference.bayes_factors import near_band_edge
from analyses.inference.hypotheses import HYPOTHESES
from analyses.inference.intervals import interval
from analyses.report.figures import COLOURS, REGION_COLOURS
from analyses.report.markdown import markdown_table
from analyses.report.sections import format_bf, number
from analyses.report.symbols import symbol_and_name, text_symbol
from analyses.suite.reweight import K_HAT_MAX
from analyses.suite.scenarios import MAIN

# Why each kind of change can move the answer: generic mechanisms, not findings.
# Matched in order, so a name that contains another's key (nonspecific_share contains
# specific_share) is listed first.
MECHANISMS = {
    "priors": "with four small studies the prior on the blockade fractions carries real weight",
    "leave out": "each study carries a large share of the information on its regimen",
    "early-stopping": "the bias term shrinks the contrast of early-stopped trials",
    "reading": "the disputed number changes what the study reports",
    "within-subject": "the correlation sets how informative the crossover's paired responses are",
    "nonspecific_share equal": "if naltrexone removes the same share of the placebo "
    "improvement, a reported attenuation of the whole improvement is β itself",
    "nonspecific_share": "naltrexone's effect on the placebo improvement is mostly prior",
    "specific_share": "Jelen informs only β·κ_s, so the specific share κ_s trades off against β",
    "tau_beta": "with two studies per regimen, the between-study SD is mostly prior, and a wider "
    "one widens the pooled β's interval",
    "early_stop": "the early-stopping factor sets how much of Williams 2018's contrast is bias",
    "ketamine_response": "Yoon 2019 has no control arm: what ketamine alone would have done "
    "comes from this external prior",
    "ketamine_effect": "a midazolam-controlled course-of-infusions outcome need not share the "
    "24-h saline-controlled effect",
    "single-arm": "the single-arm study leans on an external prior for ketamine alone",
    "timing moderator": "β is modelled as a line in log hours of blockade instead of two levels",
    "thresholds": "the regions are drawn elsewhere; the posterior is the same",
}


# The headline Bayes factor's log10 in sensitivity.csv (its MCSE adds "_mcse").
LOG10_BF = "log10_bf_permissive_vs_primary"


def _mechanism(name: str) -> str:
    for key, text in MECHANISMS.items():
        if name.startswith(key) or key in name:
            return text
    return ""


def with_shown(table: pd.DataFrame) -> pd.DataFrame:
    """Add what a reader sees of each row (``shown``) and of the fit a twin repeats
    (``twin_shown``, empty for a row that is not a twin).

    ``shown`` is the row's ``label``: words and symbols, where the ``scenario`` column holds a
    key. The main analysis is named "primary" in the tables, which beside the hypotheses'
    'primary' would read as the hypothesis, so it shows as "main analysis". A table written
    before ``sensitivity.csv`` had labels shows its scenario names.
    """
    table = table.copy()
    names = table["scenario"].astype(str)
    labels = table["label"] if "label" in table else pd.Series("", index=table.index)
    table["shown"] = [
        MAIN.capitalize()
        if name == "primary"
        else (label if isinstance(label, str) and label else name)
        for name, label in zip(names, labels, strict=True)
    ]
    lookup = dict(zip(names, table["shown"], strict=True)) | {"primary": MAIN.capitalize()}
    twins = table["same_fit_as"] if "same_fit_as" in table else pd.Series("", index=table.index)
    table["twin_shown"] = [lookup.get(t, t) if isinstance(t, str) and t else "" for t in twins]
    return table


def _scenario_label(row) -> str:
    """The scenario's label, with what a reader must know about its fit."""
    label = row.shown
    if row.twin_shown:
        label += f"  (= {row.twin_shown}: the same fit)"
    if not row.certified:
        label += " (NOT CERTIFIED)"
    return label


def _stacked_bars(ax, rows: pd.DataFrame) -> None:
    y = np.arange(len(rows))[::-1]
    left = np.zeros(len(rows))
    twin = rows["same_fit_as"].fillna("").astype(str).str.len().to_numpy() > 0
    for h in HYPOTHESES:
        values = rows[f"p_{h}"].to_numpy()
        bars = ax.barh(y, values, left=left, color=REGION_COLOURS[h], label=h, height=0.75)
        for bar, same in zip(bars, twin, strict=True):
            if same:  # hatched: a twin repeats another row's fit, it is not more evidence
                bar.set_hatch("///")
                bar.set_edgecolor("white")
        left += values
    reverses = rows["reverses_bf"].astype(bool) if "reverses_bf" in rows else [False] * len(rows)
    labels = [
        _scenario_label(r)
        + ("" if r.agrees else f"  (leads: {r.leader})")
        + ("  (lean reverses)" if reversed_ else "")
        for r, reversed_ in zip(rows.itertuples(), reverses, strict=True)
    ]
    ax.set_yticks(y, labels=labels, fontsize=8)
    # Red: the headline Bayes factor leaves the main analysis's band (what the run leads with).
    band = rows["agrees_bf"].astype(bool) if "agrees_bf" in rows else rows["agrees"]
    for tick, agrees in zip(ax.get_yticklabels(), band, strict=True):
        if not agrees:
            tick.set_color(COLOURS["observed"])
            tick.set_fontweight("bold")
    ax.axvline(0.5, color="white", lw=0.8, ls=":")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.6, len(rows) - 0.4)


def robustness_figure(table: pd.DataFrame, leader: str) -> Figure:
    """Each scenario's hypothesis probabilities as a stacked bar, the primary analysis first.

    The refitted and reweighted scenarios come first; the threshold scenarios, which re-read
    the primary posterior with the regions moved, have a panel of their own below. A scenario
    that is the same fit as another (a twin) is hatched and names its twin.
    """
    rows = with_shown(table.reset_index(drop=True))
    if "same_fit_as" not in rows:
        rows["same_fit_as"] = ""
    moved = rows["kind"] == "thresholds"
    fits, regions = rows[~moved], rows[moved]
    heights = [max(len(fits), 1), max(len(regions), 1)] if len(regions) else [len(fits)]
    fig = Figure(figsize=(9, 0.32 * len(rows) + 2.2))
    axes = fig.subplots(len(heights), 1, sharex=True, gridspec_kw={"height_ratios": heights})
    axes = np.atleast_1d(axes)
    _stacked_bars(axes[0], fits)
    axes[0].legend(ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False, fontsize=8)
    axes[0].set_title(
        "Each scenario's hypothesis probabilities. Bold orange label: the Bayes factor "
        "permissive vs primary\nleaves the main analysis's band; '(lean reverses)': it stays "
        "in the band on the other side of 1;\n'(leads: ...)': another hypothesis than "
        f"'{leader}' is the most probable",
        fontsize=9,
        pad=22,
    )
    if len(regions):
        _stacked_bars(axes[1], regions)
        axes[1].set_title(
            "Thresholds moved (P for 'primary', Q for 'permissive'): the same posterior, the "
            "regions drawn elsewhere",
            fontsize=9,
        )
    axes[-1].set_xlabel("posterior probability")
    fig.tight_layout()
    return fig


def cumulative_figure(cumulative: pd.DataFrame) -> Figure:
    """P(hypothesis) and the permissive-vs-primary Bayes factor as each year's studies arrive."""
    fig = Figure(figsize=(11, 3.8))
    (ax1, ax2) = fig.subplots(1, 2)
    steps = np.arange(len(cumulative))
    labels = [f"{label}\n+{added}" for _, label, added in _steps(cumulative)]
    for h in HYPOTHESES:
        ax1.plot(steps, cumulative[f"p_{h}"], marker="o", color=REGION_COLOURS[h], label=h)
    ax1.set_xticks(steps, labels=labels, fontsize=7)
    ax1.set_ylim(-0.02, 1.02)
    ax1.set_ylabel("posterior probability")
    bf = pd.to_numeric(cumulative["bf_permissive_vs_primary"], errors="coerce")
    ax2.plot(steps, bf, marker="o", color="#333333")
    ax2.axhline(1, color="#999999", lw=0.8, ls=":")
    for level in (1 / 10, 1 / 3.2, 3.2, 10):
        ax2.axhline(level, color="#dddddd", lw=0.8)
    ax2.set_yscale("log")
    ax2.set_xticks(steps, labels=labels, fontsize=7)
    ax2.set_ylabel("BF permissive vs primary (log scale)")
    ax2.set_title("grey lines: BF 1/10, 1/3.2, 3.2, 10 (Kass & Raftery bands)", fontsize=8)
    fig.suptitle("How the evidence formed, in publication order", fontsize=11)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    # Below the panels, where it covers no point.
    handles, names = ax1.get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(names), frameon=False, fontsize=9)
    return fig


def _steps(cumulative: pd.DataFrame) -> list[tuple[str, str, str]]:
    """Each cumulative step's year, label ("Studies up to 2019") and the studies it added, by
    name where the table has them (a table from before labels shows names and ids)."""
    added = cumulative["added_label"] if "added_label" in cumulative else cumulative["added"]
    years = [str(name).removeprefix("cumulative to ") for name in cumulative["scenario"]]
    labels = cumulative["label"] if "label" in cumulative else [f"to {y}" for y in years]
    return [
        (year, str(label), str(new)) for year, label, new in zip(years, labels, added, strict=True)
    ]


def _interval_rows(ax, frame: pd.DataFrame, name: str, colour: str, highlight: str) -> None:
    """Median and 95% interval of ``name`` per row of ``frame``, top to bottom."""
    y = np.arange(len(frame))[::-1]
    med = frame[f"{name}_median"].to_numpy()
    lo, hi = frame[f"{name}_eti95_lb"].to_numpy(), frame[f"{name}_eti95_ub"].to_numpy()
    for yi, m, a, b, scenario in zip(y, med, lo, hi, frame["scenario"], strict=True):
        strong = scenario == highlight
        ax.plot([a, b], [yi, yi], color=colour, lw=2.4 if strong else 1.4)
        ax.plot(m, yi, "o", color="white" if not strong else colour, mec=colour, mew=1.5, ms=6)
    ax.axvline(0, color="#999999", lw=0.8)
    ax.axvline(1, color="#999999", lw=0.8, ls="-")
    ax.set_xlabel(f"{text_symbol(name)} (median and {interval().percent} interval)")


def sensitivity_forest(table: pd.DataFrame) -> Figure:
    """β_acute and β_sustained under each scenario (a sensitivity forest).

    Threshold scenarios are left out (their posterior is the primary's); a twin is listed
    once, under the fit it repeats. The primary analysis is the bold row and its dashed
    lines run through every panel.
    """
    rows = with_shown(table[(table["kind"] != "thresholds")].reset_index(drop=True))
    if "same_fit_as" in rows:
        rows = rows[rows["same_fit_as"].fillna("").astype(str) == ""].reset_index(drop=True)
    fig = Figure(figsize=(11, 0.3 * len(rows) + 1.8))
    axes = fig.subplots(1, 2, sharey=True)
    primary = rows[rows["scenario"] == "primary"]
    for ax, name, regimen in zip(
        axes, ("beta_acute", "beta_sustained"), ("acute", "sustained"), strict=True
    ):
        _interval_rows(ax, rows, name, COLOURS[regimen], "primary")
        if len(primary):
            ax.axvline(
                float(primary[f"{name}_median"].iloc[0]), color=COLOURS[regimen], lw=0.8, ls="--"
            )
    labels = [
        f"{s}{'' if c else ' (NOT CERTIFIED)'}"
        for s, c in zip(rows["shown"], rows["certified"], strict=True)
    ]
    axes[0].set_yticks(np.arange(len(rows))[::-1], labels=labels, fontsize=8)
    fig.suptitle(
        f"The pooled blockade fractions under each scenario (dashed: the {MAIN})",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def cumulative_forest(cumulative: pd.DataFrame) -> Figure:
    """β_acute and β_sustained as each year's studies are added (a cumulative forest)."""
    rows = cumulative.reset_index(drop=True).copy()
    rows["scenario"] = [f"{label}: +{added}" for _, label, added in _steps(rows)]
    fig = Figure(figsize=(11, 0.5 * len(rows) + 1.8))
    axes = fig.subplots(1, 2, sharey=True)
    last = rows["scenario"].iloc[-1] if len(rows) else ""
    for ax, name, regimen in zip(
        axes, ("beta_acute", "beta_sustained"), ("acute", "sustained"), strict=True
    ):
        _interval_rows(ax, rows, name, COLOURS[regimen], last)
    axes[0].set_yticks(np.arange(len(rows))[::-1], labels=list(rows["scenario"]), fontsize=8)
    fig.suptitle(
        "The pooled blockade fractions as the evidence arrived (bold: the last step, which is the "
        f"{MAIN})",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def _interval(row, name: str) -> str:
    """A scenario's median and interval (the suite's tables report medians throughout)."""
    ci = interval()
    lb, ub = ci.columns
    return ci.describe("median", row[f"{name}_median"], row[f"{name}_{lb}"], row[f"{name}_{ub}"])


def robustness_section(suite) -> str:
    """The report's Robustness and Cumulative sections, as Markdown."""
    table, leader = with_shown(suite.table), suite.leader
    primary = table[table.kind == "primary"].iloc[0]
    refits = table[table.kind == "sensitivity"]
    lines = [
        "## Robustness\n",
        f"**Headline:** BF permissive vs primary "
        f"{format_bf(primary['bf_permissive_vs_primary'])} in the {MAIN} ('{leader}' "
        f"the most probable reading, P = {primary[f'p_{leader}']:.2f}). Below, each scenario "
        "changes one thing.\n",
        *_agreement_lines(refits),
        *_disagreement_lines(refits, leader),
        *_reversal_lines(refits),
        *_moved_most_lines(refits, primary, leader),
        *_uncertified_lines(refits),
        "",  # a blank line: what follows a list is not part of its last item
        *_method_lines(refits),
        "",
        "![Each scenario's hypothesis probabilities; threshold scenarios in their own panel, "
        "a twin of another fit hatched](figures/robustness.png)\n",
        "![β_acute and β_sustained under each scenario: a sensitivity forest]"
        "(figures/sensitivity_forest.png)\n",
        "\n" + _scenario_table(table, refits) + "\n",
        *_threshold_lines(table[table.kind == "thresholds"], leader),
        _psense_text(suite.psense),
        _psense_studies_text(suite.psense_studies, suite.study_names),
        _cumulative_text(suite.cumulative, refits, primary, leader),
        f"*Suite cost: {suite.refits} fits from {suite.compiles} compiled "
        f"model{'' if suite.compiles == 1 else 's'} (first attempts at target acceptance "
        f"{suite.target_accept:g}{_retried(refits)}) and {suite.reweighted} reweighted "
        f"posteriors, {suite.wall_seconds:.0f} s wall time.*\n",
    ]
    return "\n".join(lines)


def _agreement_lines(refits: pd.DataFrame) -> list[str]:
    """How many distinct fits keep the headline BF's band and direction, and how far it moves.

    A twin (the same fit as another scenario, e.g. leaving out the only single-arm study and
    excluding single-arm evidence) is counted once.
    """
    if "same_fit_as" in refits:
        refits = refits[refits["same_fit_as"].fillna("").astype(str) == ""]
    same_band = int(refits["agrees_bf"].astype(bool).sum()) if "agrees_bf" in refits else None
    disagree = int((~refits.agrees).sum())
    lines = []
    if same_band is not None:
        lines.append(
            f"Robustness is judged by what the run leads with: of {len(refits)} "
            f"distinct scenario results (refits and reweighted posteriors; a twin of another "
            f"fit counted once), **{same_band} keep the Bayes factor permissive vs primary in "
            f"the same Jeffreys band** as the {MAIN} (and, beyond a bare mention, on the same side "
            f"of 1), and **{len(refits) - same_band}** move it to another band."
        )
    lines.append(
        f"By the most probable hypothesis, {len(refits) - disagree} agree and {disagree} "
        f"{'does' if disagree == 1 else 'do'} not; the ranking partly restates the prior's "
        "region sizes, so read it second."
    )
    bf = pd.to_numeric(refits["bf_permissive_vs_primary"], errors="coerce")
    if bf.notna().any():
        low, high = refits.loc[bf.idxmin()], refits.loc[bf.idxmax()]
        below = refits.loc[bf < 1, "shown"].tolist()
        lines.append(
            f"The headline Bayes factor (permissive vs primary) is less stable than the ranking: "
            f"it runs from {bf.min():.2f} ({low['shown']}) to {bf.max():.2f} "
            f"({high['shown']})"
            + (
                f", and falls below 1 (the data then favour 'primary' relative to the prior) "
                f"under: {', '.join(below)}. A Bayes factor between regions moves with the data "
                "each study adds and with the prior inside each region, so it can move where "
                "the ranking does not."
                if below
                else "; it stays above 1 in every scenario."
            )
        )
    return lines


def _disagreement_lines(refits: pd.DataFrame, leader: str) -> list[str]:
    """Scenarios that move the headline BF to another band, or change the leader."""
    moved = ~refits["agrees_bf"].astype(bool) if "agrees_bf" in refits else ~refits.agrees
    disagree = refits[moved | ~refits.agrees]
    if not len(disagree):
        return []
    lines = ["\nWhere the answer changes, and why:\n"]
    for _, r in disagree.iterrows():
        leads = f"'{r['leader']}' leads with P = {r[f'p_{r.leader}']:.2f}; "
        lines.append(_scenario_line(r, leads))
    return lines


def _scenario_line(r: pd.Series, middle: str = "") -> str:
    """One scenario as a list item: what it changes, its BF, the two β, and why it moves."""
    why = _mechanism(r["scenario"])
    log10, mcse = number(r, LOG10_BF), number(r, f"{LOG10_BF}_mcse")
    precision = f" (log10 {log10:+.2f} ± {mcse:.2f})" if np.isfinite(mcse + log10) else ""
    return (
        f"- **{r['shown']}**{_twin_note(r)} ({r['change']}): BF permissive vs primary "
        f"{format_bf(r['bf_permissive_vs_primary'])}{precision}; {middle}β acute "
        f"{_interval(r, 'beta_acute')}; β sustained {_interval(r, 'beta_sustained')}."
        + (f" Why: {why}." if why else "")
    )


def _twin_note(row: pd.Series) -> str:
    """' (the same fit as X)' for a twin, which the counts above take once."""
    twin = row.get("twin_shown")
    return f" (the same fit as {twin})" if isinstance(twin, str) and twin else ""


def _reversal_lines(refits: pd.DataFrame) -> list[str]:
    """Scenarios whose headline BF stays a bare mention but falls on the other side of 1."""
    if "reverses_bf" not in refits:
        return []
    reversed_ = refits[refits["reverses_bf"].astype(bool) & refits.agrees]
    if not len(reversed_):
        return []
    lines = [
        "\nWhere the lean reverses without leaving the band of a bare mention (the data still "
        "cannot tell 'primary' from 'permissive', but lean the other way):\n"
    ]
    return lines + [_scenario_line(r) for _, r in reversed_.iterrows()]


def _moved_most_lines(refits: pd.DataFrame, primary: pd.Series, leader: str) -> list[str]:
    """The agreeing scenarios (leader and BF band, no reversal) that moved the headline Bayes
    factor most: robustness is judged by it, so its moves are the yardstick."""
    log10 = np.log10(pd.to_numeric(refits["bf_permissive_vs_primary"], errors="coerce"))
    head = np.log10(float(primary["bf_permissive_vs_primary"]))
    moved = refits.assign(shift=(log10 - head).abs().fillna(-1.0))
    agreeing = moved.agrees
    if "agrees_bf" in moved:
        agreeing = agreeing & moved["agrees_bf"].astype(bool)
    if "reverses_bf" in moved:
        agreeing = agreeing & ~moved["reverses_bf"].astype(bool)
    moved = moved[agreeing].sort_values("shift", ascending=False).head(3)
    if not len(moved):
        return []
    lines = ["\nAgreeing scenarios that moved the Bayes factor permissive vs primary most:\n"]
    for _, r in moved.iterrows():
        lines.append(
            f"- **{r['shown']}**: BF {format_bf(primary['bf_permissive_vs_primary'])} → "
            f"{format_bf(r['bf_permissive_vs_primary'])}{_edge_note(r)}, P({leader}) "
            f"{primary[f'p_{leader}']:.2f} → {r[f'p_{leader}']:.2f}; β acute "
            f"{_interval(r, 'beta_acute')}; "
            f"β sustained {_interval(r, 'beta_sustained')}."
            + (f" Why: {_mechanism(r['scenario'])}." if _mechanism(r["scenario"]) else "")
        )
    return lines


def _edge_note(r: pd.Series) -> str:
    """' (within Monte Carlo error of a band edge)' where its band could be the next one."""
    log10, mcse = number(r, LOG10_BF), number(r, f"{LOG10_BF}_mcse")
    return " (within Monte Carlo error of a band edge)" if near_band_edge(log10, mcse) else ""


def _retried(refits: pd.DataFrame) -> str:
    """'; N needed a retry (names)': the scenarios the convergence gate sent back."""
    if "attempts" not in refits:
        return ""
    retried = refits[pd.to_numeric(refits["attempts"], errors="coerce") > 1]
    if not len(retried):
        return ""
    names = ", ".join(f"{r.shown} ({int(r.attempts)} attempts)" for r in retried.itertuples())
    return f"; {len(retried)} needed a retry: {names}"


def _uncertified_lines(refits: pd.DataFrame) -> list[str]:
    uncertified = refits[~refits.certified]
    if not len(uncertified):
        return []
    return [
        "\n**Not certified** (convergence gate failed after its retries): "
        + ", ".join(uncertified["shown"])
        + ". Read those rows as provisional."
    ]


def _how(row: pd.Series) -> str:
    """How a scenario's row was obtained: its own fit, the primary's draws reweighted, a twin."""
    method = row.get("method", "refit")
    k = row.get("pareto_k", np.nan)
    k_text = f" (k̂ {k:.2f})" if pd.notna(k) else ""
    if method == "reweighted":
        return f"reweighted{k_text}"
    if method == "twin" or (isinstance(row.get("same_fit_as"), str) and row["same_fit_as"]):
        return f"same fit as {row['twin_shown']}"
    return f"refit{k_text}"


def _method_lines(refits: pd.DataFrame) -> list[str]:
    """Which prior-only scenarios were reweighted rather than refitted, and why."""
    if "pareto_k" not in refits:
        return []
    candidates = refits[pd.to_numeric(refits["pareto_k"], errors="coerce").notna()]
    if candidates.empty:
        return []
    done = candidates[candidates["method"] == "reweighted"]
    refit = candidates[candidates["method"] != "reweighted"]

    def names(rows: pd.DataFrame) -> str:
        # Three decimals: a k̂ of 0.701 printed as 0.70 would seem to meet "< 0.7".
        return ", ".join(f"{r.shown} (k̂ {r.pareto_k:.3f})" for r in rows.itertuples())

    lines = [
        f"{len(candidates)} scenarios change only a prior. Their posterior is the {MAIN}'s "
        "reweighted by new prior / old prior, so where Pareto-smoothed importance sampling "
        f"is reliable (k̂ < {K_HAT_MAX}) [@vehtari2024psis] the {MAIN}'s draws are reweighted "
        "instead of "
        "refitted; a reweighted row's Monte Carlo error is that of the weights' effective "
        "sample size."
    ]
    if len(done):
        lines.append(f"Reweighted: {names(done)}.")
    if len(refit):
        lines.append(f"Refitted, because the weights were unreliable: {names(refit)}.")
    return [" ".join(lines)]


def _scenario_table(table: pd.DataFrame, refits: pd.DataFrame) -> str:
    """The primary row and every refit: probabilities, headline BF, β acute, agreement."""
    rows = with_shown(pd.concat([table[table.kind == "primary"], refits]))
    cols = ["scenario", *[f"p_{h}" for h in HYPOTHESES], "bf_permissive_vs_primary"]
    show = rows[[*cols, "agrees"]].copy()
    for h in HYPOTHESES:
        show[f"p_{h}"] = show[f"p_{h}"].map("{:.2f}".format)
    show["bf_permissive_vs_primary"] = show["bf_permissive_vs_primary"].map(format_bf)
    show["scenario"] = [
        s if c else f"{s} (NOT CERTIFIED)"
        for s, c in zip(rows["shown"], rows["certified"].astype(bool), strict=True)
    ]
    show["β acute"] = [_interval(r, "beta_acute") for _, r in rows.iterrows()]
    show["β sustained"] = [_interval(r, "beta_sustained") for _, r in rows.iterrows()]
    show["agrees"] = show["agrees"].map({True: "yes", False: "**no**"})
    show.insert(1, "how", [_how(r) if r.kind != "primary" else "fit" for _, r in rows.iterrows()])
    if "agrees_bf" in rows:
        show.insert(
            show.columns.get_loc("agrees"),
            "BF band agrees",
            [
                ("yes, lean reverses" if r.get("reverses_bf", False) else "yes")
                if r["agrees_bf"]
                else "**no**"
                for _, r in rows.iterrows()
            ],
        )
        show = show.rename(columns={"agrees": "leader agrees"})
    show = show.rename(
        columns={f"p_{h}": f"P({h})" for h in HYPOTHESES}
        | {"bf_permissive_vs_primary": "BF perm. vs primary"}
    )
    return markdown_table(show)


def _threshold_lines(grid: pd.DataFrame, leader: str) -> list[str]:
    if not len(grid):
        return []
    lo, hi = grid[f"p_{leader}"].min(), grid[f"p_{leader}"].max()
    bf = pd.to_numeric(grid["bf_permissive_vs_primary"], errors="coerce")
    flips = grid[~grid.agrees]["shown"].tolist()
    return [
        f"**Thresholds** (no refit): over primary thresholds 0.4-0.6 and permissive 0.1-0.3, "
        f"the BF permissive vs primary runs from {bf.min():.3g} to {bf.max():.3g}, and "
        f"P({leader}) from {lo:.2f} to {hi:.2f}"
        + (
            f"; another hypothesis leads at {', '.join(flips)}."
            if flips
            else "; it leads everywhere on this grid."
        )
        + " The threshold figure shows the full curves.\n"
    ]


# arviz-stats flags a power-scaling sensitivity above 0.05; within this of it, say so.
PSENSE_CUTOFF, PSENSE_MARGIN = 0.05, 0.01


def _borderline(psense: pd.DataFrame) -> str:
    """The flags that rest on a value just above the cut-off, by parameter and source."""
    frame = psense.reset_index()
    names = [
        f"{text_symbol(str(r.iloc[0]))}'s {column} sensitivity ({float(r[column]):.3f})"
        for _, r in frame.iterrows()
        for column in ("prior", "likelihood")
        # arviz-stats rounds to three decimals and flags from the cut-off itself: 0.050 is in.
        if column in r and PSENSE_CUTOFF <= float(r[column]) < PSENSE_CUTOFF + PSENSE_MARGIN
    ]
    if not names:
        return ""
    return (
        f" At or just above the {PSENSE_CUTOFF} cut-off, so borderline: {', '.join(names)}; the "
        "diagnosis such a value enters rests on a small margin, and the figure shows how "
        "little those curves move."
    )


def _psense_studies_text(by_study: pd.DataFrame | None, names: dict | None = None) -> str:
    """Each study's likelihood scaled alone: which study's data each headline leans on.

    ``names`` maps study id to the name the report uses (ids where it has none).
    """
    if by_study is None or by_study.empty:
        return ""
    names = names or {}
    named = by_study.rename(index=lambda sid: names.get(sid, sid))
    frame = named.reset_index()
    shown = frame.assign(**{c: frame[c].map(lambda x: f"{x:.3f}") for c in by_study.columns})
    shown = shown.rename(columns={c: text_symbol(c) for c in by_study.columns})
    leans = []
    for column in by_study.columns:
        values = named[column]
        most, least = values.idxmax(), values.idxmin()
        leans.append(
            f"{text_symbol(column)} on {most} ({values[most]:.3f}; least on {least}, "
            f"{values[least]:.3f})"
        )
    return (
        "**Which study's data each answer leans on.** The same diagnostic with one study's "
        "likelihood scaled at a time, a component-wise power-scaling [@kallioinen2024]: a "
        "larger value means the quantity moves more when that study's data are given slightly "
        "more or less weight; a value near 0, that the study adds little to it.\n\n"
        + markdown_table(shown)
        + "\n\nMost sensitive: "
        + "; ".join(leans)
        + ".\n"
    )


def _psense_text(psense: pd.DataFrame) -> str:
    lines = ["### Power-scaling sensitivity\n"]
    lines.append(
        "Power-scaling [@kallioinen2024] (arviz-stats `psense_summary`) asks how much each "
        "posterior would move if "
        "the prior, or the likelihood, were made slightly stronger or weaker. A value above 0.05 "
        "flags sensitivity. Prior-sensitive *and* likelihood-sensitive suggests the prior and "
        "the data disagree; prior-sensitive but not likelihood-sensitive suggests the data say "
        "little and the prior decides.\n"
    )
    frame = psense.reset_index().rename(columns={"index": "parameter"})
    if "parameter" not in frame.columns:
        frame = frame.rename(columns={frame.columns[0]: "parameter"})
    for col in ("prior", "likelihood"):
        if col in frame.columns:
            frame[col] = frame[col].map(lambda x: f"{x:.3f}")
    frame["parameter"] = [symbol_and_name(str(p)) for p in frame["parameter"]]
    lines.append(markdown_table(frame))
    lines.append(
        "\n![The headline posteriors and ketamine's effect δ, with the prior, or the "
        "likelihood, raised to the power 0.8 or 1.25](figures/power_scaling.png)\n"
    )
    meaning = {
        "potential prior-data conflict": "the prior and the data both shape it and may pull "
        "in different directions, so a different prior could give a noticeably different "
        "answer",
        "potential strong prior / weak likelihood": "the prior still shapes it noticeably "
        "next to the data, so a somewhat different prior would move it",
    }
    groups: dict[str, list[str]] = {}
    for _, r in psense.reset_index().iterrows():
        diagnosis = str(r.get("diagnosis", "")).strip()
        if diagnosis.startswith("potential"):  # arviz-stats marks unflagged rows "✓"
            groups.setdefault(diagnosis, []).append(text_symbol(str(r.iloc[0])))
    if groups:
        parts = [f"for {', '.join(names)}, {meaning.get(d, d)}" for d, names in groups.items()]
        lines.append(
            "\nIn plain words: " + "; ".join(parts) + ". This is what the prior-set scenarios "
            "above show directly; read the headline together with them."
            + _borderline(psense)
            + "\n"
        )
    else:
        lines.append(
            "\nIn plain words: no headline quantity is flagged; small changes to the prior or "
            "the likelihood leave them where they are.\n"
        )
    return "\n".join(lines)


def _cumulative_text(cumulative: pd.DataFrame, refits: pd.DataFrame, primary, leader: str) -> str:
    lines = ["## Cumulative evidence\n"]
    if cumulative.empty:
        return "\n".join([*lines, "No cumulative analysis was run.\n"])
    rows = []
    previous = None
    biggest = (0.0, "", 0.0, 0.0)
    for (year, _, added), (_, r) in zip(_steps(cumulative), cumulative.iterrows(), strict=True):
        rows.append(
            {
                "up to": year,
                "added": added,
                **{f"P({h})": f"{r[f'p_{h}']:.2f}" for h in HYPOTHESES},
                "BF perm. vs primary": format_bf(r["bf_permissive_vs_primary"]),
                "β acute": _interval(r, "beta_acute"),
                "β sustained": _interval(r, "beta_sustained"),
            }
        )
        if previous is not None:
            shift = abs(r[f"p_{leader}"] - previous)
            if shift > biggest[0]:
                biggest = (shift, added, previous, r[f"p_{leader}"])
        previous = r[f"p_{leader}"]
    lines.append(markdown_table(pd.DataFrame(rows)))
    if biggest[1]:
        lines.append(
            f"\nThe step that moved P({leader}) most added **{biggest[1]}** "
            f"({biggest[2]:.3f} → {biggest[3]:.3f})."
        )
    loo = refits[refits.scenario.str.startswith("leave out")]
    if len(loo):
        shifts = (loo[f"p_{leader}"] - primary[f"p_{leader}"]).abs()
        top = loo.loc[shifts.idxmax()]
        lines.append(
            f"Of the scenarios that leave one study out, **{top['shown']}** moves "
            f"P({leader}) most ({primary[f'p_{leader}']:.2f} → {top[f'p_{leader}']:.2f}): "
            "the conclusion rests on that study most."
        )
    lines.append(
        "\n![Hypothesis probabilities and the headline Bayes factor as each year's "
        "studies arrive](figures/cumulative.png)\n"
    )
    lines.append(
        "\n![β_acute and β_sustained at each step: a cumulative forest]"
        "(figures/cumulative_forest.png)\n"
    )
    return "\n".join(lines)
