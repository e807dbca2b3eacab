"""What each model variable is called where people read it: one home for the symbols.

The figures label a variable with its symbol (as docs/science.md writes it) and a few words;
the report's tables and text use the same symbol in plain Unicode; ``posterior.nc`` keeps the
variable's own name, and the report's table of symbols (:func:`symbol_rows`) maps one to the
other. A variable with no entry here (an item's own nuisance, say) keeps its name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple


class Symbol(NamedTuple):
    """A variable's symbol as matplotlib mathtext and as plain text, and what it is."""

    tex: str
    text: str
    words: str


SYMBOLS: dict[str, Symbol] = {
    "beta_acute": Symbol(r"\beta_\mathrm{acute}", "β acute", "pooled blockade fraction, acute"),
    "beta_sustained": Symbol(
        r"\beta_\mathrm{sustained}", "β sustained", "pooled blockade fraction, sustained"
    ),
    "delta_timing": Symbol(r"\Delta", "Δ", "β acute − β sustained"),
    "beta_regimen": Symbol(r"\beta_r", "β_r", "a regimen's pooled blockade fraction"),
    "beta_study": Symbol(r"\beta_s", "β_s", "a study's blockade fraction"),
    "beta_new_study": Symbol(r"\beta_\mathrm{new}", "β new", "a new study's blockade fraction"),
    "z_beta": Symbol(r"z_s", "z_s", "standardised study deviation of β"),
    "tau_beta": Symbol(r"\tau_\beta", "τ_β", "between-study SD of β"),
    "covariate_coef": Symbol(r"b", "b", "a covariate's coefficient on β"),
    "ketamine_effect": Symbol(r"\delta", "δ", "ketamine's effect vs saline"),
    "ketamine_effect_midazolam": Symbol(
        r"\delta_\mathrm{midazolam}", "δ midazolam", "ketamine's effect vs midazolam"
    ),
    "ketamine_effect_study": Symbol(r"\delta_s", "δ_s", "a study's ketamine effect"),
    "z_ketamine": Symbol(r"w_s", "w_s", "standardised study deviation of δ"),
    "tau_ketamine": Symbol(r"\tau_\delta", "τ_δ", "between-study SD of δ"),
    "tau_ketamine_course": Symbol(
        r"\tau_{\delta,\mathrm{course}}", "τ_δ course", "between-study SD of δ, a course"
    ),
    "early_stop_log_exaggeration": Symbol(r"\lambda", "λ", "early-stopping log exaggeration"),
    "ketamine_response_probit": Symbol(r"\eta_s", "η_s", "response probit, ketamine at 24 h"),
    "course_response_probit": Symbol(r"\eta_s", "η_s", "response probit after a course"),
    "external_response_probit": Symbol(r"\eta_s", "η_s", "external control's response probit"),
    "nonspecific_improvement": Symbol(r"m_s", "m_s", "non-specific improvement"),
    "nonspecific_share": Symbol(r"\gamma", "γ", "share of m removed by naltrexone"),
    "specific_share": Symbol(r"\kappa_s", "κ_s", "ketamine's share of the improvement"),
    "within_subject_correlation": Symbol(r"\rho", "ρ", "within-subject correlation"),
    "hours_position": Symbol(r"u_s", "u_s", "place of a study's hours in its range (log)"),
}


def figure_label(name: str) -> str:
    """``name``'s symbol (mathtext) over its words, for a panel's title; else the name."""
    found = SYMBOLS.get(name)
    return name if found is None else f"${found.tex}$\n{found.words}"


def text_symbol(name: str) -> str:
    """``name``'s symbol in plain text, for a table or a sentence; the name if it has none."""
    found = SYMBOLS.get(name)
    return name if found is None else found.text


def symbol_and_name(name: str) -> str:
    """``β acute (`beta_acute`)``: a table's row for a variable, its symbol and the name the
    files use; just the name, as code, where it has no symbol."""
    found = SYMBOLS.get(name)
    return f"`{name}`" if found is None else f"{found.text} (`{name}`)"


def readable(text: str) -> str:
    """``text`` with every variable name that has a symbol written as the symbol, and ``>=``,
    ``<=`` as ≥, ≤: a Bayes factor's question as a reader reads it ("sustained: β sustained
    ≥ P vs < P"), where the tables keep the names."""
    import re

    names = sorted(SYMBOLS, key=len, reverse=True)  # beta_acute before any shorter name
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    text = pattern.sub(lambda m: SYMBOLS[m.group(1)].text, text)
    return text.replace(">=", "≥").replace("<=", "≤")


def coordinate_labels(dims: Mapping[str, object], names: Mapping[str, str]) -> dict:
    """Study ids shown as the studies' names on every study-indexed dimension of ``dims``.

    ``names`` maps study id to name (:attr:`~analyses.report.figures.StudyLabels.names`).
    """
    return {dim: dict(names) for dim in dims if str(dim).endswith("study")}


def symbol_rows(names: list[str]) -> list[dict[str, str]]:
    """One row per variable of ``names`` that has a symbol: symbol, what it is, file name."""
    return [
        {"symbol": SYMBOLS[n].text, "what it is": SYMBOLS[n].words, "in posterior.nc": f"`{n}`"}
        for n in names
        if n in SYMBOLS
    ]
