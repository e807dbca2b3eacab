"""Explore a run: `make explore` (or `make explore RUN=results/<run id>`).

A marimo app over one run folder. Move the two threshold sliders and the hypothesis
probabilities and Bayes factors are re-read from the stored draws at once (no refit); pick a
sensitivity scenario, step through the cumulative analysis, compare with the previous run,
and see every figure of the run drawn from its files. The computations live in
`analyses/explorer.py` (tested there); this file is the widgets.
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="ketamine-opioid: explore a run")


@app.cell
def _():
    import os

    import marimo as mo

    from analyses import explorer
    from analyses.report import drawing, figures, robustness, views

    return drawing, explorer, figures, mo, os, robustness, views


@app.cell
def _(explorer, mo, os):
    # The run: `-- --run PATH` on the command line, else $EXPLORE_RUN, else results/latest.
    from models.paths import ROOT

    chosen = mo.cli_args().get("run") or os.environ.get("EXPLORE_RUN") or ROOT / "results/latest"
    run = explorer.RunView.open(chosen)
    previous = run.previous()
    mo.md(
        f"# Run `{run.path.name}`\n\n"
        f"Prior set **{run.manifest['priors']['name']}**, "
        f"{'certified' if run.manifest['certified'] else '**NOT CERTIFIED**'}; "
        f"previous run: `{previous.path.name if previous else 'none'}`."
    )
    return previous, run


@app.cell
def _(mo, run):
    def _threshold(label, value):
        return mo.ui.slider(
            0.05, 1.0, step=0.05, value=value, label=label, full_width=True, show_value=True
        )

    primary = _threshold("primary threshold P", run.thresholds.primary)
    permissive = _threshold("permissive threshold Q", run.thresholds.permissive)
    mo.vstack([mo.md("## Thresholds (re-read from the draws, no refit)"), primary, permissive])
    return permissive, primary


@app.cell
def _(explorer, mo, permissive, primary, run):
    if permissive.value > primary.value:
        tables = None
        shown = mo.callout(
            mo.md(
                f"The permissive threshold ({permissive.value}) is above the primary one "
                f"({primary.value}): the regions would overlap. Move one of them."
            ),
            kind="warn",
        )
    else:
        tables = explorer.at_thresholds(run, primary.value, permissive.value)
        hypotheses = tables["hypotheses"][
            ["hypothesis", "prior_prob", "posterior_prob", "posterior_prob_mcse"]
        ].round(3)
        bfs = tables["bayes_factors"][["question", "bf", "log10_bf", "log10_bf_mcse", "evidence"]]
        shown = mo.vstack(
            [
                mo.ui.table(hypotheses, selection=None),
                mo.ui.table(bfs.round(3), selection=None, page_size=len(bfs)),
            ]
        )
    shown
    return (tables,)


@app.cell
def _(figures, mo, permissive, primary, run, tables):
    from analyses.inference.hypotheses import Thresholds

    mo.stop(tables is None)
    moved = Thresholds(primary=primary.value, permissive=permissive.value)
    figures.joint(run.idata, tables["hypotheses"], moved)
    return


@app.cell
def _(explorer, mo, run):
    sensitivity = run.table("sensitivity")
    names = explorer.scenario_choices(sensitivity)
    first = next(iter(names), None)
    scenario = mo.ui.dropdown(names, value=first, label="scenario")
    mo.vstack([mo.md("## Sensitivity scenarios"), scenario])
    return scenario, sensitivity


@app.cell
def _(explorer, mo, run, scenario, sensitivity):
    mo.stop(sensitivity is None, mo.md("This run has no sensitivity suite (a `--quick` run)."))
    explorer.scenario_rows(run, scenario.value)
    return


@app.cell
def _(mo, robustness, sensitivity):
    mo.stop(sensitivity is None)
    leader = str(sensitivity["leader"].iloc[0])
    mo.vstack(
        [
            robustness.robustness_figure(sensitivity, leader),
            robustness.sensitivity_forest(sensitivity),
        ]
    )
    return


@app.cell
def _(mo, run):
    cumulative = run.table("cumulative")
    mo.stop(cumulative is None)
    step = mo.ui.slider(
        1,
        len(cumulative),
        value=len(cumulative),
        label="cumulative step",
        full_width=True,
        show_value=True,
    )
    mo.vstack([mo.md("## Cumulative evidence, in publication order"), step])
    return cumulative, step


@app.cell
def _(cumulative, mo, robustness, step):
    steps = cumulative.iloc[: step.value]
    mo.vstack([robustness.cumulative_figure(steps), robustness.cumulative_forest(steps)])
    return


@app.cell
def _(explorer, mo, previous, run):
    mo.vstack([mo.md("## This run against the previous run"), explorer.overlay(run, previous)])
    return


@app.cell
def _(mo, run, views):
    view = mo.ui.dropdown(list(views.VIEWS), value="rank", label="ArviZ view")
    mo.vstack([mo.md("## Standard views, drawn from `posterior.nc`"), view])
    return (view,)


@app.cell
def _(run, view, views):
    views.VIEWS[view.value](run.idata)
    return


@app.cell
def _(drawing, mo, run, views):
    # The report's own drawing functions, read from the files; the joint plot (with the
    # sliders) and the standard views have their own cells above.
    _inputs = drawing.FigureInputs.from_folder(run.path, run.thresholds)
    _shown = [
        draw()
        for name, draw in drawing.drawers(_inputs).items()
        if name != "joint" and name not in views.VIEWS
    ]
    mo.vstack([mo.md("## The report's figures, drawn from the run's files"), *_shown])
    return


if __name__ == "__main__":
    app.run()
