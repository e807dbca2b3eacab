"""The standard ArviZ views of a run, drawn by arviz-plots from ``posterior.nc`` as it is.

Each function takes the run's DataTree and returns a matplotlib ``Figure``:

- :func:`rank_plot`: rank ECDF plots of the headline parameters (convergence at a glance);
- :func:`prior_posterior_all`: prior against posterior for every free parameter;
- :func:`pair_plot`: beta_acute against what its headline leans on (kappa, delta, tau_beta);
- :func:`power_scaling`: the headline posteriors as the prior and the likelihood are scaled.

arviz-plots draws through pyplot, so it is imported only when a view is drawn (importing this
module selects no backend), the palette is set for the drawing only, and each figure is
released from pyplot's registry once drawn, so none piles up in a long session.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.text import Text

from analyses.report.figures import OKABE_ITO

HEADLINE = ("beta_acute", "beta_sustained", "delta_timing", "tau_beta")
# What the acute headline leans on: the specific share kappa (Jelen's attenuation informs
# beta * kappa), ketamine's effect delta (beta is a share of it), and the between-study SD.
LEANS_ON = ("specific_share", "ketamine_effect", "tau_beta")
# The same symbols as docs/science.md, with the variable's name for anyone matching the files.
LABELS = {
    "beta_acute": "β_acute",
    "beta_sustained": "β_sustained",
    "delta_timing": "Δ = β_acute − β_sustained",
    "tau_beta": "τ_β (between-study SD)",
    "specific_share": "κ (specific_share)",
    "ketamine_effect": "δ (ketamine_effect)",
    "ketamine_effect_midazolam": "δ vs midazolam",
    "nonspecific_share": "γ (nonspecific_share)",
    "early_stop_log_exaggeration": "λ (early_stop_log_exaggeration)",
    "within_subject_correlation": "ρ (within_subject_correlation)",
}
# Okabe-Ito, starting with the colours the other figures give posterior and prior.
PALETTE = [
    OKABE_ITO[c] for c in ("blue", "orange", "green", "vermillion", "purple", "sky_blue", "black")
]


def _labeller():
    from arviz_base.labels import MapLabeller

    return MapLabeller(var_name_map=LABELS)


def _drawn(plot: Callable, *args, palette: list[str] | None = None, **kwargs) -> Figure:
    """Draw with arviz-plots in the run's palette; return the figure, released from pyplot."""
    import matplotlib as mpl
    import matplotlib.pyplot as plt
    from cycler import cycler

    with mpl.rc_context({"axes.prop_cycle": cycler(color=palette or PALETTE)}):
        collection = plot(*args, backend="matplotlib", labeller=_labeller(), **kwargs)
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


def rank_plot(dt: xr.DataTree) -> Figure:
    """Rank ECDF differences per chain, and the p-value of the test that the chains saw one
    distribution (arviz-plots' default, multiple-testing-corrected method: it marks suspicious
    points rather than drawing an envelope)."""
    from arviz_plots import plot_rank

    figure = _drawn(plot_rank, dt, var_names=_present(dt, HEADLINE))
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


def prior_posterior_all(dt: xr.DataTree) -> Figure:
    """Prior and posterior density of every free parameter, one panel each."""
    from arviz_plots import plot_prior_posterior

    # Prior grey, posterior black, as in the report's headline prior-posterior figure.
    figure = _drawn(
        plot_prior_posterior,
        dt,
        var_names=free_parameters(dt),
        palette=[OKABE_ITO["grey"], OKABE_ITO["black"]],
    )
    for ax in figure.axes:  # from zero, so a flat prior looks flat and not like a wave
        ax.set_ylim(bottom=0)
    figure.suptitle(
        "Prior (grey) against posterior (black), every free parameter: where the two"
        " coincide, the data said little about it",
        fontsize=11,
    )
    return figure


def pair_plot(dt: xr.DataTree) -> Figure:
    """beta_acute against kappa, delta and tau_beta, with each pair's posterior correlation."""
    from arviz_plots import plot_pair_focus

    others = _present(dt, LEANS_ON)
    figure = _drawn(plot_pair_focus, dt, focus_var="beta_acute", var_names=others)
    for ax in figure.axes:
        # The correlation of the points the panel shows (one collection per chain), so it
        # cannot belong to another panel.
        points = [np.asarray(c.get_offsets()) for c in ax.collections if len(c.get_offsets())]
        if points:
            xy = np.concatenate(points)
            ax.set_title(f"correlation {np.corrcoef(xy[:, 0], xy[:, 1])[0, 1]:+.2f}", fontsize=9)
    figure.suptitle("What β_acute leans on: its posterior against κ, δ and τ_β", fontsize=11)
    return figure


def power_scaling(dt: xr.DataTree) -> Figure:
    """The headline posteriors with the prior, then the likelihood, raised to a power near 1."""
    from arviz_plots import plot_psense_dist

    missing = [g for g in ("log_prior", "log_likelihood") if g not in dt.children]
    if missing:
        raise ValueError(f"power-scaling needs the {' and '.join(missing)} group(s) of the run")
    figure = _drawn(plot_psense_dist, dt, var_names=_present(dt, HEADLINE))
    for legend in list(figure.legends):  # the title says what the colours are
        legend.remove()
    figure.suptitle(
        "Power-scaling: each headline posterior with the prior (left) or the likelihood\n"
        "(right) raised to the power 0.8 (blue) or 1.25 (orange); black as fitted.\n"
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
