"""The design analysis's figure and short report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analyses.design.spec import Candidate, DesignSpec
from analyses.report.figures import OKABE_ITO, REGION_COLOURS

# (column of assurance.csv, label, colour): the run's Okabe-Ito palette, a region's own colour
# for the side it settles on.
CURVES = (
    ("p_bf_decisive", "BF past 10 either way", OKABE_ITO["black"]),
    ("p_bf_permissive_10", "BF >= 10 for permissive", REGION_COLOURS["permissive"]),
    ("p_bf_primary_10", "BF >= 10 for primary", REGION_COLOURS["primary"]),
    ("p_bf_between_third_and_3", "BF between 1/3 and 3 (unsettled)", OKABE_ITO["grey"]),
)


def _dodged(sizes: pd.Series, i: int, curves: int) -> np.ndarray:
    """Curve i's x positions, shifted a little from the others' so that intervals at one size
    do not hide each other (by 1.5% of the sizes' span, or of the size when there is one)."""
    values = sizes.to_numpy(dtype=float)
    span = np.ptp(values) or values.max()
    return values + (i - (curves - 1) / 2) * 0.015 * span


def _single_size_margin(ax, sizes: pd.Series) -> None:
    """One size: a window around it (matplotlib's default for one point is wide and odd)."""
    if sizes.nunique() == 1:
        n = float(sizes.iloc[0])
        ax.set_xlim(n * 0.85, n * 1.15)


def assurance_figure(summary: pd.DataFrame, spec: DesignSpec) -> Figure:
    """Assurance against sample size, each point with its 95% interval (Jeffreys'; a table
    from before the intervals, +-2 Monte Carlo SEs)."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    for i, (column, label, colour) in enumerate(CURVES):
        if f"{column}_lb" in summary:
            below = summary[column] - summary[f"{column}_lb"]
            above = summary[f"{column}_ub"] - summary[column]
            spread = [below.to_numpy(), above.to_numpy()]
        else:
            spread = 2 * summary[f"{column}_mcse"]
        # "Either way" is one side's curve wherever the other side never reaches 10: drawn
        # wide and dashed underneath, so that it shows where the two coincide.
        either = column == "p_bf_decisive"
        ax.errorbar(
            _dodged(summary["n"], i, len(CURVES)),
            summary[column],
            yerr=spread,
            marker="o",
            color=colour,
            label=label,
            capsize=3,
            ls="--" if either else "-",
            lw=3.0 if either else 1.5,
            zorder=1 if either else 2,
        )
    ax.set_xticks(summary["n"])
    _single_size_margin(ax, summary["n"])
    ax.set_xlabel(f"sample size ({spec.unit()})")
    ax.set_ylabel("probability (over today's posterior)")
    ax.set_ylim(0, 1)
    after = "the programme" if spec.programme else "the study"
    ax.set_title(f"{spec.name}: BF permissive vs primary after {after}", fontsize=10)
    ax.legend(frameon=False, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


# (truth, column of assurance_by_truth.csv, label): each hypothesis with the verdict that
# would be right, in its region's colour.
RIGHT_VERDICTS = (
    ("permissive", "p_bf_permissive_10", "truth permissive: BF >= 10 for permissive"),
    ("primary", "p_bf_primary_10", "truth primary: BF <= 1/10 (for primary)"),
)


def truth_figure(by_truth: pd.DataFrame, spec: DesignSpec) -> Figure:
    """How often the design finds each hypothesis when it is true, against sample size, each
    point with its 95% Jeffreys interval and its number of simulations."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    for i, (truth, column, label) in enumerate(RIGHT_VERDICTS):
        rows = by_truth[by_truth["truth"] == truth]
        if rows.empty:
            continue
        spread = [rows[column] - rows[f"{column}_lb"], rows[f"{column}_ub"] - rows[column]]
        ax.errorbar(
            _dodged(rows["n"], i, len(RIGHT_VERDICTS)),
            rows[column],
            yerr=[s.to_numpy() for s in spread],
            marker="o",
            color=REGION_COLOURS[truth],
            label=label,
            capsize=3,
        )
    # Under each size, how many simulations had each truth: the intervals' width follows it.
    sizes = sorted(by_truth["n"].unique())
    counts = by_truth.set_index(["n", "truth"])["simulations"]
    ticks = [
        f"{n:g}\n" + " / ".join(str(counts.get((n, t), 0)) for t, _, _ in RIGHT_VERDICTS)
        for n in sizes
    ]
    ax.set_xticks(sizes, ticks)
    ax.margins(x=0.08)
    _single_size_margin(ax, by_truth["n"])
    names = " / ".join(t for t, _, _ in RIGHT_VERDICTS)
    ax.set_xlabel(f"sample size ({spec.unit()})\nsimulations with truth {names} under each")
    ax.set_ylabel("probability, given the truth")
    ax.set_ylim(0, 1)
    ax.set_title(f"{spec.name}: how often it finds the true hypothesis", fontsize=10)
    ax.legend(frameon=False, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def best_case_for_primary(
    posterior, regimens: str | Sequence[str], thresholds, prior: Mapping[str, float]
) -> float:
    """The smallest BF permissive : primary a design informing ``regimens`` could give.

    'Primary' needs both pooled fractions at least P. Were the design to make its regimen's
    fraction certainly at least P and leave the other as in ``posterior``, primary would be
    the other at least P and permissive the rest of its region (the other below P; for a
    sustained study, also at least Q). A design of both regimens could make primary certain:
    0. ``prior`` holds the regions' prior probabilities.
    """
    informed = {regimens} if isinstance(regimens, str) else set(regimens)
    if informed >= {"acute", "sustained"}:
        return 0.0
    acute = informed == {"acute"}
    other = np.asarray(posterior["beta_sustained" if acute else "beta_acute"]).ravel()
    p, q = thresholds.primary, thresholds.permissive
    primary = float(np.mean(other >= p))
    permissive = float(np.mean((other < p) & (acute | (other >= q))))
    if primary == 0:  # no draw of the other fraction reaches P: primary stays out of reach
        return float("inf")
    return (permissive / primary) / (prior["permissive"] / prior["primary"])


def _best_case_line(spec: DesignSpec, primary, thresholds) -> str:
    from analyses.commands.design import DECISIVE

    prior = primary.hypotheses.set_index("hypothesis")["prior_prob"]
    post = primary.idata["posterior"]
    regimens = spec.regimens()
    p = f"{thresholds.primary:g}"
    if len(regimens) == 2:
        return (
            f"- 'Primary' needs both pooled fractions at least {p}, and this programme informs "
            f"both: were its studies to make both certainly at least {p}, 'primary' would be "
            "certain (BF permissive : primary 0). Nothing in its design stops it from settling "
            "the question either way; how often it does is the table below."
        )
    (regimen,) = regimens
    bound = best_case_for_primary(post, regimen, thresholds, prior)
    other = "sustained" if regimen == "acute" else "acute"
    share = float(np.mean(np.asarray(post[f"beta_{other}"]).ravel() >= thresholds.primary))
    verdict = (
        "above 1: it cannot favour 'primary' at all"
        if bound > 1
        else "short of 1/10"
        if bound > 1 / DECISIVE
        else "just past 1/10"
        if bound > 1 / (2 * DECISIVE)
        else ""
    )
    what = "this study informs" if not spec.programme else "every study of this programme informs"
    return (
        f"- 'Primary' needs both pooled fractions at least {p}; {what} the {regimen} one. "
        f"Were it to make that fraction certainly at least {p}, leaving β {other} as today "
        f"(P(β {other} ≥ {p}) = {share:.2f}), the Bayes factor permissive : primary would be "
        f"{bound:.3g}, the most this design can do for 'primary'"
        + (f" ({verdict})." if verdict else ".")
    )


KIND_WORDS = {
    "crossover": "crossover (each participant in both conditions)",
    "parallel": "parallel-arm study",
}
CONTROL_WORDS = {
    "none": "no control arm without ketamine",
    "saline": "a saline (placebo) arm",
    "midazolam": "a midazolam (active placebo) arm",
}


def _study_line(study: Candidate) -> str:
    """One candidate study in words."""
    return (
        f"a {KIND_WORDS[study.type]}, with {CONTROL_WORDS[study.control]}, of {study.regimen} "
        f"naltrexone blockade ({study.hours():g} h before ketamine), in {study.population.label}"
    )


def _design_lines(spec: DesignSpec, sims: int) -> list[str]:
    """What the design is: its study, or each study of a programme."""
    sizes = f"Sample sizes: {', '.join(map(str, spec.sample_sizes))}"
    if not spec.programme:
        line = f"{_study_line(spec.studies[0])}; outcome: response at 24 h"
        return [f"{line[0].upper()}{line[1:]}. {sizes}; {sims} simulations each."]
    head = (
        f"A programme of {len(spec.studies)} studies, run side by side and added to the "
        "evidence together; outcome: response at 24 h in each."
    )
    studies = [f"- {i + 1}. {s.label}: {_study_line(s)}." for i, s in enumerate(spec.studies)]
    tail = f"{sizes} ({spec.unit()}), each study the same size; {sims} simulations each."
    return [head, "", *studies, "", tail]


def _transport_line(spec: DesignSpec) -> str:
    """The transport priors: one a regimen (the spec gives a regimen's studies one population)."""
    pops = {r: next(s.population for s in spec.studies if s.regimen == r) for r in spec.regimens()}
    if len(pops) > 1 and len({(p.transport_sd, p.note) for p in pops.values()}) == 1:
        pops = {"": next(iter(pops.values()))}  # one line for both regimens' alike priors
    parts = []
    for regimen, pop in pops.items():
        whose = f"the {regimen} studies'" if regimen else "each study's"
        whose = whose if spec.programme else "its"
        notes = [pop.note] if pop.note else []
        if spec.programme:
            notes.append("one shift a regimen, shared by its studies")
        parts.append(
            f"{whose} blockade fraction may differ from the evidence's by a normal shift with "
            f"SD {pop.transport_sd:g}" + (f" ({'; '.join(notes)})" if notes else "")
        )
    shifted = any(s.population.transport_sd > 0 for s in spec.studies)
    pooled = (
        "; the refit does not know the shift and pools the study with the others, as a "
        "reanalysis that took it for one more would"
    )
    return "- Transport: " + "; ".join(parts) + (pooled if shifted else "") + "."


def design_report(
    spec: DesignSpec,
    summary: pd.DataFrame,
    manifest: dict,
    primary,
    thresholds,
    by_threshold: pd.DataFrame | None = None,
    by_truth: pd.DataFrame | None = None,
) -> str:
    """report.md: the design, its assumptions, the most it can do for 'primary' (given the
    regions' ``thresholds``), the assurance table, the shares given each true hypothesis and
    at other thresholds."""
    table = primary.hypotheses.set_index("hypothesis")["posterior_prob"]
    whose = "Each study's" if spec.programme else "The study's"
    # A programme's studies share one posterior draw: the same population quantities.
    together = ", all from one draw of the posterior in each simulation" if spec.programme else ""
    lines = [
        f"# Design analysis: {spec.name}",
        "",
        spec.description or "",
        "",
        *_design_lines(spec, manifest["simulations_per_size"]),
        "",
        "## What this assumes",
        "",
        f"- {whose} data are drawn from today's posterior (the fit of "
        f"`{manifest['config_file']}`, prior set '{manifest['priors']['name']}': "
        f"P(primary) {table['primary']:.2f}, P(permissive) {table['permissive']:.2f}), with its "
        f"own blockade fraction, response rate and non-specific improvement drawn around it as the "
        f"model says a new study varies{together}.",
        _transport_line(spec),
        "- It is analysed with the same model, priors and readings as that fit; 'assurance' is "
        "the probability of each outcome averaged over that uncertainty, not a frequentist power "
        "at a fixed effect. With no transport shift the expected P(primary) after the study "
        "equals today's whatever the design (the table's differences from it are Monte Carlo "
        "error); what a design changes is how far each study moves it.",
        _best_case_line(spec, primary, thresholds),
        "",
        "## Assurance",
        "",
        "Each probability with its 95% interval over the simulations (Jeffreys'; with no "
        "simulation in a class, the interval still reaches above 0); each expected probability "
        "± its Monte Carlo SE.",
        "",
        _markdown(summary),
        "",
        _certified(summary),
        "`assurance.png` plots it; `design.csv` has one row per simulation.",
        "",
        *_truth_section(by_truth),
        *_threshold_section(by_threshold, thresholds),
        f"Data hash `{manifest['data_hash'][:16]}`, seed {manifest['seed']}, "
        f"run time {manifest['runtime_seconds']} s.",
    ]
    return "\n".join(lines) + "\n"


def _truth_section(by_truth: pd.DataFrame | None) -> list[str]:
    """Assurance given each true hypothesis: the design's power where the truth is known."""
    if by_truth is None or by_truth.empty:
        return []
    rows = [
        "| truth | n | simulations | BF ≥ 10 for permissive | BF ≤ 1/10 for primary "
        "| 1/3 < BF < 3 |",
        "|---|---|---|---|---|---|",
    ]
    for _, r in by_truth.iterrows():
        columns = ("p_bf_permissive_10", "p_bf_primary_10", "p_bf_between_third_and_3")
        cells = [f"{r[c]:.2f}{_interval(r, c)}" for c in columns]
        rows.append(f"| {r.truth} | {r.n:g} | {r.simulations} | " + " | ".join(cells) + " |")
    return [
        "## Given the truth",
        "",
        "Each simulation's world has true pooled fractions (the posterior draw it came from, "
        "after any transport shift). Grouped by the hypothesis whose region holds them: how often "
        "the Bayes factor after the study said so, each share with its 95% Jeffreys interval "
        "(`assurance_by_truth.csv`). A truth that today's posterior makes rare has few "
        "simulations, and a wide interval.",
        "",
        *rows,
        "",
    ]


def _threshold_section(by_threshold: pd.DataFrame | None, thresholds) -> list[str]:
    """Other thresholds P and Q (section 6's grid): the same refits, the regions moved."""
    if by_threshold is None or by_threshold.empty:
        return []
    sizes = sorted(by_threshold["n"].unique())
    head = "| P | Q | " + " | ".join(f"n = {n:g}" for n in sizes) + " |"
    rows = [head, "|" + "---|" * (2 + len(sizes))]
    grid = by_threshold.groupby(["primary_threshold", "permissive_threshold"], sort=True)
    for (p, q), group in grid:
        by_n = group.set_index("n")
        cells = [
            f"{by_n.loc[n, 'p_bf_permissive_10']:.2f} / {by_n.loc[n, 'p_bf_primary_10']:.2f}"
            for n in sizes
        ]
        mark = " (this run's)" if (p, q) == (thresholds.primary, thresholds.permissive) else ""
        rows.append(f"| {p:g}{mark} | {q:g} | " + " | ".join(cells) + " |")
    return [
        "## Other thresholds",
        "",
        "The regions' thresholds are a choice (docs/science.md section 6 varies them for today's "
        "data). Each cell: the share of simulations with BF permissive : primary ≥ 10 / the "
        "share with BF ≤ 1/10 (for 'primary'), from the same refits with the regions moved "
        "(`assurance_thresholds.csv` has their intervals).",
        "",
        *rows,
        "",
    ]


def _certified(summary: pd.DataFrame) -> str:
    """A line on fits the convergence gate did not certify (they are counted, and marked in
    design.csv), or nothing when every fit passed."""
    if "certified" not in summary or bool((summary["certified"] >= 1).all()):
        return ""
    shares = ", ".join(
        f"{r.certified:.0%} at n = {r.n:g}" for r in summary.itertuples() if r.certified < 1
    )
    return (
        f"Not every refit passed the convergence gate: certified {shares}. The others are "
        "counted above and marked in `design.csv` (`certified`).\n"
    )


def _interval(row: pd.Series, column: str) -> str:
    """A share's 95% interval as the tables write it, " (lb to ub)"."""
    return f" ({row[f'{column}_lb']:.2f} to {row[f'{column}_ub']:.2f})"


def _markdown(summary: pd.DataFrame) -> str:
    cols = [
        ("n", "n", "{:.0f}"),
        ("p_bf_decisive", "P(BF past 10)", "{:.2f}"),
        ("p_bf_permissive_10", "P(BF >= 10, permissive)", "{:.2f}"),
        ("p_bf_primary_10", "P(BF >= 10, primary)", "{:.2f}"),
        ("p_bf_between_third_and_3", "P(1/3 < BF < 3)", "{:.2f}"),
        ("expected_p_primary", "E[P(primary)]", "{:.2f}"),
        ("expected_p_permissive", "E[P(permissive)]", "{:.2f}"),
    ]
    head = "| " + " | ".join(c[1] for c in cols) + " |"
    rule = "|" + "---|" * len(cols)
    body = []
    for _, row in summary.iterrows():
        cells = []
        for col, _, fmt in cols:
            cell = fmt.format(row[col])
            if f"{col}_lb" in row:
                cell += _interval(row, col)
            elif f"{col}_mcse" in row:
                cell += f" ± {row[f'{col}_mcse']:.2f}"
            cells.append(cell)
        body.append("| " + " | ".join(cells) + " |")
    return "\n".join([head, rule, *body])
