"""Priors built from the literature inputs in data/literature, with the arithmetic shown.

A prior file writes ``slot = {dist = "literature"}`` to take the rule below for that slot.
Each rule returns the distribution spec and a sentence giving its derivation, which is stored
in every result beside the spec.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from scipy.stats import norm

from models.evidence.schema import LiteratureFile

Z95 = 3.92  # width of a normal 95% interval in standard deviations (2 x 1.96)

# The share of the improvement under ketamine that is specific to ketamine has one literature
# estimate (Murrough 2013), referenced to midazolam, while ketamine's effect delta is
# referenced to saline; against saline the share would be larger by an unknown amount. So the
# Beta centred there is wide: a concentration of 4 ("worth about four patients") admits
# shares from about 0.08 to 0.88. A judgement, not a literature number; the sensitivity suite
# fixes the share at both ends and at 1.
SPECIFIC_SHARE_CONCENTRATION = 4.0
# Ketamine-alone response differs a lot between trials (27% to 52% at 24 h in the inputs); a
# probit-scale SD of 0.5 puts 95% of the prior between about 12% and 75%. A judgement.
RESPONSE_PROBIT_SD = 0.5

# Bassler 2010 gives the pooled ratio of relative risks (truncated vs complete trials) with
# the CI of that mean; one trial's exaggeration varies around it far more, and the abstract
# notes larger exaggeration below 500 events (Williams 2018 had about 7). No between-trial
# spread is reachable, so the predictive SD for one trial adds a judged 0.25 on the log scale
# (a factor of about 1.6 either way at 95%) to the SD of the mean.
EARLY_STOP_BETWEEN_TRIAL_SD = 0.25

Rule = Callable[[LiteratureFile], tuple[dict, str]]


def _value(lit: LiteratureFile, name: str) -> float:
    return lit.inputs[name].value


def _normal_from_ci(lit: LiteratureFile, name: str, label: str) -> tuple[dict, str]:
    """A normal prior centred on a literature estimate, its SD from the estimate's 95% CI."""
    q = lit.inputs[name]
    lo, hi = q.ci95
    sigma = (hi - lo) / Z95
    return (
        {"dist": "normal", "mu": q.value, "sigma": round(sigma, 4)},
        f"{label} {q.value} (95% CI {lo} to {hi}); sigma = ({hi} - {lo}) / 3.92 = {sigma:.3f}",
    )


def ketamine_effect(lit: LiteratureFile) -> tuple[dict, str]:
    """Ketamine's specific 24-h effect (SMD vs saline placebo), normal from the Cochrane CI."""
    return _normal_from_ci(lit, "cochrane_smd_vs_placebo_24h", "Cochrane 2021 SMD")


def ketamine_effect_midazolam(lit: LiteratureFile) -> tuple[dict, str]:
    """Ketamine's specific 24-h effect against midazolam (an active placebo)."""
    return _normal_from_ci(lit, "cochrane_smd_vs_midazolam_24h", "Cochrane 2021 SMD vs midazolam")


def ketamine_response_probit(lit: LiteratureFile) -> tuple[dict, str]:
    """Probit of response to ketamine alone at 24 h: centred on three literature rates."""
    names = (
        "cochrane_response_ketamine_vs_placebo_24h",
        "cochrane_response_ketamine_vs_midazolam_24h",
        "han2016_response_ketamine_24h",
    )
    rates = [_value(lit, n) for n in names]
    probits = [float(norm.ppf(p)) for p in rates]
    mu = sum(probits) / len(probits)
    return (
        {"dist": "normal", "mu": round(mu, 4), "sigma": RESPONSE_PROBIT_SD},
        "mean probit of ketamine-arm response at 24 h ("
        + ", ".join(f"{p:.3f} -> {z:+.3f}" for p, z in zip(rates, probits, strict=True))
        + f") = {mu:+.3f}; sigma {RESPONSE_PROBIT_SD} is a judgement spanning the trials",
    )


def external_response_probit(lit: LiteratureFile) -> tuple[dict, str]:
    """A single arm's external ketamine-alone response: the 24-h trial prior, stated as such."""
    spec, how = ketamine_response_probit(lit)
    return spec, (
        how + ". A single arm (Yoon 2019) was rated about 4 h after an open-label infusion; no "
        "4-h or open-label ketamine-alone response rate is among the literature inputs, so the "
        "24-h blinded-trial prior stands in, and the sensitivity suite widens and re-centres it"
    )


def specific_share(lit: LiteratureFile) -> tuple[dict, str]:
    """Share of the improvement under ketamine that is ketamine-specific (Beta)."""
    m = _value(lit, "murrough2013_specific_share")
    c = SPECIFIC_SHARE_CONCENTRATION
    a, b = m * c, (1 - m) * c
    return (
        {"dist": "beta", "alpha": round(a, 4), "beta": round(b, 4)},
        f"Beta with mean {m} (Murrough 2013: 7.7 of 16.5 MADRS points beyond midazolam) and "
        f"concentration {c:g} (a judgement, wide because the share is referenced to midazolam "
        f"and ketamine's effect to saline): alpha = {a:.2f}, beta = {b:.2f}",
    )


def early_stop_log_exaggeration(lit: LiteratureFile) -> tuple[dict, str]:
    """Log factor by which an early-stopped trial exaggerates its effect (Bassler 2010)."""
    q = lit.inputs["bassler2010_ratio_of_relative_risks"]
    lo, hi = q.ci95
    mu = -math.log(q.value)
    se_mean = (math.log(hi) - math.log(lo)) / Z95
    sigma = math.hypot(se_mean, EARLY_STOP_BETWEEN_TRIAL_SD)
    return (
        {"dist": "normal", "mu": round(mu, 4), "sigma": round(sigma, 4)},
        f"-ln({q.value}) = {mu:.3f}; a predictive SD for one trial, sqrt(SE of the pooled mean^2 "
        f"+ between-trial SD^2) = sqrt({se_mean:.4f}^2 + {EARLY_STOP_BETWEEN_TRIAL_SD}^2) = "
        f"{sigma:.3f} (the between-trial SD is a judgement; none is reachable). Conversion: a "
        "ratio of relative risks r says a truncated trial's log relative risk is ln(1/r) larger; "
        "the model multiplies the naltrexone contrast on the latent (probit) scale by exp(lambda), "
        "taking log relative risks and probit differences as proportional, which holds to "
        "first order for response rates between about 20% and 80%: an assumption",
    )


# What each rule reads from the literature inputs, and what each input must be for the rule's
# arithmetic to give a proper prior: a number; a proportion strictly inside (0, 1) (a probit or
# Beta of 0 or 1 is infinite); a ratio > 0 (it is logged); and a 95% interval with lower <
# upper (a ratio's interval above 0) where the rule takes its SD from the interval.
NEEDS: dict[str, dict[str, tuple[str, bool]]] = {
    "ketamine_effect": {"cochrane_smd_vs_placebo_24h": ("number", True)},
    "ketamine_effect_midazolam": {"cochrane_smd_vs_midazolam_24h": ("number", True)},
    "ketamine_response_probit": {
        "cochrane_response_ketamine_vs_placebo_24h": ("proportion", False),
        "cochrane_response_ketamine_vs_midazolam_24h": ("proportion", False),
        "han2016_response_ketamine_24h": ("proportion", False),
    },
    "specific_share": {"murrough2013_specific_share": ("proportion", False)},
    "early_stop_log_exaggeration": {"bassler2010_ratio_of_relative_risks": ("ratio", True)},
}
NEEDS["external_response_probit"] = NEEDS["ketamine_response_probit"]


def rule_problems(slot: str, lit: LiteratureFile) -> list[tuple[str, str, str]]:
    """Why ``slot``'s rule cannot run on ``lit``: (input field, found, expected) per problem."""
    out = []
    for name, (kind, interval) in NEEDS[slot].items():
        where = f"inputs.{name}"
        q = lit.inputs.get(name)
        if q is None:
            out.append((where, "no such input", f"the input the {slot} rule reads"))
            continue
        if q.value is None:
            out.append((f"{where}.value", "no value", f"a {kind} (the {slot} rule uses it)"))
        elif kind == "proportion" and not 0 < q.value < 1:
            out.append((f"{where}.value", repr(q.value), "a proportion strictly between 0 and 1"))
        elif kind == "ratio" and not q.value > 0:
            out.append((f"{where}.value", repr(q.value), "a ratio > 0 (it is logged)"))
        if interval:
            out += _interval_problems(f"{where}.ci95", q.ci95, kind)
    return out


def _interval_problems(where: str, ci, kind: str) -> list[tuple[str, str, str]]:
    if ci is None:
        return [(where, "no 95% interval", "[lower, upper]: the rule takes its SD from it")]
    lo, hi = ci
    if not lo < hi:
        return [(where, repr(list(ci)), "lower < upper")]
    if kind == "ratio" and not lo > 0:
        return [(where, repr(list(ci)), "a ratio's interval above 0 (it is logged)")]
    return []


RULES: dict[str, Rule] = {
    "ketamine_effect": ketamine_effect,
    "ketamine_effect_midazolam": ketamine_effect_midazolam,
    "ketamine_response_probit": ketamine_response_probit,
    "external_response_probit": external_response_probit,
    "specific_share": specific_share,
    "early_stop_log_exaggeration": early_stop_log_exaggeration,
}
