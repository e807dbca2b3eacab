"""report.md and a self-contained report.html, built only from a run folder's own files.

Every number printed here is read from the run's outputs (manifest.json and the CSV files),
never typed in, so the report cannot disagree with the results beside it.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pandas as pd
from markdown_it import MarkdownIt

from analyses.inference.hypotheses import HEADLINE, HYPOTHESES

FIGURES = [
    ("forest.png", "Blockade fraction by study, and pooled by regimen"),
    ("joint.png", "The two blockade fractions together, over the hypothesis regions"),
    ("prior_posterior.png", "Prior against posterior"),
    ("thresholds.png", "Hypothesis probabilities as the thresholds move"),
    ("ppc.png", "Posterior predictive checks"),
    ("prior_predictive.png", "Prior predictive checks"),
]
CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; max-width: 980px;
       margin: 2em auto; padding: 0 1em; line-height: 1.5; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
img { max-width: 100%; border: 1px solid #eee; }
.banner { background: #fdecea; border: 2px solid #c0392b; padding: 0.8em; font-weight: bold; }
code { background: #f4f4f4; padding: 1px 4px; }
"""


EVIDENCE_WORDS = {
    "paired_binary": "responders under each condition of a crossover (bivariate probit)",
    "contrast_statistic": "a test statistic for the naltrexone contrast; its reported attenuation "
    "of the whole improvement becomes a share of the specific effect through the specific share κ",
    "arm_counts": "counts per arm, some known only as bounds",
    "single_arm_binary": "responders in a single arm, against an external prior for ketamine alone",
    "arm_means": "arm means and SDs",
    "ipd": "individual participant data",
}


def caveats(included: pd.DataFrame, numbers: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """Caveats generated from the run's own evidence tables, so they follow the data."""
    out = []
    groups = {}
    for regimen, part in included.groupby("regimen"):
        covs = {
            c[len("covariate_") :]: set(part[c]) for c in part.columns if c.startswith("covariate_")
        }
        hours = sorted({f"{h:g} h" for h in part["timepoint_hours"].dropna()}) or [
            "an unreported time"
        ]
        infusions = sorted({f"{i:.0f}" for i in part["infusions"].dropna()})
        groups[regimen] = (covs, hours, infusions)
    if len(groups) == 2:
        (ra, (ca, ha, ia)), (rb, (cb, hb, ib)) = sorted(groups.items())
        separated = [c for c in ca if c in cb and not ca[c] & cb[c]]
        text = (
            f"**Timing is not the only difference between the regimens.** {ra.capitalize()} "
            f"studies rate their outcome at {', '.join(ha)} after {' or '.join(ia)} infusion(s); "
            f"{rb} studies at {', '.join(hb)} after {' or '.join(ib)}."
        )
        if separated:
            text += (
                f" The covariate(s) {', '.join(separated)} take different values in the two "
                "groups with no overlap, so the data cannot separate them from timing: adding one "
                "to `[model] covariates` leaves the regimen difference resting on its prior."
            )
        out.append(text)
    for _, r in included[included["stopped_early"] == "yes"].iterrows():
        out.append(
            f"**Early stopping.** {r['label']} stopped at an interim analysis with {r['analysed']} "
            "analysed; early-stopped trials overstate effects (Bassler 2010), and the size of the "
            "bias term is borrowed from trials of other questions."
        )
    used = numbers[numbers["study"].isin(set(included["study"]))]
    secondary = used[used["status"] == "secondary"].groupby("study").size()
    if len(secondary):
        out.append(
            "**Secondary sources.** Numbers taken from commentary, registries or news rather than "
            "the papers (per study: "
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
    kappa = [i for i in summary.index if i.startswith("specific_share")]
    if kappa:
        out.append(
            f"**The specific share κ** (posterior mean {summary.loc[kappa[0], 'mean']:.2f}) "
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


def bf_words(bf) -> str:
    """Kass & Raftery (1995): how much a Bayes factor moves belief, in words."""
    if not isinstance(bf, float):
        return "too few posterior draws to estimate it; only a bound is known"
    strength = max(bf, 1 / bf)
    side = "for" if bf >= 1 else "against"
    if strength < 3.2:
        return "not worth more than a bare mention (Kass & Raftery scale)"
    if strength < 10:
        return f"substantial evidence {side} (Kass & Raftery scale)"
    if strength < 100:
        return f"strong evidence {side} (Kass & Raftery scale)"
    return f"decisive evidence {side} (Kass & Raftery scale)"


def _bf(value) -> float | str:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def format_bf(value) -> str:
    v = _bf(value)
    return f"{v:.3g}" if isinstance(v, float) else v


def markdown_table(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(str(row[c]).replace("|", "/") for c in cols) + " |")
    return "\n".join(lines)


def _interval(summary: pd.DataFrame, name: str) -> str:
    r = summary.loc[name]
    return f"{r['mean']:+.2f} (95% interval {r['eti95_lb']:+.2f} to {r['eti95_ub']:+.2f})"


def write_report(run_dir: Path, previous: Path | None = None) -> tuple[Path, Path]:
    """Write report.md and report.html into ``run_dir`` from its own files."""
    run_dir = Path(run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    hyp = pd.read_csv(run_dir / "hypotheses.csv").set_index("hypothesis")
    summary = pd.read_csv(run_dir / "summary.csv").set_index("parameter")
    evidence = pd.read_csv(run_dir / "evidence.csv")
    numbers = pd.read_csv(run_dir / "numbers.csv")
    estimates = pd.read_csv(run_dir / "beta_estimates.csv")
    cross_path = run_dir / "cross_check.csv"
    cross = pd.read_csv(cross_path) if cross_path.stat().st_size > 1 else pd.DataFrame()
    head = manifest["headline"]
    certified = manifest["certified"]
    md: list[str] = []
    add = md.append

    add(
        f"# Does naltrexone block ketamine's antidepressant effect?\n\nRun `{manifest['run_id']}`, "
        f"{manifest['created']}, configuration `{manifest['config_file']}`.\n"
    )
    if not certified:
        fails = "; ".join(manifest["diagnostics"]["final"]["failures"])
        add(
            f'<div class="banner">NOT CERTIFIED: the convergence gate failed ({fails}). '
            "The numbers below are provisional.</div>\n"
        )

    add("## The question\n")
    add(
        "A single ketamine infusion relieves depression within a day. If the opioid system is "
        "**primary**, blocking opioid receptors with naltrexone removes most of that effect "
        "whatever the timing; if it is **permissive**, blockade removes part of it, or only "
        "blockade at the moment of infusion matters; if it is **not involved**, blockade changes "
        "nothing. Each study is summarised by its **blockade fraction** β: the share of "
        "ketamine's specific effect (improvement beyond what the same patients would show "
        "without ketamine) that naltrexone removes. β = 1 is a total block, β = 0 no effect. "
        "Acute blockade (one oral dose shortly before the infusion) and sustained blockade (a "
        "depot injection days before) each have their own pooled β.\n"
    )

    pp, pq = head["posterior_prob"], head["prior_prob"]
    bf = _bf(hyp.loc[HEADLINE[0], f"bf_vs_{HEADLINE[1]}"])
    leader = max(HYPOTHESES, key=lambda h: pp[h])
    add("## Headline\n")
    add(
        f"- The most probable reading is **{leader}**: posterior probability "
        f"{pp[leader]:.2f} ± {hyp.loc[leader, 'posterior_prob_mcse']:.3f} (prior {pq[leader]:.2f})."
    )
    add(
        f"- Permissive vs primary: posterior probabilities {pp['permissive']:.2f} vs "
        f"{pp['primary']:.2f}; "
        f"Bayes factor **{format_bf(bf)}**, {bf_words(bf)}."
    )
    add(
        f"- β acute: {_interval(summary, 'beta_acute')}. "
        f"β sustained: {_interval(summary, 'beta_sustained')}."
    )
    add(
        f"- Timing effect Δ = β acute − β sustained: {_interval(summary, 'delta_timing')}; "
        f"P(Δ > 0) = {head['p_delta_positive']:.2f}."
    )
    add(
        f"- Ketamine's specific effect (SMD): {_interval(summary, 'ketamine_effect')}; "
        "between-study SD of β: "
        f"{_interval(summary, 'tau_beta')}.\n"
    )
    sd_a, sd_s = summary.loc["beta_acute", "sd"], summary.loc["beta_sustained", "sd"]
    tighter, looser = ("acute", "sustained") if sd_a <= sd_s else ("sustained", "acute")
    add(
        f"β {tighter} is estimated more precisely than β {looser} (posterior SD "
        f"{min(sd_a, sd_s):.2f} vs {max(sd_a, sd_s):.2f}); the Caveats say what the regimens "
        "differ in besides timing.\n"
    )

    add("### Hypotheses\n")
    rows = []
    for h in HYPOTHESES:
        r = hyp.loc[h]
        rows.append(
            {
                "hypothesis": h,
                "prior": f"{r['prior_prob']:.3f}",
                "posterior": f"{r['posterior_prob']:.3f} ± {r['posterior_prob_mcse']:.3f}",
                **{f"BF vs {o}": format_bf(r[f"bf_vs_{o}"]) for o in HYPOTHESES if o != h},
            }
        )
    add(markdown_table(pd.DataFrame(rows).fillna("")))
    add(
        "\nRegions: primary = both β ≥ {p}; permissive = β acute ≥ {q} and not primary; "
        "none = both β < {q}; "
        "other = the rest. Prior probabilities are exact; posterior ones carry their Monte Carlo "
        "standard error. A Bayes factor shown as a bound ('<x', '>x') rests on a region with too "
        "few posterior draws to estimate it.\n".format(
            p=manifest["config"].get("hypotheses", {}).get("primary", 0.5),
            q=manifest["config"].get("hypotheses", {}).get("permissive", 0.2),
        )
    )

    add("## The evidence\n")
    inc = evidence[evidence.status == "included"].copy()
    inc["analysed"] = inc["analysed"].map(lambda x: "?" if pd.isna(x) else f"{x:.0f}")
    inc["stopped_early"] = inc["stopped_early"].map({True: "yes", False: "no"})
    inc["timepoint"] = inc["timepoint"].fillna("")
    columns = [
        "label",
        "design",
        "regimen",
        "naltrexone",
        "analysed",
        "scale",
        "timepoint",
        "evidence",
        "stopped_early",
    ]
    names = {
        "analysed": "n analysed",
        "evidence": "evidence used",
        "stopped_early": "stopped early",
    }
    add(markdown_table(inc[columns].rename(columns=names)))
    notes = inc[inc["note"].fillna("").str.len() > 0]
    if len(notes):
        add("\n**Notes from the study files:**\n")
        for _, r in notes.iterrows():
            add(f"- {r['label']}: {r['note']}")
    add("\n**Considered and not used:**\n")
    for _, r in evidence[evidence.status != "included"].iterrows():
        add(f"- {r['label']} ({r['status']}): {r['reason']}")
    add("\n**Disputed numbers** (every reading is kept in data/; this run used the marked one):\n")
    disputed = numbers.dropna(subset=["dispute"])
    used = manifest.get("readings", {})
    for (study, field), part in disputed.groupby(["study", "field_base"]):
        readings = []
        for _, r in part.iterrows():
            value = (
                f"{r['value']:g}" if pd.notna(r["value"]) else f"{r['lower']:g} to {r['upper']:g}"
            )
            mark = " (used)" if used.get(study, {}).get(r["dispute"]) == r["reading"] else ""
            readings.append(f"{r['reading']} = {value}{mark} [{r['status']}]")
        add(f"- {study} `{field}`: " + "; ".join(readings))
    counts = numbers.groupby("status").size()
    add(
        f"\nOf the {len(numbers)} numbers in the study files, "
        + ", ".join(
            f"{counts.get(s, 0)} are {s.replace('_', ' ')}"
            for s in ("reported", "secondary", "derived", "not_reported")
        )
        + ". Each has its source and a note in `data/studies/`; `numbers.csv` in this folder "
        "lists them all.\n"
    )

    add("## The model in plain words\n")
    add(
        "Every study is put on one latent scale: a patient's standardized improvement. Ketamine "
        "adds its specific effect (partially pooled across studies around the Cochrane 2021 "
        "estimate); naltrexone removes the share β of it. Binary outcomes are the latent "
        "improvement crossing a threshold. The studies' β vary around the pooled β of their "
        "regimen. Each study enters through what it actually reports:\n"
    )
    bias_on = manifest["options"]["early_stopping_bias"]
    for _, r in inc.iterrows():
        forms = [
            EVIDENCE_WORDS.get(k.strip(), k) for k in str(r["evidence"]).split(",") if k.strip()
        ]
        stop = (
            " Its contrast is inflated by the early-stopping factor."
            if r["stopped_early"] == "yes" and bias_on
            else ""
        )
        add(f"- {r['label']}: {'; '.join(forms)}.{stop}")
    add("")
    derivations = manifest["priors"]["derivations"]
    add(f"Prior set: **{manifest['priors']['name']}**. Literature-based priors:\n")
    for slot, text in derivations.items():
        add(f"- `{slot}`: {text}")
    add("")

    add("## Figures\n")
    for name, caption in FIGURES:
        if (run_dir / "figures" / name).exists():
            add(f"### {caption}\n\n![{caption}](figures/{name})\n")

    add("## Cross-check: a model anyone can redo by hand\n")
    add(
        "Each study's evidence gives a closed-form β estimate (nuisances at the centre of their "
        "priors); a normal-normal meta-regression on those, integrated exactly, should broadly "
        "agree with the full model.\n"
    )
    est = estimates.assign(
        estimate=estimates.estimate.map("{:+.2f}".format), se=estimates.se.map("{:.2f}".format)
    )
    add(markdown_table(est[["study", "regimen", "estimate", "se", "method"]]))
    if not cross.empty:
        add("")
        c = cross.set_index("parameter")
        rows = []
        for name in ("beta_acute", "beta_sustained", "delta_timing"):
            rows.append(
                {
                    "parameter": name,
                    "full model": _interval(summary, name),
                    "cross-check (exact)": f"{c.loc[name, 'mean']:+.2f} (95% interval "
                    f"{c.loc[name, 'q2.5']:+.2f} to {c.loc[name, 'q97.5']:+.2f})",
                }
            )
        add(markdown_table(pd.DataFrame(rows)))
    add("")

    add("## Posterior predictive checks\n")
    add(
        "The PPC figure shows, for every number a study reported, what the fitted model predicts; "
        "a reported value far in a tail would mean the model cannot reproduce that study.\n"
    )

    d = manifest["diagnostics"]["final"]
    add("## Diagnostics\n")
    add(
        f"Convergence gate (R-hat ≤ 1.01, bulk and tail ESS ≥ 400, no divergences): "
        f"**{'passed' if certified else 'FAILED'}**. Largest R-hat {d['max_rhat']:.4f}; "
        f"smallest bulk ESS {d['min_ess_bulk']:.0f}; smallest tail ESS {d['min_ess_tail']:.0f}; "
        f"divergences {d['divergences']}; "
        f"{d['draws']} draws. Attempts: {len(manifest['diagnostics']['attempts'])}.\n"
    )

    robustness = run_dir / "robustness.md"
    if robustness.exists():
        add(robustness.read_text())

    add("## Caveats\n")
    for line in caveats(inc, numbers, summary):
        add(f"- {line}")
    add("")

    add("## What changed since the previous run\n")
    add(_what_changed(manifest, previous))

    add("## Provenance\n")
    versions = ", ".join(f"{k} {v}" for k, v in manifest["package_versions"].items())
    add(
        f"Data hash `{manifest['data_hash'][:16]}`; seed {manifest['seed']}; {versions}. "
        f"Run time {manifest['runtime_seconds']} s. The full configuration, priors and per-file "
        "hashes are in `manifest.json`; the draws, with the prior, predictive and log-likelihood "
        "groups, in `posterior.nc`.\n"
    )

    text = "\n".join(md)
    md_path = run_dir / "report.md"
    md_path.write_text(text)
    html_path = run_dir / "report.html"
    html_path.write_text(_html(text, run_dir, manifest["run_id"]))
    return md_path, html_path


def _what_changed(manifest: dict, previous: Path | None) -> str:
    if previous is None:
        return "This is the first run in this results folder.\n"
    prev = json.loads((previous / "manifest.json").read_text())
    old = {s["id"]: s for s in prev["studies"]}
    new = {s["id"]: s for s in manifest["studies"]}
    lines = [f"Previous run: `{prev['run_id']}` ({prev['created']}).\n"]
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
    for name in ("beta_acute", "beta_sustained", "delta_timing"):
        fmt = lambda x: f"{x['median']:+.2f} ({x['q2.5']:+.2f} to {x['q97.5']:+.2f})"  # noqa: E731
        rows.append(
            {"quantity": f"{name} median (95%)", "previous": fmt(ph[name]), "now": fmt(nh[name])}
        )
    rows.append(
        {"quantity": "certified", "previous": str(ph["certified"]), "now": str(nh["certified"])}
    )
    lines.append(markdown_table(pd.DataFrame(rows)))
    return "\n".join(lines) + "\n"


def _html(text: str, run_dir: Path, title: str) -> str:
    body = MarkdownIt("commonmark", {"html": True}).enable("table").render(text)

    def embed(match: re.Match) -> str:
        src = match.group(1)
        path = run_dir / src
        if not path.exists():
            return match.group(0)
        data = base64.b64encode(path.read_bytes()).decode()
        return f'src="data:image/png;base64,{data}"'

    body = re.sub(r'src="(figures/[^"]+\.png)"', embed, body)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{CSS}</style></head><body>\n{body}\n</body></html>\n"
    )
