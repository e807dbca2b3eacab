"""The standard ArviZ views of a run, drawn by arviz-plots from ``posterior.nc`` as it is.

Each function takes the run's DataTree and returns a matplotlib ``Figure``:

- :func:`rank_plot`: rank ECDF plots of the headline parameters (convergence at a glance);
- :func:`prior_posterior_all`: prior against posterior for every free parameter;
- :func:`pair_plot`: beta_acute against what its headline leans on (kappa, delta, tau_beta);
- :func:`power_scaling`: the power-scaling table's posteriors as the prior and the likelihood
  are scaled.

arviz-plots draws through pyplot, so it is imported only when a view is drawn (importing this
module selects no backend), the palette is set for the drawing only, and each figure is
released from pyplot's registry once drawn, so none piles up in a long session.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.text import Text

from analyses.inference.intervals import interval
from analyses.report.figures import OKABE_ITO
from analyses.report.symbols import SYMBOLS, coordinate_labels, figure_label

HEADLINE = ("beta_acute", "beta_sustained", "delta_timing", "tau_beta")
# The quantities of the report's power-scaling table (analyses/suite/table.py, ``psense``):
# the figure shows every one of them.
POWER_SCALED = (*HEADLINE, "ketamine_effect")
# What the acute headline leans on: the specific share kappa (Jelen's attenuation informs
# beta * kappa), ketamine's effect delta (beta is a share of it), and the between-study SD.
LEANS_ON = ("specific_share", "ketamine_effect", "tau_beta")
# Okabe-Ito, starting with the colours the other figures give posterior and prior.
PALETTE = [
    OKABE_ITO[c] for c in ("blue", "orange", "green", "vermillion", "purple", "sky_blue", "black")
]


def _labeller(dt: xr.DataTree, study_names: Mapping[str, str] | None):
    """Symbols and words for the variables (:mod:`analyses.report.symbols`), and the
    studies' names for their ids where ``study_names`` gives them."""
    from arviz_base.labels import MapLabeller

    labels = {name: figure_label(name) for name in SYMBOLS}
    coords = coordinate_labels(dt["posterior"].dims, study_names or {})
    return MapLabeller(var_name_map=labels, coord_map=coords)


def _drawn(
    plot: Callable,
    dt: xr.DataTree,
    study_names: Mapping[str, str] | None = None,
    palette: list[str] | None = None,
    then: Callable | None = None,
    **kwargs,
) -> Figure:
    """Draw with arviz-plots in the run's palette; return the figure, released from pyplot.

    ``then``, if given, is called with the plot collection while the palette still holds
    (a legend drawn later would take matplotlib's colours).
    """
    import matplotlib as mpl
    import matplotlib.pyplot as plt
    from cycler import cycler

    with mpl.rc_context({"axes.prop_cycle": cycler(color=palette or PALETTE)}):
        labeller = _labeller(dt, study_names)
        collection = plot(dt, backend="matplotlib", labeller=labeller, **kwargs)
        if then is not None:
            then(collection)
    figure = collection.get_viz("figure")
    figure = figure.item() if hasattr(figure, "item") else figure
    plt.close(figure)  # the Figure stays drawable and savable; pyplot forgets it
    # Room for every panel's title and ticks, and for the figure's own title above them.
    columns, rows = _grid(figure)
    figure.set_size_inches(3.4 * columns, 2.6 * rows + 0.8)
    figure.set_layout_engine("constrained")
    return figure


def _grid(figure: Figure) -> tuple[int, int]:
    """Columns and rows of the figure's panels, from where they sit."""
    boxes = [ax.get_position() for ax in figure.axes if ax.get_visible()]
    columns = len({round(b.x0, 3) for b in boxes}) or 1
    rows = len({round(b.y0, 3) for b in boxes}) or 1
    return columns, rows


def _present(dt: xr.DataTree, names, group: str = "posterior") -> list[str]:
    return [n for n in names if n in dt[group].data_vars]


def free_parameters(dt: xr.DataTree) -> list[str]:
    """The model's free parameters: the variables with a log prior density in the file."""
    if "log_prior" in dt.children:
        names = list(dt["log_prior"].data_vars)
    else:  # an older run: the prior group's variables that were sampled
        names = [n for n in dt["prior"].data_vars if n in dt["posterior"].data_vars]
    order = list(dt["posterior"].data_vars)
    return sorted(names, key=order.index)


_P_LABEL = re.compile(r"^p=(\S+?)\(α=(\S+?)\)\s*$")


def rank_plot(dt: xr.DataTree, study_names: Mapping[str, str] | None = None) -> Figure:
    """Rank ECDF differences per chain, and the p-value of the test that the chains saw one
    distribution (arviz-plots' default, multiple-testing-corrected method: it marks suspicious
    points rather than drawing an envelope)."""
    from arviz_plots import plot_rank

    figure = _drawn(
        plot_rank,
        dt,
        study_names,
        var_names=_present(dt, HEADLINE),
        visuals={"remove_axis": False},  # keep the y scale: how far a chain strays
        then=lambda collection: collection.add_legend("chain", title="chain"),
    )
    left = min(round(ax.get_position().x0, 3) for ax in figure.axes)
    for ax in figure.axes:
        if round(ax.get_position().x0, 3) == left:
            ax.set_ylabel("rank ECDF − uniform CDF")
    for text in figure.findobj(Text):
        # arviz-plots writes "p=0.07(α=0.01)"; spaced as the rest of the report's numbers.
        text.set_text(_P_LABEL.sub(r"p = \1 (α = \2)", text.get_text()))
    figure.suptitle(
        "Rank plots: each chain's rank ECDF minus the uniform's; p tests that the chains"
        " agree (flagged below α = 0.01)",
        fontsize=11,
    )
    return figure


# The rank plot's own flag level (arviz-plots' default envelope_prob is 0.99).
RANK_TEST_ALPHA = 0.01


def rank_test(posterior: xr.Dataset) -> dict[str, float]:
    """The p-value of the multi-chain rank-uniformity test the rank plot shows, per headline
    parameter: small when one chain saw a different distribution than the others."""
    import arviz_stats  # noqa: F401  (registers the .azstats accessor)

    post = posterior[[n for n in HEADLINE if n in posterior.data_vars]]
    ranks = post.azstats.compute_ranks(dim=("chain", "draw"), relative=True)
    p_values, _, _ = ranks.azstats.mchain_uniformity_test(dim=("chain", "draw"))
    return {name: float(p_values[name]) for name in p_values.data_vars}


def prior_posterior_all(dt: xr.DataTree, study_names: Mapping[str, str] | None = None) -> Figure:
    """Prior and posterior density of every free parameter, one panel each."""
    from arviz_plots import plot_prior_posterior

    # Prior grey, posterior black, as in the report's headline prior-posterior figure.
    figure = _drawn(
        plot_prior_posterior,
        dt,
        study_names,
        var_names=free_parameters(dt),
        palette=[OKABE_ITO["grey"], OKABE_ITO["black"]],
        then=lambda collection: _draw_exact_priors(dt, collection),
    )
    for ax in figure.axes:  # from zero, so a flat prior looks flat and not like a wave
        ax.relim()
        ax.autoscale_view(scalex=False)
        ax.set_ylim(bottom=0)
    figure.suptitle(
        "Prior (grey) against posterior (black), every free parameter: where the two"
        " coincide, the data said little about it\nA prior is its exact density where the"
        " run records its distribution (ρ's uniform is flat), else a KDE of its draws;"
        " a posterior is a KDE of its draws",
        fontsize=11,
    )
    return figure


def _prior_specs(dt: xr.DataTree) -> dict[str, dict]:
    """The run's prior specs by slot (its ``priors`` attribute), or none for an older run."""
    import json

    raw = dt.attrs.get("priors")
    return json.loads(raw)["slots"] if raw else {}


# Points of an exact prior density's curve.
DENSITY_POINTS = 400


def _draw_exact_priors(dt: xr.DataTree, collection) -> None:
    """Redraw each prior curve as the prior's exact density, where the run records its spec.

    arviz-plots draws a KDE of the prior draws, which makes a flat prior (ρ's uniform) a wave
    and rounds off a bounded one's edges. A free parameter named as a prior slot has that
    slot's distribution; one that is not (the non-centred z_beta and z_ketamine) keeps its KDE.
    A density that is positive at an edge of its support drops to 0 there, as it does.
    """
    from models.distributions import scipy_dist

    specs = _prior_specs(dt)
    lines = collection.viz["dist"]
    for name in lines.data_vars:
        spec = specs.get(str(name))
        if spec is None or spec["dist"] == "fixed":
            continue
        prior = scipy_dist(spec)
        lo, hi = prior.support()
        for line in np.ravel(lines[name].sel(group="prior").values):
            shown = np.asarray(line.get_xdata(), dtype=float)
            x0, x1 = max(shown.min(), lo), min(shown.max(), hi)
            # A bound just past the draws' range (the KDE's grid ends at the extreme draws).
            near = 0.05 * (x1 - x0)
            x0 = lo if np.isfinite(lo) and x0 - lo < near else x0
            x1 = hi if np.isfinite(hi) and hi - x1 < near else x1
            x = np.linspace(x0, x1, DENSITY_POINTS)
            y = prior.pdf(x)
            if x0 == lo and y[0] > 0:
                x, y = np.r_[lo, x], np.r_[0.0, y]
            if x1 == hi and y[-1] > 0:
                x, y = np.r_[x, hi], np.r_[y, 0.0]
            line.set_data(x, y)


# Pair plot markers (points squared, opacity): 4,000 draws, each visible, none hiding another.
PAIR_MARKER_SIZE = 3
PAIR_MARKER_ALPHA = 0.2


def pair_plot(dt: xr.DataTree, study_names: Mapping[str, str] | None = None) -> Figure:
    """beta_acute against kappa, delta and tau_beta, with each pair's posterior correlation."""
    from arviz_plots import plot_pair_focus

    others = _present(dt, LEANS_ON)
    # Every draw, small and faint, so that where they pile up shows as darker.
    figure = _drawn(
        plot_pair_focus,
        dt,
        study_names,
        focus_var="beta_acute",
        var_names=others,
        visuals={"scatter": {"size": PAIR_MARKER_SIZE, "alpha": PAIR_MARKER_ALPHA}},
    )
    for ax in figure.axes:
        # The correlation of the points the panel shows (one collection per chain), so it
        # cannot belong to another panel.
        points = [np.asarray(c.get_offsets()) for c in ax.collections if len(c.get_offsets())]
        if points:
            xy = np.concatenate(points)
            ax.set_title(f"correlation {np.corrcoef(xy[:, 0], xy[:, 1])[0, 1]:+.2f}", fontsize=9)
    draws = dt["posterior"].sizes["chain"] * dt["posterior"].sizes["draw"]
    figure.suptitle(
        f"What β acute leans on: its posterior against $\\kappa_s$, $\\delta$ and $\\tau_\\beta$"
        f" (all {draws:,} draws,"
        " semi-transparent: darker where they pile up)",
        fontsize=11,
    )
    return figure


def power_scaling(dt: xr.DataTree, study_names: Mapping[str, str] | None = None) -> Figure:
    """The headline posteriors with the prior, then the likelihood, raised to a power near 1."""
    from arviz_plots import plot_psense_dist

    missing = [g for g in ("log_prior", "log_likelihood") if g not in dt.children]
    if missing:
        raise ValueError(f"power-scaling needs the {' and '.join(missing)} group(s) of the run")
    ci = interval()
    figure = _drawn(
        plot_psense_dist,
        dt,
        study_names,
        var_names=_present(dt, POWER_SCALED),
        point_estimate="median",
        ci_kind="eti",
        ci_prob=ci.prob,
    )
    for legend in list(figure.legends):  # the title says what the colours are
        legend.remove()
    figure.suptitle(
        "Power-scaling: each quantity of the power-scaling table, with the prior (left)\n"
        "or the likelihood (right) raised to the power 0.8 (blue) or 1.25 (orange);\n"
        f"black: as fitted. Dots: medians; bars: {ci.percent} equal-tailed intervals.\n"
        "Curves that move show sensitivity",
        fontsize=10,
    )
    return figure


VIEWS = {
    "rank": rank_plot,
    "prior_posterior_all": prior_posterior_all,
    "pair": pair_plot,
    "power_scaling": power_scaling,
}
