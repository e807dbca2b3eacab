"""The run's figures. Each function takes results and returns a matplotlib ``Figure``.

Figures are built on ``matplotlib.figure.Figure`` directly, not through pyplot, so importing
this module selects no backend and a notebook keeps its own; :func:`save_figure` writes a PNG.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator
from scipy.stats import gaussian_kde, norm

from analyses.inference.hypotheses import HYPOTHESES, Thresholds
from analyses.inference.intervals import interval
from analyses.report.symbols import SYMBOLS, text_symbol
from models.evidence.load import Evidence
from models.forms.base import PERIODS as PAIR
from models.forms.base import SEP

# One colour-blind-safe palette for every figure (Okabe and Ito 2008).
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#999999",
}
COLOURS = {
    "acute": OKABE_ITO["vermillion"],
    "sustained": OKABE_ITO["blue"],
    "pooled": OKABE_ITO["black"],
    "observed": OKABE_ITO["vermillion"],
    "reported_range": OKABE_ITO["sky_blue"],
    "draws": OKABE_ITO["grey"],
}
REGION_COLOURS = {
    "primary": OKABE_ITO["blue"],
    "permissive": OKABE_ITO["orange"],
    "none": OKABE_ITO["green"],
    "other": OKABE_ITO["purple"],
}
DPI = 150


def save_figure(fig: Figure, path: Path) -> Path:
    """Write a figure as PNG; every figure of a run goes through here (one DPI, tight box)."""
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def _interval(values: np.ndarray) -> tuple[float, float, float, float, float]:
    """Outer bound, quartile, median, quartile, outer bound (the run's credible interval)."""
    lo_q, hi_q = interval().quantiles
    q = np.quantile(values, [lo_q, 0.25, 0.5, 0.75, hi_q])
    return tuple(float(x) for x in q)


@dataclass(frozen=True)
class StudyLabels:
    """What a figure says of each study: its name, regimen and design, by study id.

    Built from the evidence in a run, or from a run folder's ``evidence.csv`` (the explorer),
    so a figure can be redrawn from the files alone.
    """

    studies: dict[str, tuple[str, str, str]]  # id -> (label, regimen, design)

    @classmethod
    def from_evidence(cls, evidence: Evidence) -> StudyLabels:
        return cls({s.id: (s.label, s.naltrexone.regimen, s.design.type) for s in evidence.studies})

    @classmethod
    def from_table(cls, table: pd.DataFrame) -> StudyLabels:
        """From ``evidence.csv``: columns study, label, regimen, design."""
        return cls(
            {
                str(r.study): (str(r.label), str(r.regimen), str(r.design))
                for r in table.itertuples()
            }
        )

    @property
    def names(self) -> dict[str, str]:
        """Study id -> the name the report uses."""
        return {sid: label for sid, (label, _, _) in self.studies.items()}


def _forest_rows(post: xr.DataTree, studies: StudyLabels) -> list[tuple]:
    """(label, draws, regimen, kind), top to bottom; kind is a study id, "pooled" or "new"."""
    rows = []
    for sid in post["beta_study"].coords["study"].values:
        label, regimen, design = studies.studies[str(sid)]
        values = post["beta_study"].sel(study=sid).values.ravel()
        rows.append((f"{label} ({regimen}, {design})", values, regimen, str(sid)))
    for regimen in ("acute", "sustained"):
        values = post[f"beta_{regimen}"].values.ravel()
        rows.append((f"Pooled: {regimen} blockade", values, regimen, "pooled"))
    if "beta_new_study" in post:
        for regimen in ("acute", "sustained"):
            values = post["beta_new_study"].sel(regimen=regimen).values.ravel()
            rows.append((f"A new study, {regimen} (predictive)", values, regimen, "new"))
    return rows


MARKERS = {
    "pooled": {"marker": "D", "ms": 8},
    "new": {"marker": "s", "ms": 6},
}


def _forest_row(ax, y: int, values: np.ndarray, colour: str, kind: str, xlim) -> None:
    lo, q1, med, q3, hi = _interval(values)
    style = "--" if kind == "new" else "-"
    ax.plot([max(lo, xlim[0]), min(hi, xlim[1])], [y, y], color=colour, lw=1.5, ls=style)
    ax.plot([q1, q3], [y, y], color=colour, lw=5, solid_capstyle="butt")
    ax.plot(
        med,
        y,
        color="white",
        mec=colour,
        mew=2,
        zorder=3,
        **MARKERS.get(kind, {"marker": "o", "ms": 7}),
    )
    _clip_arrows(ax, y, lo, hi, xlim, colour)
    # The numbers beside the row, right of the axes.
    text = f"{med:+.2f} [{lo:+.2f}, {hi:+.2f}]"
    ax.text(1.02, y, text, transform=ax.get_yaxis_transform(), va="center", fontsize=8)


def _clip_arrows(ax, y: float, lo: float, hi: float, xlim, colour: str) -> None:
    """An arrowhead at the edge where an interval runs past the axis."""
    if lo < xlim[0]:
        ax.plot(xlim[0], y, marker="<", color=colour, ms=7, clip_on=False, zorder=4)
    if hi > xlim[1]:
        ax.plot(xlim[1], y, marker=">", color=colour, ms=7, clip_on=False, zorder=4)


def _reference_lines(ax, thresholds: Thresholds) -> None:
    """No and total blockade, and the hypotheses' thresholds Q and P, labelled on a top axis.

    The thresholds are labelled by their values only: a hypothesis is a region of the two
    pooled fractions together (none is both below Q, not a fraction of 0), never a point on
    one study's row.
    """
    marks = (
        (0, "-", "no blockade"),
        (thresholds.permissive, ":", f"Q = {thresholds.permissive:g}"),
        (thresholds.primary, "--", f"P = {thresholds.primary:g}"),
        (1, "-", "total blockade"),
    )
    for x, style, _ in marks:
        ax.axvline(x, color="#999999", ls=style, lw=0.8, zorder=0)
    # Label the reference lines on a top axis, clear of the rows and the title.
    top = ax.secondary_xaxis("top")
    top.set_xticks([m[0] for m in marks], labels=[m[2] for m in marks], fontsize=7, color="#666666")
    # "no blockade" ends at its line, clear of Q's label just right of it.
    top.get_xticklabels()[0].set_horizontalalignment("right")


def forest(
    idata: xr.DataTree,
    studies: Evidence | StudyLabels,
    estimates: pd.DataFrame,
    thresholds: Thresholds,
) -> Figure:
    """Each study's blockade fraction, the pooled acute and sustained values, a new study's
    predictive value, and the closed-form per-study estimates of the cross-check.

    The numbers (median and interval) stand beside each row; an interval that runs past the
    axis ends in an arrowhead. ``studies`` is the run's evidence or its :class:`StudyLabels`.
    """
    if not isinstance(studies, StudyLabels):
        studies = StudyLabels.from_evidence(studies)
    rows = _forest_rows(idata["posterior"], studies)
    ci = interval()
    z = float(norm.ppf(ci.quantiles[1]))
    fig = Figure(figsize=(10, 0.6 * len(rows) + 1.6))
    ax = fig.subplots()
    fitted = [r[1] for r in rows if r[3] != "new"]
    xlim = (
        min(-1.0, min(np.quantile(v, 0.01) for v in fitted)),
        max(1.6, max(np.quantile(v, 0.99) for v in fitted)),
    )
    est = estimates.set_index("study") if len(estimates) else pd.DataFrame()
    for i, (_, values, regimen, kind) in enumerate(rows):
        y = len(rows) - 1 - i
        _forest_row(ax, y, values, COLOURS[regimen], kind, xlim)
        if kind in est.index:
            e, se = est.loc[kind, "estimate"], est.loc[kind, "se"]
            style = {"fmt": "s", "ms": 4, "color": "#888888", "mfc": "white", "lw": 0.8}
            ax.errorbar(e, y - 0.28, xerr=z * se, capsize=2, **style)
            _clip_arrows(ax, y - 0.28, e - z * se, e + z * se, xlim, "#888888")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r[0] for r in reversed(rows)])
    _reference_lines(ax, thresholds)
    summaries = sum(1 for r in rows if r[3] in ("pooled", "new"))
    ax.axhline(summaries - 0.5, color="#cccccc", lw=0.8)
    ax.text(
        1.02,
        len(rows) - 0.4,
        f"median [{ci.percent}]",
        transform=ax.get_yaxis_transform(),
        fontsize=8,
        fontweight="bold",
    )
    ax.set_xlabel("blockade fraction β (share of ketamine's specific effect removed by naltrexone)")
    ax.set_title(
        "Blockade fraction by study and pooled by regimen\n"
        f"posterior median, 50% and {ci.percent} intervals; dashed: a new study's predictive "
        f"β;\ngrey squares: closed-form estimate ± {z:.2f} SE; Q, P: the hypotheses' thresholds "
        "(they apply to the two pooled fractions together)",
        fontsize=10,
        pad=14,
    )
    ax.set_xlim(*xlim)
    return fig


def joint(idata: xr.DataTree, hypotheses: pd.DataFrame, thresholds: Thresholds) -> Figure:
    """The joint posterior of (beta_acute, beta_sustained) over the hypothesis regions."""
    post = idata["posterior"]
    a = post["beta_acute"].values.ravel()
    s = post["beta_sustained"].values.ravel()
    lim = (
        min(-1.0, np.quantile(a, 0.005), np.quantile(s, 0.005)),
        max(2.0, np.quantile(a, 0.995), np.quantile(s, 0.995)),
    )
    fig = Figure(figsize=(7.6, 7.2))
    grid = fig.add_gridspec(
        2, 2, width_ratios=(4, 1), height_ratios=(1, 4), hspace=0.05, wspace=0.05
    )
    ax = fig.add_subplot(grid[1, 0])
    p, q = thresholds.primary, thresholds.permissive
    lo, hi = lim
    _marginals(fig, grid, ax, a, s, (p, q))
    # The regions' borders: x = Q everywhere, y = Q left of it, and the primary corner at P.
    border = {"color": "#555555", "lw": 1.0, "zorder": 2}
    ax.plot([q, q], [lo, hi], **border)
    ax.plot([lo, q], [q, q], **border)
    ax.plot([p, p], [p, hi], **border)
    ax.plot([p, hi], [p, p], **border)
    probs = hypotheses.set_index("hypothesis")["posterior_prob"]
    regions = {
        "primary": [(p, p, hi - p, hi - p)],
        "permissive": [(q, lo, hi - q, p - lo), (q, p, p - q, hi - p)],
        "none": [(lo, lo, q - lo, q - lo)],
        "other": [(lo, q, q - lo, hi - q)],
    }
    for name, rects in regions.items():
        for x, y, w, h in rects:
            ax.add_patch(Rectangle((x, y), w, h, color=REGION_COLOURS[name], alpha=0.12, lw=0))
    anchors = {"primary": (hi, hi), "permissive": (hi, lo), "none": (lo, lo), "other": (lo, hi)}
    for name, (x, y) in anchors.items():
        ax.text(
            x - 0.03 if x == hi else x + 0.03,
            y - 0.03 if y == hi else y + 0.03,
            f"{name}\nP = {probs[name]:.3f}",
            ha="right" if x == hi else "left",
            va="top" if y == hi else "bottom",
            fontsize=10,
            color=REGION_COLOURS[name],
            weight="bold",
        )
    ax.hexbin(a, s, gridsize=45, extent=(lo, hi, lo, hi), cmap="Greys", mincnt=1, alpha=0.9)
    _draw_share_contours(ax, a, s, [1.0 - interval().prob, 0.5])
    ax.plot([lo, hi], [lo, hi], color="#999999", lw=0.6, ls=":")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("β acute (oral naltrexone shortly before ketamine)")
    ax.set_ylabel("β sustained (depot naltrexone days before)")
    fig.suptitle(
        "Joint posterior of the two blockade fractions, over the hypothesis regions\n"
        f"contours enclose 50% and {interval().percent} of draws; dotted: equal blockade; "
        "margins: each fraction alone",
        fontsize=10,
    )
    return fig


def _draw_share_contours(ax, a: np.ndarray, s: np.ndarray, outside: list[float]) -> None:
    """Contours of the draws' density enclosing ``1 - outside`` of the draws each.

    The density is ArviZ's FFT estimate on a 128 x 128 grid (Scott's bandwidth, as scipy's
    exact estimate had): 0.02 s, where scipy's, at 14,400 grid points and at every draw, took
    0.67 s of the figure's 0.83 s. A level is the density's quantile over the draws' grid
    cells, so a contour encloses that share of the draws, not of the estimate's mass.
    """
    from arviz_stats import kde2d

    # Degenerate draws (a fraction fixed by its prior, or the two collinear) have no density
    # to draw: the hexbin alone shows them.
    if not (np.isfinite(a).all() and np.isfinite(s).all() and np.ptp(a) > 0 and np.ptp(s) > 0):
        return
    with np.errstate(all="ignore"):
        try:
            density, xs, ys = kde2d(a, s)
        except np.linalg.LinAlgError:
            return
        if not np.isfinite(density).all():
            return
        # ArviZ bins a draw into the cell from xs[i] to xs[i + 1] and reports the cell at
        # xs[i]: drawn at the cells' centres, the contours are not shifted by half a cell.
        dx, dy = xs[1] - xs[0], ys[1] - ys[0]
        i = np.clip(((a - xs[0]) / dx).astype(int), 0, xs.size - 1)
        j = np.clip(((s - ys[0]) / dy).astype(int), 0, ys.size - 1)
    levels = np.quantile(density[i, j], outside)
    ax.contour(
        xs + dx / 2, ys + dy / 2, density.T, levels=sorted(levels), colors="black", linewidths=0.8
    )


def _marginals(fig: Figure, grid, ax, a: np.ndarray, s: np.ndarray, marks) -> None:
    """Each fraction's posterior along its axis, with the thresholds marked."""
    top = fig.add_subplot(grid[0, 0], sharex=ax)
    side = fig.add_subplot(grid[1, 1], sharey=ax)
    top.hist(a, bins=60, density=True, color=COLOURS["acute"], alpha=0.6)
    side.hist(
        s, bins=60, density=True, color=COLOURS["sustained"], alpha=0.6, orientation="horizontal"
    )
    for x in marks:
        top.axvline(x, color="#555555", lw=0.8)
        side.axhline(x, color="#555555", lw=0.8)
    for panel in (top, side):
        panel.axis("off")


def prior_posterior(idata: xr.DataTree) -> Figure:
    """Prior against posterior for beta_acute, beta_sustained and their difference."""
    names = [
        (n, f"{text_symbol(n)}: {SYMBOLS[n].words}")
        for n in ("beta_acute", "beta_sustained", "delta_timing")
    ]
    fig = Figure(figsize=(12, 3.4))
    axes = fig.subplots(1, 3)
    for ax, (name, label) in zip(axes, names, strict=True):
        post = idata["posterior"][name].values.ravel()
        prior = idata["prior"][name].values.ravel() if "prior" in idata else None
        exact = _exact_prior(idata, name)
        x = np.linspace(*_shown_range(post, exact, prior), 300)
        if exact is not None:
            ax.plot(x, exact.pdf(x), color="#999999", ls="--", label="prior")
        elif prior is not None:
            ax.plot(x, gaussian_kde(prior)(x), color="#999999", ls="--", label="prior (draws)")
        ax.fill_between(
            x, gaussian_kde(post)(x), color=COLOURS["pooled"], alpha=0.25, label="posterior"
        )
        ax.plot(x, gaussian_kde(post)(x), color=COLOURS["pooled"])
        ax.axvline(0, color="#bbbbbb", lw=0.8)
        ax.set_title(label, fontsize=10)
        ax.set_yticks([])
    axes[0].legend(frameon=False, fontsize=8, loc="upper left")
    fig.suptitle("What the data changed: prior (dashed) and posterior (filled)", fontsize=11)
    fig.tight_layout()
    return fig


# The central share of the posterior and of the prior that the x axis shows.
SHOWN_MASS = 0.99
# ...but a heavy-tailed prior (a Cauchy's 99% is +-64 scales) may widen the axis by at most
# this many posterior widths on each side, or the posterior would be a spike.
MAX_PRIOR_WIDENING = 2.0


def _shown_range(post: np.ndarray, exact, prior: np.ndarray | None) -> tuple[float, float]:
    """The x range: the posterior's and the prior's central SHOWN_MASS, the prior capped."""
    tails = [(1 - SHOWN_MASS) / 2, (1 + SHOWN_MASS) / 2]
    lo, hi = np.quantile(post, tails)
    if exact is not None:
        p_lo, p_hi = exact.ppf(tails)
    elif prior is not None:
        p_lo, p_hi = np.quantile(prior, tails)
    else:
        return float(lo), float(hi)
    room = MAX_PRIOR_WIDENING * (hi - lo)
    return float(max(min(lo, p_lo), lo - room)), float(min(max(hi, p_hi), hi + room))


def _exact_prior(idata: xr.DataTree, name: str):
    """The prior of beta_acute, beta_sustained or their difference (frozen scipy), if exact.

    Exact for any supported spec of the two fractions, and for the difference of two normals;
    None otherwise (the caller falls back to a KDE of the prior draws).
    """
    import json

    from models.distributions import scipy_dist

    raw = idata.attrs.get("priors")
    if not raw:
        return None
    slots = json.loads(raw)["slots"]
    a, s = slots["beta_acute"], slots["beta_sustained"]
    if name in ("beta_acute", "beta_sustained"):
        spec = slots[name]
        return None if spec["dist"] == "fixed" else scipy_dist(spec)
    if a["dist"] == s["dist"] == "normal":
        from scipy.stats import norm

        return norm(a["mu"] - s["mu"], np.hypot(a["sigma"], s["sigma"]))
    return None


# Each hypothesis's line: 'none' and 'other' both stay near 0, so they differ in line style
# and marker as well as colour, and one's markers are hollow, so both show where they meet.
CURVE_STYLES = {
    "primary": {"ls": "-", "marker": "o", "ms": 3},
    "permissive": {"ls": "-", "marker": "o", "ms": 3},
    "none": {"ls": "--", "marker": "s", "ms": 5, "lw": 1.5},
    "other": {"ls": ":", "marker": "^", "ms": 6, "mfc": "white", "lw": 2, "zorder": 3},
}


def thresholds_curve(grid: pd.DataFrame, base: Thresholds) -> Figure:
    """Posterior hypothesis probabilities as each threshold moves."""
    fig = Figure(figsize=(11, 3.8))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, varied, column, label, mark in (
        (
            axes[0],
            "primary",
            "primary_threshold",
            f"primary threshold (permissive held at {base.permissive:g})",
            base.primary,
        ),
        (
            axes[1],
            "permissive",
            "permissive_threshold",
            f"permissive threshold (primary held at {base.primary:g})",
            base.permissive,
        ),
    ):
        part = grid[grid.varied == varied].sort_values(column)
        for h in HYPOTHESES:
            ax.plot(part[column], part[h], color=REGION_COLOURS[h], label=h, **CURVE_STYLES[h])
        ax.axvline(mark, color="#999999", ls=":", lw=1)
        ax.set_xlabel(label)
        ax.set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("posterior probability")
    fig.suptitle(
        "How the answer depends on where the lines are drawn (dotted: the analysis's thresholds)",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    # Below the panels, where it covers no point.
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(names), frameon=False, fontsize=9)
    return fig


def _panels(idata: xr.DataTree, group: str, labels: dict[str, str]) -> list[tuple]:
    """(title, predictive draws, observed value, variable, x-axis label) per panel."""
    observed, pred = idata["observed_data"], idata[group]
    panels = []
    for name in observed.data_vars:
        if name not in pred:  # a bounded count's __lower / __upper, shown with the count
            continue
        obs = np.atleast_1d(observed[name].values)
        draws = pred[name].values.reshape(-1, *obs.shape)
        parts = name.split(SEP)
        study = labels.get(parts[0], parts[0])
        arm = f", {parts[2].replace('_', ' + ')} arm" if len(parts) > 2 else ""
        base = f"{study}: {parts[1].replace('_', ' ')}{arm}"
        # What the number is, as its form of evidence said (runs before 2026-12-02 have none).
        datum = observed[name].attrs.get("datum")
        # Individual data are shown as the participants' mean.
        mean_of = f"mean {datum or 'change (raw scale)'}"
        if obs.ndim == 2:  # paired individual data: a participant per row, a period per column
            for j, column in enumerate(PAIR):
                mean = draws[:, :, j].mean(axis=1)
                title = f"{base}\n{column.replace('_', ' + ')}"
                panels.append((title, mean, obs[:, j].mean(), name, mean_of))
        elif obs.size > 2:  # individual data: one value per participant
            panels.append((base, draws.mean(axis=1), obs.mean(), name, mean_of))
        elif obs.size == 2:  # a crossover's two periods: margins, or standardized means
            for j, column in enumerate(PAIR):
                title = f"{base}\n{column.replace('_', ' + ')}"
                panels.append((title, draws[:, j], obs[j], name, datum or "reported value"))
        else:
            discrete = np.allclose(draws, np.round(draws))
            what = datum or ("participants (count)" if discrete else "reported value")
            panels.append((base, draws[:, 0], obs[0], name, what))
    return panels


def predictive_checks(
    idata: xr.DataTree, group: str, title: str, labels: dict[str, str] | None = None
) -> Figure:
    """For every reported number: its predictive distribution and what was observed.

    Bounded counts (">80%") show the bound as a shaded interval. ``labels`` maps study ids to
    the names the report uses. Each panel gives the one-sided predictive p-value (PPP): the
    share of draws at least as extreme as the report; near 0 flags a number the model cannot
    reproduce.
    """
    panels = _panels(idata, group, labels or {})
    cols = 3
    rows = int(np.ceil(len(panels) / cols))
    fig = Figure(figsize=(4.2 * cols, 3.0 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    bounds = _bounds(idata)
    for ax, (label, values, obs, name, xlabel) in zip(axes.ravel(), panels, strict=False):
        ax.set_xlabel(xlabel, fontsize=8)
        discrete = np.allclose(values, np.round(values))
        if discrete:
            edges = np.arange(values.min() - 0.5, values.max() + 1.5)
            ax.hist(values, bins=edges, color=COLOURS["draws"], density=True)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # a count has no 2.5
        else:
            ax.hist(values, bins=60, color=COLOURS["draws"], density=True)
        if name in bounds:
            lo, hi = bounds[name]
            ax.axvspan(
                lo - 0.5,
                hi + 0.5,
                color=COLOURS["reported_range"],
                alpha=0.35,
                label=f"reported: {lo:g} to {hi:g}",
            )
            inside = float(np.mean((values >= lo) & (values <= hi)))
            ax.set_title(f"{label}\nP(inside reported range) = {inside:.2f}", fontsize=8)
        else:
            ax.axvline(obs, color=COLOURS["observed"], lw=2, label=f"reported: {obs:g}")
            tail = min(float(np.mean(values <= obs)), float(np.mean(values >= obs)))
            ax.set_title(f"{label}\nPPP (one side) = {tail:.2f}", fontsize=8)
        ax.legend(frameon=False, fontsize=7, loc="best")
        ax.set_yticks([])
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    fig.suptitle(title, fontsize=11)
    fig.text(
        0.5,
        -0.01,
        "Grey: draws of what the study would report. Line: what it reported (shaded: a "
        "reported range). PPP: the share of draws at least as extreme, on the nearer side; "
        "near 0 flags a misfit.",
        ha="center",
        fontsize=8,
    )
    fig.tight_layout()
    return fig


def _bounds(idata: xr.DataTree) -> dict[str, tuple[float, float]]:
    """Observed variables that are bounds (lower, upper): from ``observed_data`` (where a run
    stores ``<name>__lower`` and ``__upper``), else from the attrs of older runs."""
    import json

    observed = idata["observed_data"] if "observed_data" in idata else None
    if observed is not None and any(str(v).endswith(f"{SEP}upper") for v in observed.data_vars):
        return {
            str(v)[: -len(f"{SEP}upper")]: (
                float(observed[str(v)[: -len("upper")] + "lower"]),
                float(observed[v]),
            )
            for v in observed.data_vars
            if str(v).endswith(f"{SEP}upper")
        }
    raw = idata.attrs.get("bounded_counts")
    return {k: tuple(v) for k, v in json.loads(raw).items()} if raw else {}


def cross_check_figure(idata: xr.DataTree, cross: pd.DataFrame) -> Figure:
    """The full model against the cross-check (exact meta-regression on closed-form per-study
    estimates): median and interval of each headline quantity, one above the other."""
    ci = interval()
    names = [
        n for n in ("beta_acute", "beta_sustained", "delta_timing") if n in cross.parameter.values
    ]
    exact = cross.set_index("parameter")
    lb, ub = ci.columns if ci.columns[0] in exact else ("q2.5", "q97.5")
    fig = Figure(figsize=(8, 1.1 * len(names) + 1.4))
    ax = fig.subplots()
    for i, name in enumerate(names):
        y = 2 * (len(names) - 1 - i)
        values = idata["posterior"][name].values.ravel()
        lo, _, med, _, hi = _interval(values)
        ax.plot([lo, hi], [y + 0.4, y + 0.4], color=OKABE_ITO["black"], lw=2)
        ax.plot(med, y + 0.4, "o", color=OKABE_ITO["black"], label="full model" if i == 0 else None)
        e = exact.loc[name]
        centre = e["median"] if "median" in e else e["mean"]
        ax.plot([e[lb], e[ub]], [y - 0.4, y - 0.4], color=OKABE_ITO["sky_blue"], lw=2, ls="--")
        ax.plot(
            centre,
            y - 0.4,
            "s",
            color=OKABE_ITO["sky_blue"],
            label="cross-check (exact)" if i == 0 else None,
        )
    ax.set_yticks([2 * (len(names) - 1 - i) for i in range(len(names))])
    ax.set_yticklabels(
        [
            f"{text_symbol(n)} ({SYMBOLS[n].words})" if n == "delta_timing" else text_symbol(n)
            for n in names
        ]
    )
    for x in (0, 1):
        ax.axvline(x, color="#999999", lw=0.8, zorder=0)
    ax.set_xlabel(
        "blockade fraction β (for Δ, the acute minus the sustained fraction): "
        f"median and {ci.percent} interval"
    )
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False, fontsize=9)
    ax.set_title("The full model against a model anyone can redo by hand", fontsize=10, pad=24)
    return fig
