"""report.md and a self-contained report.html, built only from a run folder's own files.

Every number printed here is read from the run's outputs (manifest.json and the CSV files),
never typed in, so the report cannot disagree with the results beside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analyses.inference.bayes_factors import (
    ACUTE_STRONG_VS_NONE,
    CANNOT_TELL,
    evidence_words,
    near_band_edge,
    regions,
)
from analyses.inference.fit import HEADLINE_VARS
from analyses.inference.hypotheses import HYPOTHESES, Thresholds, boxed_reading
from analyses.inference.intervals import Interval, interval
from analyses.inference.sampling import ESS_MIN, RHAT_MAX, TAIL_ESS_PROBS
from analyses.report.bias import bias_section, counted_once, study_brief
from analyses.report.conflict import conflict_text
from analyses.report.folder import RunFolder
from analyses.report.markdown import markdown_table
from analyses.report.references import read_bib
from analyses.report.symbols import readable, symbol_and_name, symbol_rows, text_symbol
from models.distributions import describe_spec, scipy_dist, written_spec


def figure(ctx: ReportContext, name: str, caption: str) -> str:
    """A figure of the run where the text discusses it (numbered later), if it was drawn."""
    return f"\n![{caption}](figures/{name}.png)\n" if ctx.run.figure(name).exists() else ""


EVIDENCE_WORDS = {
    "paired_binary": "responders under each condition of a crossover (bivariate probit)",
    "contrast_statistic": "a test statistic for the naltrexone contrast; its reported attenuation "
    "of the whole improvement becomes a share of the specific effect through the specific "
    "share κ_s",
    "arm_counts": "counts per arm, some known only as bounds",
    "single_arm_binary": "responders in a single arm, against an external prior for ketamine alone",
    "arm_means": "arm means and SDs",
    "ipd": "individual participant data",
}


def caveats(included: pd.DataFrame, numbers: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """Caveats generated from the run's own evidence tables, so they follow the data."""
    out = _timing_caveat(included)
    for _, r in included[included["stopped_early"] == "yes"].iterrows():
        out.append(
            f"**Early stopping.** {r['label']} stopped at an interim analysis with {r['analysed']} "
            "analysed; early-stopped trials overstate effects [@bassler2010], and the size of the "
            "bias term is borrowed from trials of other questions."
        )
    out += _source_caveats(numbers[numbers["study"].isin(set(included["study"]))])
    kappa = [i for i in summary.index if i.startswith("specific_share")]
    if kappa:
        out.append(
            f"**The specific share κ_s** (posterior mean {summary.loc[kappa[0], 'mean']:.2f}) "
            "turns a "
            "reported attenuation of the whole improvement into a share of ketamine's specific "
            "effect; its prior rests on one ketamine-vs-midazolam trial."
        )
    if not any(("arm_means" in str(e)) or ("ipd" in str(e)) for e in included["evidence"]):
        out.append(
            "**No arm-level means.** No included study reports means and SDs per condition; every "
            "likelihood works from counts or test statistics."
        )
    return out


def _timing_caveat(included: pd.DataFrame) -> list[str]:
    """What besides timing differs between the regimens (rating time, infusions, covariates)."""
    if included["regimen"].nunique() != 2:
        return []
    per_regimen = []
    for regimen, part in sorted(included.groupby("regimen")):
        studies = "; ".join(f"{r['label']} {_rated(r)}" for _, r in part.iterrows())
        per_regimen.append(f"{regimen}: {studies}")
    text = (
        "**Timing is not the only difference between the regimens.** Outcomes were rated "
        "as follows, per study (" + "; ".join(per_regimen) + "). The regimen difference also "
        "carries every difference in population, design and blinding between the two groups."
    )
    groups = {
        regimen: {c[len("covariate_") :]: set(part[c]) for c in part if c.startswith("covariate_")}
        for regimen, part in included.groupby("regimen")
    }
    ca, cb = groups.values()
    separated = [c for c in ca if c in cb and not ca[c] & cb[c]]
    if separated:
        described = "; ".join(
            f"{c.replace('_', ' ')}: "
            + ", ".join(
                f"{' or '.join(f'{v:g}' for v in sorted(g[c]))} in the {r} studies"
                for r, g in groups.items()
            )
            for c in separated
        )
        text += (
            f" Study covariates differ between the two groups with no overlap ({described}), "
            "so the data cannot separate them from timing: adding one to `[model] covariates` "
            "leaves the regimen difference resting on its prior."
        )
    return [text]


def _rated(study: pd.Series) -> str:
    """When the outcome was rated, from what the study reports.

    ``infusions`` is the study's whole course, not the number before the rating: within 48 h
    the rating follows one infusion (a 4-h rating after the first of four is "4 h after an
    infusion"); later, or at an unreported time, it follows the course.
    """
    hours, infusions = study.get("timepoint_hours"), study.get("infusions")
    course = "" if pd.isna(infusions) else f" of {int(infusions)} infusions"
    if pd.notna(hours) and hours <= 48:
        return f"{hours:g} h after an infusion"
    if pd.notna(hours):
        return f"at {hours:g} h, after a course{course}"
    return f"at an unreported time (probably after its course{course})"


def _source_caveats(used: pd.DataFrame) -> list[str]:
    """Numbers from secondary sources, and counts known only as bounds."""
    out = []
    counted = counted_once(used)
    secondary = counted[counted["status"] == "secondary"].groupby("study").size()
    if len(secondary):
        out.append(
            "**Secondary sources.** Numbers taken from commentary, registries or news rather than "
            "the papers (per included study, a disputed number counted once, as its default "
            "reading: "
            + ", ".join(f"{k} {v}" for k, v in secondary.items())
            + "); `numbers.csv` lists each."
        )
    bounds = used[
        used["value"].isna() & used["lower"].notna() & used["field"].str.contains("events")
    ]
    if len(bounds):
        out.append(
            "**Bounds, not counts.** "
            + ", ".join(sorted(set(bounds["study"])))
            + " report some counts only as bounds; the model uses the whole range, which carries "
            "less information than a count."
        )
    return out


def _bf(value) -> float | str:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def number(row: pd.Series, key: str) -> float:
    """A row's value as a float: NaN where the column is missing, empty or not a number."""
    return float(pd.to_numeric(pd.Series([row.get(key)]), errors="coerce")[0])


def format_bf(value) -> str:
    """A Bayes factor as printed: 3 significant digits, or why there is none."""
    v = _bf(value)
    if isinstance(v, float):
        return f"{v:.3g}" if np.isfinite(v) else "not estimable"
    return v


def _interval(summary: pd.DataFrame, name: str) -> str:
    ci = interval()
    lb, ub = ci.columns
    r = summary.loc[name]
    # Runs made before summary.csv had a median give the mean, and say so.
    centre = "median" if "median" in r else "mean"
    return ci.describe(centre, r[centre], r[lb], r[ub])


@dataclass(frozen=True)
class ReportContext:
    """What every section reads: this run's folder, and the previous run's if any."""

    run: RunFolder
    previous: RunFolder | None = None

    @property
    def included(self) -> pd.DataFrame:
        """Included studies, formatted for the evidence table."""
        evidence = self.run.evidence
        inc = evidence[evidence.status == "included"].copy()
        inc["analysed"] = inc["analysed"].map(
            lambda x: "not reported" if pd.isna(x) else f"{x:.0f}"
        )
        if "naltrexone_route" in inc:  # runs before the route and dose were two columns
            dose = inc["naltrexone_dose_mg"].map(
                lambda x: "dose not reported" if pd.isna(x) else f"{x:g} mg"
            )
            inc["naltrexone"] = inc["naltrexone_route"] + " " + dose
        inc["stopped_early"] = inc["stopped_early"].map({True: "yes", False: "no"})
        inc["timepoint"] = inc["timepoint"].fillna("")
        return inc

    @property
    def thresholds(self) -> dict:
        """The run's hypothesis thresholds (older runs hold them in the configuration)."""
        m = self.run.manifest
        return m.get("thresholds") or {
            "primary": m["config"].get("hypotheses", {}).get("primary", 0.5),
            "permissive": m["config"].get("hypotheses", {}).get("permissive", 0.2),
        }


def title_section(ctx: ReportContext) -> str:
    m = ctx.run.manifest
    text = (
        f"# Does naltrexone block ketamine's antidepressant effect?\n\nRun `{m['run_id']}`, "
        f"{m['created']}, configuration `{m['config_file']}`.\n"
    )
    if not m["certified"]:
        fails = "; ".join(m["diagnostics"]["final"]["failures"])
        text += (
            f"\n**NOT CERTIFIED**: the convergence gate failed ({fails}). "
            "The numbers below are provisional.\n"
        )
    return text


def question_section(ctx: ReportContext) -> str:
    return "## The question\n\n" + (
        "A single ketamine infusion relieves depression within a day. If the opioid system is "
        "**primary**, blocking opioid receptors with naltrexone removes most of that effect "
        "whatever the timing; if it is **permissive**, blockade removes part of it, or only "
        "blockade at the moment of infusion matters; if it is **not involved**, blockade changes "
        "nothing. Each study is summarised by its **blockade fraction** β: the share of "
        "ketamine's specific effect (improvement beyond what the same patients would show "
        "without ketamine) that naltrexone removes. β = 1 is a total block, β = 0 no effect. "
        "The model does not confine β to [0, 1]: β < 0 would mean naltrexone enhanced "
        "ketamine's effect, and β > 1 that ketamine plus naltrexone did worse than no ketamine "
        "(implausible, but left to the data rather than forbidden). "
        "Acute blockade (one oral dose shortly before the infusion) and sustained blockade (a "
        "depot injection days before) each have their own pooled β. In this report "
        "'primary' always names that role; the analysis the report leads with is the **main "
        "analysis**, and each scenario of the robustness section changes one thing of it.\n"
    )


HEADLINE_QUESTION = "permissive vs primary"
ACUTE_QUESTION = "acute: beta_acute >= P vs between Q and P"
SUSTAINED_QUESTION = "sustained: beta_sustained >= P vs < P"
REGIMEN_QUESTION = "regimen difference: beta_acute > beta_sustained vs <="


def bf_phrase(row: pd.Series) -> str:
    """``BF 1.70 (log10 0.23 ± 0.01; not worth more than a bare mention)``, or the bound."""
    if row["bound"]:
        return f"BF {row['bound']}{row['bf']:.3g} (a bound: too few posterior draws in a region)"
    if not np.isfinite(row["bf"]):
        return "BF not estimable"
    edge = (
        "; within Monte Carlo error of a band edge"
        if near_band_edge(row["log10_bf"], row["log10_bf_mcse"])
        else ""
    )
    return (
        f"BF {row['bf']:.3g} (log10 {row['log10_bf']:+.2f} ± {row['log10_bf_mcse']:.2f}; "
        f"{row['evidence']}{edge})"
    )


def _evidence_cell(row: pd.Series) -> str:
    """A Bayes factor's band, flagged where a band edge is within two Monte Carlo SEs."""
    near = not row["bound"] and near_band_edge(row["log10_bf"], row["log10_bf_mcse"])
    return f"{row['evidence']} (near a band edge)" if near else str(row["evidence"])


def headline_section(ctx: ReportContext) -> str:
    bfs, summary = ctx.run.bayes_factors, ctx.run.summary
    head = bfs.loc[HEADLINE_QUESTION]
    lines = [
        "## Headline\n",
        f"**Permissive vs primary: {bf_phrase(head)}.** "
        + _verdict(head)
        + " "
        + _depends_on(ctx)
        + "\n",
        f"- The acute question (β acute ≥ P vs between the thresholds): "
        f"{bf_phrase(bfs.loc[ACUTE_QUESTION])}.",
        f"- The sustained question (β sustained ≥ P vs below): "
        f"{bf_phrase(bfs.loc[SUSTAINED_QUESTION])}.",
        *_where_permissive_sits(ctx),
        *_rests_on(ctx.run.sensitivity, ctx.run.evidence),
        *_acute_rests_on(ctx),
        f"- β acute: {_interval(summary, 'beta_acute')}; β sustained: "
        f"{_interval(summary, 'beta_sustained')}.",
        *_predictive_beta(summary),
        f"- Regimen difference Δ = β acute − β sustained (confounded with population, design "
        f"and rating time, so not a clean timing effect): {_interval(summary, 'delta_timing')}; "
        f"{_odds_to_prob(bfs.loc[REGIMEN_QUESTION])}; "
        f"{bf_phrase(bfs.loc[REGIMEN_QUESTION])} for Δ > 0.\n",
        "Bayes factors lead because posterior probabilities of the four regions partly restate "
        "the prior's region sizes; the table below gives both, and the posterior under equal "
        "prior odds.\n",
        figure(ctx, "forest", "Blockade fraction by study, pooled by regimen, and for a new study"),
    ]
    return "\n".join(lines)


def _depends_on(ctx: ReportContext) -> str:
    """What the headline Bayes factor is conditional on: the prior set and the thresholds."""
    m = ctx.run.manifest
    t, slots = ctx.thresholds, m["priors"]["slots"]
    acute, sustained = (written_spec(slots[s]) for s in ("beta_acute", "beta_sustained"))
    priors = (
        f"each β ~ {acute}"
        if acute == sustained
        else f"β acute ~ {acute}, β sustained ~ {sustained}"
    )
    return (
        f"It is conditional on the '{m['priors']['name']}' prior set ({priors}) and on the "
        f"thresholds that draw the regions, P = {t['primary']} and Q = {t['permissive']}: "
        "'primary' is both β ≥ P; 'permissive' β acute ≥ Q and not primary; 'none' both β < Q; "
        "'other' the rest. The robustness section varies both."
    )


def _acute_rests_on(ctx: ReportContext) -> list[str]:
    """The study β acute leans on most (per-study power-scaling), and β acute without it."""
    by_study, sensitivity = ctx.run.psense_studies, ctx.run.sensitivity
    if by_study.empty or sensitivity.empty or "beta_acute" not in by_study:
        return []
    study = str(by_study.loc[by_study["beta_acute"].idxmax(), "study"])
    rows = sensitivity[sensitivity["scenario"] == f"leave out {study}"]
    if rows.empty:
        return []
    row = rows.iloc[0]
    return [
        f"- The acute Bayes factors (the strong ones in the table below among them) lean on "
        f"{_named(ctx.run.evidence, study)} most: without it β acute is "
        f"median {row['beta_acute_median']:+.2f} (95% interval "
        f"{row['beta_acute_eti95_lb']:+.2f} to {row['beta_acute_eti95_ub']:+.2f})"
        + _acute_bf_without(ctx, row)
        + "."
    ]


def _acute_bf_without(ctx: ReportContext, row: pd.Series) -> str:
    """The strong-vs-none acute Bayes factor without the study, beside the main analysis's."""
    without = number(row, "bf_acute_strong_vs_none")
    question = ACUTE_STRONG_VS_NONE[0]
    if not np.isfinite(without) or question not in ctx.run.bayes_factors.index:
        return ""
    main = ctx.run.bayes_factors.loc[question]
    return (
        f", and the Bayes factor of β acute ≥ P against β acute < Q is {without:.3g} "
        f"({evidence_words(float(np.log10(without)))}) against {format_bf(main['bf'])} with it"
    )


def _named(evidence: pd.DataFrame, study: str) -> str:
    """A study's label in bold and what kind of study it is (its id alone if not listed)."""
    found = evidence[evidence["study"] == study]
    if not len(found):
        return f"**{study}**"
    return f"**{found.iloc[0]['label']}** ({study_brief(found.iloc[0])})"


def _predictive_beta(summary: pd.DataFrame) -> list[str]:
    """A new study's own β per regimen: the pooled value plus the between-study spread."""
    names = {r: f"beta_new_study[{r}]" for r in ("acute", "sustained")}
    if not all(n in summary.index for n in names.values()):
        return []
    return [
        f"- A new study's own β (pooled value plus between-study spread): acute "
        f"{_interval(summary, names['acute'])}; sustained {_interval(summary, names['sustained'])}."
    ]


def _odds_to_prob(row: pd.Series) -> str:
    """``P(Δ > 0) = 0.91 (prior 0.50)`` from a question's posterior and prior odds."""
    post, prior = row["posterior_odds"], row["prior_odds"]
    if not np.isfinite(post):
        return f"prior P(Δ > 0) = {prior / (1 + prior):.2f}"
    return f"P(Δ > 0) = {post / (1 + post):.2f} (prior {prior / (1 + prior):.2f})"


def assay_section(ctx: ReportContext) -> str:
    """Can each study show an attenuation? Only where ketamine itself did something."""
    assay = ctx.run.assay
    if assay.empty:
        return ""
    p_col = next(c for c in assay.columns if c.startswith("p_delta_above_"))
    threshold = p_col.removeprefix("p_delta_above_")
    identified = assay["identified"] if "identified" in assay else pd.Series(True, assay.index)
    verdict = [
        "not identified: no arm without ketamine, so δ is mostly its prior"
        if not ident
        else ("**little or none**" if flag else "yes")
        for ident, flag in zip(identified, assay["flagged"], strict=True)
    ]
    rows = pd.DataFrame(
        {
            "study": assay["study"],
            "ketamine effect δ (mean ± SD)": [
                f"{m:+.2f} ± {s:.2f}" for m, s in zip(assay.delta_mean, assay.delta_sd, strict=True)
            ],
            # Where no arm got no ketamine, δ is its prior: a probability near 1 there is the
            # prior's, not assay sensitivity shown by the study.
            f"P(δ > {threshold})": [
                f"{p:.2f}" if ident else "— (prior)"
                for p, ident in zip(assay[p_col], identified, strict=True)
            ],
            "assay sensitivity": verdict,
        }
    )
    flagged = assay.loc[assay["flagged"], "study"].tolist()
    words = (
        f"In {', '.join(flagged)}, P(δ > {threshold}) is below one half: ketamine's own effect "
        "there may have been too small for naltrexone to remove much of, so the study says "
        "little about β."
        if flagged
        else "No study with an arm without ketamine shows a doubtful ketamine effect."
    )
    return (
        "### Assay sensitivity\n\n"
        + markdown_table(rows)
        + "\n\nA study can only show naltrexone removing an effect if ketamine had one in it; "
        "only a study with an arm that got no ketamine can tell. "
        f"{words}\n"
    )


def _verdict(head: pd.Series) -> str:
    if head["bound"] or not np.isfinite(head["log10_bf"]):
        return ""
    if abs(head["log10_bf"]) < CANNOT_TELL:
        return (
            "Today's data cannot tell a primary from a permissive opioid role: the evidence "
            "moves the odds between them by less than a factor of √10."
        )
    side = "permissive" if head["log10_bf"] > 0 else "primary"
    return f"The data favour a **{side}** role, {head['evidence'].split(',')[0]}."


def _where_permissive_sits(ctx: ReportContext) -> list[str]:
    """Which part of the 'permissive' region holds its probability, read from the draws.

    'Permissive' joins two readings a clinician would not confuse: a strong acute block with
    a weaker sustained one, and a partial acute block. The headline says which one the
    posterior favours, and that only beta_sustained separates the first from 'primary'.
    """
    if ctx.run.posterior is None:
        return []
    t = ctx.thresholds
    a = ctx.run.posterior["beta_acute"].values.ravel()
    s = ctx.run.posterior["beta_sustained"].values.ravel()
    slots = ctx.run.manifest["priors"]["slots"]
    # The two parts of 'permissive', as the Bayes factor questions define them.
    parts = regions(slots["beta_acute"], slots["beta_sustained"], Thresholds(**t))
    strong = float(np.mean(parts["acute >= P, sustained < P"].indicator(a, s)))
    partial = float(np.mean(parts["Q <= acute < P"].indicator(a, s)))
    above_one, below_zero = float(np.mean(a > 1)), float(np.mean(s < 0))
    return [
        f"- What 'permissive' means here: of its posterior probability ({strong + partial:.2f}), "
        f"{strong:.2f} is a "
        f"strong acute block (β acute ≥ {t['primary']}) with a weaker sustained one, and "
        f"{partial:.2f} a partial acute block ({t['permissive']} ≤ β acute < {t['primary']}). "
        "Between the strong reading and 'primary' only β sustained decides, so that call rests "
        "on the sustained-blockade studies alone; the assay-sensitivity section shows how much "
        "each of them could show.",
        f"- P(β acute > 1) = {above_one:.2f} (prior {_prior_above_one(slots):.2f}); "
        f"P(β sustained < 0) = {below_zero:.2f}. β > 1 would mean ketamine with naltrexone did "
        "worse than no ketamine at all: the model leaves that to the data rather than forbid "
        "it, so 'primary' and the strong part of 'permissive' hold such draws too.",
        *_boxed_lines(a, s, slots, Thresholds(**t)),
    ]


def _boxed_lines(a: np.ndarray, s: np.ndarray, slots: dict, t: Thresholds) -> list[str]:
    """The headline with both pooled β confined to [0, 1]: the same draws, those inside."""
    boxed = boxed_reading(a, s, slots["beta_acute"], slots["beta_sustained"], t)
    if boxed is None:
        return []
    bf = boxed.bf_permissive_vs_primary
    bf_text = (
        f"BF permissive vs primary {bf:.3g} ({evidence_words(float(np.log10(bf)))})"
        if np.isfinite(bf)
        else "too few draws in a region for a Bayes factor"
    )
    outside = 1 - boxed.draws / a.size
    return [
        f"- Were both pooled β confined to [0, 1] (the prior truncated there, which conditions "
        f"the posterior on the box: the {boxed.draws} of {a.size} draws inside are kept, "
        f"{outside:.0%} fall outside; each study's own β_s stays unconfined): {bf_text}; "
        f"P(primary) {boxed.posterior['primary']:.2f}, P(permissive) "
        f"{boxed.posterior['permissive']:.2f} (under the truncated prior "
        f"{boxed.prior['primary']:.2f} and {boxed.prior['permissive']:.2f})."
    ]


def _prior_above_one(slots: dict) -> float:
    spec = slots["beta_acute"]
    if spec["dist"] == "fixed":
        return float(spec["value"] > 1)
    return float(scipy_dist(spec).sf(1.0))


def _rests_on(sensitivity: pd.DataFrame, evidence: pd.DataFrame) -> list[str]:
    """The study whose removal moves the headline BF most (and what kind of study it is),
    and the prior sets' range."""
    if sensitivity.empty:
        return ["- What the answer rests on: run without `--quick` for the sensitivity suite."]
    bf = pd.to_numeric(sensitivity["bf_permissive_vs_primary"], errors="coerce")
    base = float(bf.iloc[0])
    out = []
    loo = sensitivity["scenario"].str.startswith("leave out ")
    if loo.any():
        shift = (np.log10(bf[loo]) - np.log10(base)).abs()
        worst = shift.idxmax()
        study = sensitivity.loc[worst, "scenario"].removeprefix("leave out ")
        out.append(
            f"- What the answer rests on: without {_named(evidence, study)} the BF permissive vs "
            f"primary is {bf[worst]:.3g} (vs {base:.3g}), the largest move of any single study."
        )
    out += _band_movers(sensitivity, bf)
    sets = sensitivity["scenario"].str.startswith("priors: ")
    if sets.any():
        values = [base, *bf[sets]]
        out.append(
            f"- Across the prior sets the BF runs from {min(values):.3g} to {max(values):.3g}."
        )
        out += _leader_flips(sensitivity, sets)
    return out


def _band_movers(sensitivity: pd.DataFrame, bf: pd.Series) -> list[str]:
    """The modelling choices (not prior sets) that move the headline BF out of its band."""
    if "agrees_bf" not in sensitivity:
        return []
    kind = sensitivity["kind"] == "sensitivity"
    choice = ~sensitivity["scenario"].str.startswith(("priors: ", "leave out "))
    moved = sensitivity[kind & choice & ~sensitivity["agrees_bf"].astype(bool)]
    if not len(moved):
        return []
    shown = moved["label"] if "label" in moved else moved["scenario"]
    listed = "; ".join(f"{name} ({bf[i]:.3g})" for i, name in shown.items())
    return [
        "- Modelling choices that move it out of its band (it is conditional on these too; "
        f"the robustness section says why): {listed}."
    ]


def _leader_flips(sensitivity: pd.DataFrame, sets: pd.Series) -> list[str]:
    """The prior sets under which another hypothesis is the most probable."""
    columns = [f"p_{h}" for h in HYPOTHESES]
    leader = sensitivity[columns].astype(float).idxmax(axis=1).str.removeprefix("p_")
    main = leader.iloc[0]
    # The set's label ("Prior set: opioid-favouring"); a table from before labels, its name.
    shown = sensitivity["label"] if "label" in sensitivity else sensitivity["scenario"]
    shown = shown.astype(str).str.removeprefix("Prior set: ").str.removeprefix("priors: ")
    flips = [
        f"under **{shown[i]}** '{leader[i]}' "
        f"leads (P = {float(sensitivity.loc[i, f'p_{leader[i]}']):.2f}"
        + _prior_beside(sensitivity.loc[i], leader[i])
        + ")"
        for i in sensitivity.index[sets]
        if leader[i] != main
    ]
    if not flips:
        return []
    return [f"- The most probable hypothesis depends on the prior set: {'; '.join(flips)}."]


def hypotheses_section(ctx: ReportContext) -> str:
    hyp, bfs = ctx.run.hypotheses, ctx.run.bayes_factors
    probs = pd.DataFrame(
        {
            "hypothesis": list(HYPOTHESES),
            "prior": [f"{hyp.loc[h, 'prior_prob']:.3f}" for h in HYPOTHESES],
            "posterior": [
                f"{hyp.loc[h, 'posterior_prob']:.3f} ± {hyp.loc[h, 'posterior_prob_mcse']:.3f}"
                for h in HYPOTHESES
            ],
            "posterior under equal prior odds": [
                f"{hyp.loc[h, 'posterior_prob_equal_odds']:.3f}" for h in HYPOTHESES
            ],
        }
    )
    factors = pd.DataFrame(
        {
            "question": [readable(str(q)) for q in bfs.index],
            "prior odds": bfs["prior_odds"].map("{:.3g}".format),
            "Bayes factor": [_bf_cell(r) for _, r in bfs.iterrows()],
            "log10 BF ± MCSE": [
                f"{r['log10_bf']:+.2f} ± {r['log10_bf_mcse']:.2f}"
                if not r["bound"] and np.isfinite(r["log10_bf"])
                else ""
                for _, r in bfs.iterrows()
            ],
            "evidence": [_evidence_cell(r) for _, r in bfs.iterrows()],
        }
    )
    t = ctx.thresholds
    return (
        "### Bayes factors and hypotheses\n\n"
        + markdown_table(factors)
        + "\n\n"
        + markdown_table(probs)
        + f"\n\nRegions: primary = both β ≥ P = {t['primary']}; permissive = β acute ≥ "
        f"Q = {t['permissive']} and not primary; none = both β < Q; other = the rest. Prior "
        "probabilities are exact; posterior ones carry their Monte Carlo standard error. A "
        "Bayes factor shown as a bound ('<x', '>x') rests on a region with too few posterior "
        "draws to estimate it. Words follow Jeffreys' scale [@kassraftery1995]: |log10 BF| "
        "below 0.5 is not worth more than a bare mention, 0.5-1 substantial, 1-2 strong, "
        "above 2 decisive.\n"
        + figure(ctx, "joint", "The two blockade fractions together, over the hypothesis regions")
        + figure(ctx, "thresholds", "Hypothesis probabilities as the thresholds move")
        + _leans_on(ctx)
    )


def _leans_on(ctx: ReportContext) -> str:
    """What the acute headline leans on, in the pair plot and its correlations."""
    post = ctx.run.figure("pair")
    if not post.exists():
        return ""
    return (
        "\nβ acute is informed partly through Jelen 2025's attenuation of the whole "
        "improvement, which identifies only β·κ_s; the pair plot shows β acute against the "
        "specific share κ_s, ketamine's effect δ and the between-study SD τ_β, each panel "
        "titled with their posterior correlation (a strong one means the two trade off).\n"
        + figure(ctx, "pair", "β acute against κ_s, δ and τ_β")
    )


def _bf_cell(row: pd.Series) -> str:
    if row["bound"]:
        return f"{row['bound']}{row['bf']:.3g}"
    return f"{row['bf']:.3g}" if np.isfinite(row["bf"]) else "not estimable"


# Parameters whose prior and posterior spread the report compares: what the data taught.
PRIOR_POSTERIOR_VARS = (
    "beta_acute",
    "beta_sustained",
    "tau_beta",
    "ketamine_effect",
    "tau_ketamine",
    "early_stop_log_exaggeration",
)


def priors_section(ctx: ReportContext) -> str:
    """Every prior set the run reports on, and each headline parameter's prior vs posterior SD."""
    m = ctx.run.manifest
    sets = m.get("prior_sets") or {m["priors"]["name"]: m["priors"]["slots"]}
    slots = list(m["priors"]["slots"])
    table = pd.DataFrame(
        {"slot": [symbol_and_name(k) for k in slots]}
        | {
            name: [describe_spec(spec[k]) if k in spec else "—" for k in slots]
            for name, spec in sets.items()
        }
    )
    return (
        "### Priors\n\n"
        f"This run uses the prior set **{m['priors']['name']}**; the others are the prior-set "
        "scenarios of the sensitivity suite.\n\n"
        + markdown_table(table)
        + "\n\n"
        + _prior_vs_posterior(m["priors"]["slots"], ctx.run.summary)
        + figure(ctx, "prior_posterior", "Prior against posterior, the headline parameters")
        + figure(ctx, "prior_posterior_all", "Prior against posterior, every free parameter")
    )


def _prior_vs_posterior(slots: dict, summary: pd.DataFrame) -> str:
    rows = []
    for name in PRIOR_POSTERIOR_VARS:
        spec = slots.get(name)
        if spec is None or spec["dist"] == "fixed" or name not in summary.index:
            continue
        prior = scipy_dist(spec)
        post_sd = summary.loc[name, "sd"]
        rows.append(
            {
                "parameter": symbol_and_name(name),
                "prior mean": f"{prior.mean():+.2f}",
                "prior SD": f"{prior.std():.2f}",
                "posterior mean": f"{summary.loc[name, 'mean']:+.2f}",
                "posterior SD": f"{post_sd:.2f}",
                "posterior SD / prior SD": f"{post_sd / prior.std():.2f}",
            }
        )
    return (
        markdown_table(pd.DataFrame(rows))
        + "\n\nA ratio near 1 means the data said little about that parameter: its posterior "
        "is mostly its prior.\n"
    )


def evidence_section(ctx: ReportContext) -> str:
    inc = ctx.included
    columns = ["label", "design", "regimen", "naltrexone", "analysed", "scale", "timepoint"]
    columns += ["evidence", "stopped_early"]
    names = {
        "analysed": "n analysed",
        "evidence": "evidence used",
        "stopped_early": "stopped early",
    }
    lines = ["## The evidence\n", markdown_table(inc[columns].rename(columns=names))]
    notes = inc[inc["note"].fillna("").str.len() > 0]
    if len(notes):
        lines.append("\n**Notes from the study files:**\n")
        lines += [f"- {r['label']}: {r['note']}" for _, r in notes.iterrows()]
    lines.append("\n**Considered and not used:**\n")
    evidence = ctx.run.evidence
    for _, r in evidence[evidence.status != "included"].iterrows():
        lines.append(f"- {r['label']} ({r['status']}): {r['reason']}")
    return "\n".join(lines) + "\n" + _disputes(ctx) + _number_counts(ctx)


def _disputes(ctx: ReportContext) -> str:
    lines = [
        "\n**Disputed numbers** (every reading is kept in data/; this run used the marked one):\n"
    ]
    used = ctx.run.manifest.get("readings", {})
    disputed = ctx.run.numbers.dropna(subset=["dispute"])
    for (study, field), part in disputed.groupby(["study", "field_base"]):
        readings = []
        for _, r in part.iterrows():
            value = _reading_value(r)
            mark = " (used)" if used.get(study, {}).get(r["dispute"]) == r["reading"] else ""
            readings.append(f"{r['reading']} = {value}{mark} [{r['status']}]")
        lines.append(f"- {study} `{field}`: " + "; ".join(readings))
    return "\n".join(lines) + "\n"


def _number_counts(ctx: ReportContext) -> str:
    numbers = ctx.run.numbers
    counts = numbers.groupby("status").size()
    kinds = ("reported", "secondary", "derived", "not_reported")
    return (
        f"\nOf the {len(numbers)} numbers in the study files (every study's, excluded and "
        "registered studies too, and every reading of a disputed number), "
        + ", ".join(f"{counts.get(s, 0)} are {s.replace('_', ' ')}" for s in kinds)
        + ". Each has its source and a note in `data/studies/`; `numbers.csv` in this folder "
        "lists them all.\n"
    )


def _equation_lines(options: dict) -> list[str]:
    """The model in symbols (docs/science.md, section 2.2), as this run's options set it."""
    regimen = "β_acute + (β_sustained − β_acute) · (log h_s − log h_A) / (log h_S − log h_A)"
    mean = regimen if options["moderator"] == "log_hours" else "β_r(s)"
    covariates = " + x_sᵀ b" if options["covariates"] else ""
    gamma = {
        "prior": "γ ~ its prior (share of the non-specific improvement removed)",
        "equal_beta": "γ = β_s (the same share of every kind of improvement)",
    }.get(options["nonspecific_share"], "γ = 0")
    bias = "k_s = exp(λ · 1[s stopped early])" if options["early_stopping_bias"] else "k_s = 1"
    return [
        f"β_s  = {mean}{covariates} + τ_β z_s,        z_s ~ N(0, 1)",
        "δ_s  = δ_c(s) + τ_δ,o(s) w_s,        w_s ~ N(0, 1)",
        "",
        "latent mean improvement, by condition:",
        "  ketamine + placebo      m_s + δ_s",
        "  ketamine + naltrexone   m_s + δ_s − k_s (β_s δ_s + γ m_s)",
        "  control (no ketamine)   m_s",
        "",
        f"{bias},   {gamma}",
        "reported attenuation of the whole improvement ~ k_s (β_s κ_s + γ (1 − κ_s))",
        "binary outcome: response probit η_s = m_s + δ_s − θ_s (bivariate probit for a crossover)",
        "Δ = β_acute − β_sustained",
    ]


# Each form of evidence's likelihood in symbols (docs/science.md, section 4).
LIKELIHOODS = {
    "paired_binary": [
        "crossover responders r_P, r_N of n pairs: sum over the 2x2 tables with those margins",
        "  of Mult(n11, r_P − n11, r_N − n11, n − r_P − r_N + n11; p11, p10, p01, p00),",
        "  p_ij = P(±Y_P > 0, ±Y_N > 0), (Y_P, Y_N) ~ bivariate normal(μ_P, μ_N; 1, 1; ρ)",
    ],
    "contrast_statistic": [
        "reported attenuation a ~ N(k_s (β_s κ_s + γ (1 − κ_s)), |a / t|), t the contrast's "
        "statistic;",
        "  without a, t ~ normal with the noncentral-t moments of ν = k_s (β_s δ_s + γ m_s) / se",
        "  (se the contrast's standard error in latent SDs, df its degrees of freedom)",
    ],
    "arm_counts": [
        "arm counts X_c ~ Bin(n_c, Φ(μ_c)); a count known only as a range: P(ℓ ≤ X_c ≤ u)",
    ],
    "single_arm_binary": [
        "single arm X ~ Bin(n, Φ(μ_N)), η_s from the external control prior",
    ],
    "arm_means": [
        "standardized arm means ~ normal(latent mean, 1 / sqrt(n_c)); a crossover pair bivariate",
    ],
    "ipd": [
        "each participant's change y = σ (latent mean + ε), ε ~ N(0, 1), σ ~ HalfNormal",
    ],
}


def _likelihood_lines(ctx: ReportContext) -> list[str]:
    """The likelihood of every form of evidence the included studies use."""
    kinds = []
    for _, r in ctx.included.iterrows():
        for kind in str(r["evidence"]).split(","):
            if kind.strip() and kind.strip() not in kinds:
                kinds.append(kind.strip())
    lines = [
        "",
        "probits: μ_P = η_s (ketamine + placebo), μ_N = η_s − k_s (β_s δ_s + γ m_s),",
        "  μ_C = η_s − δ_s (control); Φ the standard normal CDF; by form of evidence:",
    ]
    for kind in kinds:
        lines += LIKELIHOODS.get(kind, [f"{kind}: see docs/science.md, section 4"])
    return lines


def risk_of_bias_section(ctx: ReportContext) -> str:
    """The facts a risk-of-bias rating would start from, by study (:mod:`analyses.report.bias`)."""
    return bias_section(ctx.run.evidence, ctx.run.numbers, ctx.run.manifest.get("options", {}))


def equations_section(ctx: ReportContext) -> str:
    """The model as equations, beside the plain-words section that follows."""
    options = ctx.run.manifest["options"]
    lines = _equation_lines(options) + _likelihood_lines(ctx)
    moderator = (
        " With the log-hours moderator, h_s is the study's hours of blockade before the "
        "infusion (uniform on the log scale over its reported range), h_A = "
        f"{options['acute_reference_hours']} h and h_S = {options['sustained_reference_hours']} h."
        if options["moderator"] == "log_hours"
        else ""
    )
    return (
        "## The model\n\n"
        "For study s with regimen r(s) (acute or sustained) and comparator c(s): saline, or "
        "midazolam where the control arm got it; a study without an arm that got no ketamine "
        "(a crossover of ketamine + placebo against ketamine + naltrexone, a single arm) "
        "takes the saline-referenced effect. o(s) marks an outcome rated after a course of "
        "infusions.\n\n"
        "```\n" + "\n".join(lines) + "\n```\n\n"
        "β is the blockade fraction (the share of ketamine's specific effect δ that naltrexone "
        "removes), τ_β its between-study SD, m the non-specific improvement, γ the share of it "
        "naltrexone removes, κ_s the specific share of the whole improvement (a parameter with "
        "its own prior, not tied to δ / (m + δ): its only literature estimate is against "
        "midazolam, δ against saline), λ the log "
        "exaggeration of an early-stopped trial, θ_s the latent threshold a responder crosses in "
        "study s (not a parameter: η_s is, with its own prior, and stands for m_s + δ_s − θ_s), "
        "ν a test statistic's noncentrality, ρ the "
        "within-subject correlation of a crossover. Each study enters through the likelihood "
        "of what it reports, listed above "
        "for the forms the included studies use; the toolkit's `docs/science.md` (sections 2 "
        "and 4) derives each, and the prior table above gives every prior."
        f"{moderator}\n"
    )


def model_section(ctx: ReportContext) -> str:
    m = ctx.run.manifest
    lines = [
        "## The model in plain words\n",
        "Every study is put on one latent scale: a patient's standardized improvement. Ketamine "
        "adds its specific effect (partially pooled across studies around the Cochrane 2021 "
        "estimate [@cochrane2021]); naltrexone removes the share β of it. Binary outcomes are "
        "the latent improvement crossing a threshold. The studies' β vary around the pooled β "
        "of their regimen. Each study enters through what it actually reports:\n",
    ]
    bias_on = m["options"]["early_stopping_bias"]
    bib = read_bib()
    for _, r in ctx.included.iterrows():
        kinds = [k.strip() for k in str(r["evidence"]).split(",") if k.strip()]
        forms = [EVIDENCE_WORDS.get(k, k) for k in kinds]
        stopped = r["stopped_early"] == "yes" and bias_on
        stop = " Its contrast is inflated by the early-stopping factor." if stopped else ""
        source = f" [@{r['study']}]" if r["study"] in bib else ""
        lines.append(f"- {r['label']}{source}: {'; '.join(forms)}.{stop}")
    lines.append("\n" + _assumptions(m) + "\n")
    lines.append(f"\nPrior set: **{m['priors']['name']}**. Literature-based priors:\n")
    lines += [
        f"- `{slot}`: {text}{_sources_named(text, bib)}"
        for slot, text in m["priors"]["derivations"].items()
    ]
    lines.append(
        "\nThe prior predictive checks show what the model expected each study to report "
        "before it saw any of them."
    )
    lines.append(figure(ctx, "prior_predictive", "Prior predictive checks"))
    return "\n".join(lines) + "\n"


def _sources_named(text: str, bib: dict[str, dict[str, str]]) -> str:
    """Citations of the references a derivation names as "Surname Year" (Murrough 2013).

    A name two entries share (Yoon 2019: a study and its authors' reply) is left uncited
    rather than guessed.
    """
    named: dict[str, list[str]] = {}
    for key, entry in bib.items():
        surname = entry.get("author", "").split(",")[0].split(" and ")[0].strip()
        if surname:
            named.setdefault(f"{surname} {entry.get('year', '')}", []).append(key)
    keys = [found[0] for name, found in named.items() if len(found) == 1 and name in text]
    return " " + " ".join(f"[@{k}]" for k in keys) if keys else ""


def _assumptions(manifest: dict) -> str:
    """What the model assumes about placebo response and ketamine's effect, in words."""
    options, slots = manifest["options"], manifest["priors"]["slots"]
    gamma = slots.get("nonspecific_share", {"dist": "fixed", "value": 0.0})
    if options.get("nonspecific_share") == "equal_beta":
        placebo = (
            "Naltrexone is assumed to remove the same share of the non-specific (placebo) "
            "improvement as of ketamine's specific effect (γ = β)."
        )
    elif gamma["dist"] == "fixed" and gamma["value"] == 0:
        placebo = "Naltrexone is assumed to leave the non-specific (placebo) improvement intact."
    else:
        placebo = (
            "Naltrexone may also remove a share γ of the non-specific (placebo) improvement, "
            f"since placebo responses are partly opioid-mediated; γ ~ {written_spec(gamma)}."
        )
    if options.get("ketamine_effect", "pooled") == "by_comparator":
        effect = (
            "Ketamine's effect in a midazolam-controlled study is centred on its effect against "
            "midazolam, not against saline, and an outcome after a course of infusions may "
            "differ more from the 24-h effect."
        )
    else:
        effect = "Every study's ketamine effect is pooled around the saline-controlled 24-h one."
    return f"{placebo} {effect}"


def _reading_value(r: pd.Series) -> str:
    """One reading of a disputed number: a value, a range, a bound, or 'not used'."""
    lo, hi = r.get("lower"), r.get("upper")
    if pd.notna(r["value"]):
        return f"{r['value']:g}"
    if pd.notna(lo) and pd.notna(hi):
        return f"{lo:g}" if lo == hi else f"{lo:g} to {hi:g}"
    if pd.notna(lo):
        return f"at least {lo:g}"
    if pd.notna(hi):
        return f"at most {hi:g}"
    return "not used (no value)"


def cross_check_section(ctx: ReportContext) -> str:
    estimates, summary, cross = ctx.run.estimates, ctx.run.summary, ctx.run.cross_check
    est = estimates.assign(
        estimate=estimates.estimate.map("{:+.2f}".format), se=estimates.se.map("{:.2f}".format)
    )
    lines = [
        "## Cross-check: a model anyone can redo by hand\n",
        "Each study's evidence gives a closed-form β estimate (nuisances at the centre of their "
        "priors, and their prior SDs carried into the standard error by the delta method); a "
        "normal-normal meta-regression on those, integrated exactly, should broadly agree with "
        "the full model.\n",
        markdown_table(est[["study", "regimen", "estimate", "se", "method"]]),
    ]
    if not cross.empty:
        c = cross.set_index("parameter")
        ci = interval()
        # Runs before the interval names were shared wrote the exact 95% bounds as q2.5, q97.5.
        lb, ub = ci.columns if ci.columns[0] in c else ("q2.5", "q97.5")
        shown = ci if lb == ci.columns[0] else Interval(0.95)
        centre = "median" if "median" in c.columns and "median" in summary.columns else "mean"
        rows = [
            {
                "parameter": text_symbol(name),
                "full model": _interval(summary, name),
                "cross-check (exact)": shown.describe(
                    centre, c.loc[name, centre], c.loc[name, lb], c.loc[name, ub]
                ),
            }
            for name in HEADLINE_VARS
        ]
        lines += ["", markdown_table(pd.DataFrame(rows)), "", _cross_check_gap(ctx, c)]
        lines.append(figure(ctx, "cross_check", "The full model against the cross-check"))
    return "\n".join(lines) + "\n"


def _cross_check_gap(ctx: ReportContext, cross: pd.DataFrame) -> str:
    """Why the two answers differ, from this run's own numbers."""
    summary, slots = ctx.run.summary, ctx.run.manifest["priors"]["slots"]
    gap = summary.loc["beta_acute", "mean"] - cross.loc["beta_acute", "mean"]
    reasons = [
        "it fixes every nuisance at the centre of its prior, where the full model learns them "
        "jointly with β"
    ]
    kappa = slots.get("specific_share", {})
    if kappa.get("dist") == "beta" and "specific_share[jelen2025]" in summary.index:
        prior_mean = kappa["alpha"] / (kappa["alpha"] + kappa["beta"])
        post = summary.loc["specific_share[jelen2025]", "mean"]
        reasons.append(
            f"for Jelen 2025 it divides the attenuation by the specific share's prior mean "
            f"{prior_mean:.2f}, while the full model's posterior mean is {post:.2f}: Jelen "
            "informs only β·κ_s, and a smaller κ_s means a larger β"
        )
    if "nonspecific_share" in summary.index:
        reasons.append(
            "it assumes naltrexone leaves the placebo improvement intact (γ = 0), where the full "
            f"model's γ has posterior mean {summary.loc['nonspecific_share', 'mean']:+.2f}"
        )
    reasons.append(
        "each study's estimate is a normal approximation (a 0/12 count becomes a continuity-"
        "corrected probit)"
    )
    return (
        f"**Why they differ** (β acute, difference of means: full model minus cross-check "
        f"{gap:+.2f}): "
        + "; ".join(reasons)
        + ". A gap of a few tenths is expected; a gap of the size of the posterior SD or more "
        "means the nuisance parameters carry real weight."
    )


def predictive_section(ctx: ReportContext) -> str:
    return (
        "## Posterior predictive checks\n\n"
        "The figure shows, for every number a study reported, what the fitted model predicts; "
        "a reported value far in a tail would mean the model cannot reproduce that study.\n"
        + figure(ctx, "ppc", "Posterior predictive checks")
    )


def diagnostics_section(ctx: ReportContext) -> str:
    m = ctx.run.manifest
    d = m["diagnostics"]["final"]
    verdict = "passed" if m["certified"] else "FAILED"
    return "## Diagnostics\n\n" + (
        f"Convergence gate (R-hat ≤ {RHAT_MAX}, bulk and tail ESS ≥ {ESS_MIN}, the tail's at "
        f"the {TAIL_ESS_PROBS[0]:.0%} and {TAIL_ESS_PROBS[1]:.0%} quantiles, no divergences "
        f"[@vehtari2021]): **{verdict}**. Largest R-hat {d['max_rhat']:.4f}; "
        f"smallest bulk ESS {d['min_ess_bulk']:.0f}; smallest tail ESS {d['min_ess_tail']:.0f}; "
        f"divergences {d['divergences']}; {d['draws']} draws. "
        f"Attempts: {len(m['diagnostics']['attempts'])}.\n"
        + _rank_test_text(ctx)
        + figure(ctx, "rank", "Rank plots of the headline parameters, by chain")
        # In a quick run there is no robustness section to hold the power-scaling figure.
        + ("" if ctx.run.robustness else figure(ctx, "power_scaling", "Power-scaling"))
    )


def _rank_test_text(ctx: ReportContext) -> str:
    """What the rank plots' multi-chain test says, flagged where it disagrees with the gate."""
    from analyses.report.views import RANK_TEST_ALPHA, rank_test

    if ctx.run.posterior is None:
        return ""
    found = rank_test(ctx.run.posterior)
    listed = ", ".join(f"{text_symbol(name)} {p:.2g}" for name, p in found.items())
    flagged = [text_symbol(name) for name, p in found.items() if p < RANK_TEST_ALPHA]
    text = (
        "\nThe rank plots test whether the four chains saw the same distribution of each "
        f"headline parameter (multi-chain rank-uniformity test; p: {listed}). "
    )
    if not flagged:
        return text + f"None is below {RANK_TEST_ALPHA}.\n"
    return text + (
        f"**{', '.join(flagged)} below {RANK_TEST_ALPHA}**: the chains may differ in part of "
        "the range (see the panel). The test is stricter than R-hat and ESS and also flags "
        "some fits that mix well (docs/science.md, section 7), so a single flag is weak "
        "evidence; but quantities that depend on that part of the range may carry more Monte "
        "Carlo error than their MCSE says, and a rerun with another seed would tell.\n"
    )


def _sections_made(v: dict) -> str:
    """When the record's sections were made: each is rerun alone when what it checks changes,
    so a record can hold sections of several commits."""
    if "sections_oldest" not in v:
        return ""
    oldest, newest = v["sections_oldest"][:10], v["sections_newest"][:10]
    commits = v["section_commits"]
    when = f"on {oldest}" if oldest == newest else f"between {oldest} and {newest}"
    text = (
        f" Its sections were made {when}, from "
        f"{'one commit' if commits == 1 else f'{commits} commits'} of the toolkit (a section is "
        "rerun when what it checks changes; each records its commit)"
    )
    dirty = v.get("sections_uncommitted") or []
    if dirty:
        text += f"; made from uncommitted code: {', '.join(dirty)}"
    return text + "."


def validation_section(ctx: ReportContext) -> str:
    """What `make validate` found, as recorded when this run was made, with where to look."""
    v = ctx.run.manifest.get("validation")
    head = "## Validation of the method\n\n"
    if not v:
        return head + "No validation record was found (`make validate` writes one).\n"
    text = (
        f"The toolkit's validation record, `validation/results.json` (last written by "
        f"`make validate` on {v['created']}; its full path when this run was made: "
        f"`{v['record']}`), "
        f"{'passes every check' if v['passed'] else 'FAILS a check'}: agreement of MCMC with "
        "exact quadrature, calibration of the meta-regression, recovery of known blockade "
        "fractions, and the shipped analysis certified in every scenario." + _sections_made(v)
    )
    sbc = v.get("sbc_blockade")
    if sbc:
        verdict = "calibrated" if sbc["passed"] else "NOT calibrated"
        text += (
            f" Simulation-based calibration [@talts2018] of this model on designs like the "
            "evidence "
            f"({sbc['simulations']} simulations; smallest rank-uniformity p-value "
            f"{sbc['min_ks_p']:.2f}) finds it {verdict}: the computation recovers what it "
            "simulated, which shows self-consistency, not that the model is right about the "
            "studies. Its stated probabilities of the "
            f"hypotheses scored a Brier score of {sbc['brier']:.3f}, against "
            f"{sbc['brier_prior']:.3f} for stating the prior probabilities every time (the "
            "Brier score over the four hypotheses runs from 0, all probability on the true one, "
            "to 2, all on a wrong one; lower is better)."
        )
    conflict = v.get("conflict_calibration")
    if conflict:
        verdict = "uniform" if conflict["passed"] else "NOT uniform"
        text += (
            " The conflict check on replicated data was calibrated the same way: for data "
            f"simulated from the model ({conflict['simulations']} simulations, each of four "
            "studies left out in turn), where the left-out study's data fell among its "
            f"replicates was {verdict} (smallest p-value {conflict['min_ks_p']:.2f}), and its "
            "two-sided p fell below 0.05 in at most "
            f"{conflict['rejection_rate_05']:.1%} of the simulations for any one study."
        )
    return (
        head
        + text
        + "\n"
        + figure(
            ctx,
            "calibration",
            "Calibration of the stated hypothesis probabilities in simulation (from the "
            "validation record when this run was made)",
        )
    )


def robustness_section(ctx: ReportContext) -> str:
    return ctx.run.robustness


def conflict_section(ctx: ReportContext) -> str:
    """Each left-out study against the others' prediction (:mod:`analyses.report.conflict`)."""
    return conflict_text(ctx.run.conflict, ctx.run.sensitivity)


def caveats_section(ctx: ReportContext) -> str:
    lines = caveats(ctx.included, ctx.run.numbers, ctx.run.summary)
    return "## Caveats\n\n" + "\n".join(f"- {line}" for line in lines) + "\n"


def changes_section(ctx: ReportContext) -> str:
    return "## What changed since the previous run\n\n" + _what_changed(
        ctx.run.manifest, ctx.previous.path if ctx.previous else None
    )


def provenance_section(ctx: ReportContext) -> str:
    m = ctx.run.manifest
    versions = ", ".join(f"{k} {v}" for k, v in m["package_versions"].items())
    code = m.get("code") or {}
    commit = code.get("commit")
    where = (
        f"Toolkit {code.get('version', '?')} at commit `{commit[:12]}`"
        + (" with uncommitted changes" if code.get("dirty") else "")
        + "; "
        if commit
        else ""
    )
    return "## Provenance\n\n" + (
        f"{where}data hash `{m['data_hash'][:16]}`; seed {m['seed']}; {versions}. "
        f"Run time {m['runtime_seconds']} s. The full configuration, priors and per-file "
        "hashes are in `manifest.json`; the draws, with the prior, predictive and log-likelihood "
        "groups, in `posterior.nc`.\n"
    )


# The report, in order: one function per section, each reading only the run folder.
# What each file of a run holds, in one line (docs/outputs.md has every column).
RUN_FILES = {
    "hypotheses.csv": "prior and posterior probability of each hypothesis, with MCSE",
    "bayes_factors.csv": "every Bayes factor, its log10, MCSE, bound and band",
    "summary.csv": "posterior summary of every parameter",
    "thresholds.csv": "hypothesis probabilities as each threshold moves",
    "assay_sensitivity.csv": "ketamine's effect in each study: could it show an attenuation?",
    "beta_estimates.csv": "closed-form per-study blockade estimates",
    "cross_check.csv": "the exact meta-regression on those estimates",
    "evidence.csv": "every study file, included or not",
    "numbers.csv": "every number in the study files (excluded and registered studies too, "
    "every reading of a disputed number), with its source and status",
    "sensitivity.csv": "every sensitivity scenario",
    "cumulative.csv": "the analysis as each year's studies arrived",
    "psense.csv": "power-scaling sensitivity",
    "psense_studies.csv": "power-scaling sensitivity to each study's likelihood alone",
    "conflict.csv": "each left-out study against the other studies' prediction for it",
    "posterior.nc": "every draw (one DataTree; open with xarray.open_datatree); each observed"
    " variable's `datum` attribute says what its number is",
    "robustness.md": "the robustness and cumulative sections as Markdown (citation keys "
    "unresolved)",
    "manifest.json": "provenance: inputs and their hashes, versions, seed, diagnostics",
    "run.log": "every line the run printed",
}


def files_section(ctx: ReportContext) -> str:
    """Links to every table and file of the run, one line on each."""
    lines = [
        "## Files of this run\n",
        "Every column of every table is explained in the toolkit's codebook, `docs/outputs.md`.\n",
    ]
    for name, what in RUN_FILES.items():
        if (ctx.run.path / name).exists():
            lines.append(f"- [`{name}`]({name}): {what}")
    return "\n".join(lines) + "\n"


# Terms a clinician-researcher may not know, in the order the report first uses them.
GLOSSARY = (
    (
        "Bayes factor (BF)",
        "how much the data multiply the odds of one hypothesis against "
        "another; above 1 favours the first. It does not depend on the prior odds of the two, but "
        "does depend on the prior inside each region.",
    ),
    (
        "Jeffreys band",
        "words for a Bayes factor's size [@kassraftery1995]: |log10 BF| below "
        "0.5 'not worth more than a bare mention', 0.5-1 'substantial', 1-2 'strong', above 2 "
        "'decisive'.",
    ),
    (
        "P and Q",
        "the thresholds on the blockade fractions that draw the hypotheses' regions "
        "(the Headline says their values); the Robustness section moves them.",
    ),
    (
        "MCSE (the ± after a number)",
        "Monte Carlo standard error: how much a number would move if the sampler were run "
        "again with another seed.",
    ),
    (
        "95% interval",
        "the equal-tailed credible interval: 2.5% of the posterior below it, 2.5% above.",
    ),
    (
        "certified",
        "a fit that passed the convergence gate (R-hat, ESS, no divergent transitions, every "
        "draw finite); a fit that fails it after its retries is marked NOT CERTIFIED.",
    ),
    (
        "assay sensitivity",
        "whether ketamine had an effect in a study at all: a study can only show naltrexone "
        "removing an effect that was there.",
    ),
    (
        "PPP",
        "posterior predictive p-value: the share of replicated data at least as extreme as the "
        "observed, on the nearer side; near 0 flags data the model did not expect.",
    ),
    (
        "R-hat, ESS",
        "convergence diagnostics: R-hat near 1 means the chains agree; the effective "
        "sample size (ESS) is how many independent draws the correlated draws are worth.",
    ),
    (
        "PSIS, k̂",
        "Pareto-smoothed importance sampling: re-using the main analysis's draws, "
        "reweighted, for a scenario that changes only a prior; k̂ below 0.7 says the weights "
        "can be trusted.",
    ),
    (
        "twin",
        "a scenario that is the same fit as another (for example, leaving out the only "
        "single-arm study and excluding single-arm evidence): shown, but counted once.",
    ),
    (
        "power-scaling",
        "raising the prior, or the likelihood, to a power near 1 and measuring "
        "how far a posterior moves: which of the two a result leans on.",
    ),
    (
        "mid-p",
        "a p-value for a discrete statistic that counts ties with the observed value as "
        "half: it is not conservative, as the ordinary p-value of a count is.",
    ),
    (
        "mixed-predictive check",
        "the conflict check: a study's data are predicted from a fit "
        "without it, its own parameters drawn from their population distribution; a small p "
        "says the study disagrees with the others and the model.",
    ),
)


def glossary_section(ctx: ReportContext) -> str:
    """The terms a clinician-researcher may not know, each in a sentence; then the symbols
    of the figures and tables, with the names the run's files give them."""
    terms = "## Terms used\n\n" + "\n".join(f"- **{t}**: {d}" for t, d in GLOSSARY) + "\n"
    if ctx.run.posterior is None:
        return terms
    rows = symbol_rows(list(ctx.run.posterior.data_vars))
    return (
        terms + "\n### Symbols\n\nThe figures and tables write each quantity as docs/science.md "
        "does; `posterior.nc` and `summary.csv` use the name on the right. A subscript "
        "s marks one value per study; η_s, a study's ketamine-arm response probit, is three "
        "variables because its prior depends on when and how the outcome was rated.\n\n"
        + markdown_table(pd.DataFrame(rows))
        + "\n"
    )


SECTIONS = (
    title_section,
    question_section,
    headline_section,
    hypotheses_section,
    priors_section,
    evidence_section,
    assay_section,
    risk_of_bias_section,
    equations_section,
    model_section,
    cross_check_section,
    predictive_section,
    diagnostics_section,
    validation_section,
    robustness_section,
    conflict_section,
    caveats_section,
    changes_section,
    glossary_section,
    files_section,
    provenance_section,
)


def _changed_inputs(prev: dict, manifest: dict) -> list[str]:
    """Which studies, literature inputs, configuration and code differ from the previous run."""
    old = {s["id"]: s for s in prev["studies"]}
    new = {s["id"]: s for s in manifest["studies"]}
    lines = []
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    edited = sorted(k for k in set(new) & set(old) if new[k]["sha256"] != old[k]["sha256"])
    status = sorted(k for k in set(new) & set(old) if new[k]["included"] != old[k]["included"])
    lines.append(f"- Studies added: {', '.join(added) or 'none'}")
    lines.append(f"- Studies removed: {', '.join(removed) or 'none'}")
    lines.append(
        "- Studies edited (file hash changed): "
        + (
            ", ".join(f"{k} ({old[k]['sha256'][:8]} → {new[k]['sha256'][:8]})" for k in edited)
            or "none"
        )
    )
    lines.append(f"- Studies whose inclusion changed: {', '.join(status) or 'none'}")
    if prev.get("literature_sha256") != manifest.get("literature_sha256"):
        lines.append("- Literature inputs edited")
    if prev.get("config") != manifest.get("config"):
        lines.append("- Configuration differs")
    old_code, new_code = prev.get("code") or {}, manifest.get("code") or {}
    if old_code.get("commit") != new_code.get("commit") or new_code.get("dirty"):
        lines.append(
            f"- Model or report code: commit {str(old_code.get('commit'))[:12]} → "
            f"{str(new_code.get('commit'))[:12]}"
            + (" (with uncommitted changes)" if new_code.get("dirty") else "")
        )
    return lines


def _what_changed(manifest: dict, previous: Path | None) -> str:
    skipped = manifest.get("skipped_earlier_runs") or []
    note = (
        f"Skipped as earlier runs, their manifest.json unreadable: {', '.join(skipped)}.\n\n"
        if skipped
        else ""
    )
    if previous is None:
        return note + "This is the first run in this results folder.\n"
    prev = json.loads((previous / "manifest.json").read_text())
    try:
        return note + _comparison(manifest, prev)
    except (KeyError, TypeError, ValueError) as err:
        # An earlier run written by another version, or edited by hand: say so, do not fail.
        return note + f"Previous run `{prev['run_id']}` could not be compared ({err!r}).\n"


def _comparison(manifest: dict, prev: dict) -> str:
    lines = [f"Previous run: `{prev['run_id']}` ({prev['created']}).\n"]
    lines += _changed_inputs(prev, manifest)
    lines.append("")
    ph, nh = prev["headline"], manifest["headline"]
    rows = []
    for h in HYPOTHESES:
        rows.append(
            {
                "quantity": f"P({h})",
                "previous": f"{ph['posterior_prob'][h]:.3f}",
                "now": f"{nh['posterior_prob'][h]:.3f}",
            }
        )
    rows.append(
        {
            "quantity": "BF permissive vs primary",
            "previous": format_bf(ph["bf_permissive_vs_primary"]),
            "now": format_bf(nh["bf_permissive_vs_primary"]),
        }
    )
    for name in HEADLINE_VARS:
        rows.append(
            {
                "quantity": f"{text_symbol(name)} median (interval)",
                "previous": _headline_interval(ph, name),
                "now": _headline_interval(nh, name),
            }
        )
    rows.append(
        {"quantity": "certified", "previous": str(ph["certified"]), "now": str(nh["certified"])}
    )
    lines.append(markdown_table(pd.DataFrame(rows)))
    return "\n".join(lines) + "\n"


def _headline_interval(headline: dict, name: str) -> str:
    """One headline quantity as printed; runs written before the generic keys say so."""
    entry = headline.get(name, {})
    if not {"median", "lower", "upper"} <= entry.keys():
        return "not recorded in this form"
    return Interval(headline["interval"]).describe(
        "median", entry["median"], entry["lower"], entry["upper"]
    )


def _prior_beside(row: pd.Series, hypothesis: str) -> str:
    """', against a prior of 0.83; the BF permissive vs primary, 1.41, ...' for a flipped leader:
    a prior set can make a hypothesis lead that the data moved away from."""
    prior = number(row, f"prior_{hypothesis}")
    if not np.isfinite(prior):
        return ""
    post = float(row[f"p_{hypothesis}"])
    moved = "lowered" if post < prior else "raised"
    return (
        f", against a prior of {prior:.2f}: the data {moved} it; BF permissive vs primary "
        f"{format_bf(row['bf_permissive_vs_primary'])}"
    )
