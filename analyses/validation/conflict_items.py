"""Calibration of the conflict check of a study with two items, through leave-one-out refits.

A study that reports several items is checked on all of them at once
(:func:`analyses.suite.conflict_replicates.study_p`): its p is that of its smallest item p,
ranked among the smallest item p of each replicated draw. ``conflict_calibration`` checks the
suite's path for studies of one item (no shipped study has two); this checks the path of two,
as the suite runs it: the items replicated together from the refit without the study, each
item's p, and their combination.

The design (:data:`DESIGN_STUDIES`): a three-arm parallel trial under acute blockade reporting
two count outcomes (two items sharing the study's beta, ketamine effect and response probit),
and the SBC design's reported attenuation (a second acute study the refit learns from). Each
simulation draws every parameter and observation from the neutral prior, leaves the two-item
study out, refits, and places its simulated data among the replicates. Under the model the
randomised PIT of each item, and of the study's smallest item p among the replicates' smallest,
is uniform.

The rule, fixed on 2026-12-04 before the run that it judges (:data:`TESTED`,
:data:`PER_TEST_P`, :data:`CONFIRMATION_SPAWN`): all three PITs are tested, each item's and
the study's, each at KS p above ``SBC_MIN_P / 3``, so that a calibrated check fails with
probability at most ``SBC_MIN_P`` (Bonferroni); and the simulations are new draws (see
:func:`confirmation_seed`). The level was chosen after the runs below, and would have passed
both of item 'second''s failures there; what was fixed in advance is the run it judges, which
passed at 298c889 (KS p 0.50, 0.55 and 0.38: above 0.01 too). Earlier rules were chosen after
the runs below, and changed with them:
the first version tested all three, and item 'second' failed at the section's seed (KS p
0.0024 on its first 200 simulations, 0.004 on 400; seed 778 gave 0.0032 for 'outcome'); the
rule then became the study's PIT alone. A fault was found (the counts' statistic, a difference
of two rates rounded twice, made equal differences unequal floats, so ties were decided by
rounding) and fixed, and the items were tested again (3b3000e); on the same 400 simulations
'second' then gave 0.0096, still below 0.01, and the rule went back to the study's PIT
(9b0e280). 1300 simulations with three fresh seeds (a scratch script following
:func:`fit_one`, not committed) gave 0.27, 0.40 and 0.32 for 'outcome' and 0.86, 0.80 and 0.94
for 'second'. Seed 778 was not rerun after the fix. Under those rules the section tested the
study's PIT alone; docs/science.md gives the runs and checks.
A single count item is also what ``conflict_calibration`` tests, though there banded, under
sustained blockade, and with its p taken among the replicates only.
The rates at which the study p and the naive smallest item p fall below 0.05 and 0.10 are
recorded: the naive one is too often small, which is why the study p is calibrated.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from analyses.validation.calibration import SBC_MIN_P
from analyses.validation.conflict_calibration import LEVELS, randomised_pit

STUDY = "twoitems"
# Per arm: about the size of Yoon 2025's arms, so that counts are discrete but informative.
ARM_SIZE = 20
ITEMS = ("outcome", "second")
# Every PIT is tested, each at a Bonferroni share of the family's level (see the docstring:
# fixed before the run it judges).
TESTED = (*ITEMS, "study")
PER_TEST_P = SBC_MIN_P / len(TESTED)
# The section's seed sequence's child used as the root of the simulations' seeds (see
# confirmation_seed).
CONFIRMATION_SPAWN = 1


def template_studies() -> list[dict]:
    """The design's study files, numbers as placeholders (each simulation replaces them)."""
    from analyses.validation import sbc
    from models.simulate import Truth, simulate_study

    first, _, _ = simulate_study("arm_counts", STUDY, "acute", Truth(), ARM_SIZE, seed=1)
    second, _, _ = simulate_study("arm_counts", STUDY, "acute", Truth(), ARM_SIZE, seed=2)
    first["evidence"].append({**second["evidence"][0], "id": ITEMS[1]})
    assert [item["id"] for item in first["evidence"]] == list(ITEMS)
    attenuation = next(s for s in sbc.template_studies() if s["id"] == "attenuation")
    return [first, attenuation]


def prior_draws(n_sims: int, seed: int) -> list[dict]:
    """Joint draws of the design's parameters and observations from the neutral prior."""
    from analyses.validation import sbc

    return sbc.prior_draws(n_sims, seed, template_studies())


def fit_one(index: int, draw: dict, seed: int) -> dict:
    """One simulation: the two-item study left out, refitted, and checked on its data.

    A Dask task: self-contained, and its result depends only on its arguments.
    """
    from analyses.inference.sampling import SamplerSettings, fit_with_gate
    from analyses.suite.conflict_replicates import mid_p, replicated_statistics, study_p
    from analyses.validation import sbc
    from models.blockade import ModelOptions, Variant, build_blockade_model, build_variants_model

    fit_seed, check_seed, u_seed = (int(x) for x in np.random.SeedSequence(seed).generate_state(3))
    evidence, priors = sbc._evidence(sbc.with_observations(template_studies(), draw))
    options = ModelOptions(observations_as_data=True)
    others = evidence.subset({s.id for s in evidence.studies if s.id != STUDY})
    # Variant 0 is the model's own data: the fit without the study; variant 1 has it in.
    model, _ = build_variants_model(
        [Variant(others, priors, options), Variant(evidence, priors, options)]
    )
    fit = fit_with_gate(model, SamplerSettings(seed=fit_seed), reuse=True, posterior_only=True)
    full = build_blockade_model(evidence, priors, options)
    post = fit.idata["posterior"].to_dataset()
    found = replicated_statistics(full, evidence, options, post, STUDY, check_seed)
    replicated = [f.statistic.values for f in found]
    observed = [float(f.observed[0]) for f in found]  # exact counts: one reading
    item_p = [mid_p(r, o) for r, o in zip(replicated, observed, strict=True)]
    *u, u_study = np.random.default_rng(u_seed).uniform(size=len(found) + 1)
    return {
        "simulation": index,
        "certified": fit.certified,
        "attempts": len(fit.attempts),
        "items": {
            f.item.id: {"pit": float(randomised_pit(r, o, v)), "mid_p": float(p[0])}
            for f, r, o, v, p in zip(found, replicated, observed, u, item_p, strict=True)
        },
        "study_pit": study_pit(replicated, observed, float(u_study)),
        "study_p": study_p(replicated, [np.array([o]) for o in observed])[0],
        "naive_p": min(float(p[0]) for p in item_p),
    }


def study_pit(replicated: list[np.ndarray], observed: list[float], u: float) -> float:
    """The randomised PIT of the study's smallest item p among the replicates' smallest.

    :func:`~analyses.suite.conflict_replicates.study_p` is its mid-p form (``u`` = 1/2); with
    ``u`` uniform the PIT is uniform under the model even where the counts make p discrete.
    """
    from analyses.suite.conflict_replicates import pooled_minima

    smallest, minima = pooled_minima(replicated, observed)
    below = np.searchsorted(minima, smallest, "left")
    ties = np.searchsorted(minima, smallest, "right") - below
    return float((below + u * ties) / minima.size)


def confirmation_seed(section_seed: int) -> int:
    """The seed the section's simulations are drawn from (:data:`CONFIRMATION_SPAWN`).

    The runs before the rule drew their prior draws from the section seed sequence's child 0
    and each simulation's fit from children 1 to n. Child 1 was there the first simulation's
    seed, used directly; here it is a root, and the draws come from its own children, which
    no earlier run drew (a test compares them with the old sequence's first children).
    """
    from analyses.validation.cluster import task_seeds

    return task_seeds(section_seed, CONFIRMATION_SPAWN + 1)[CONFIRMATION_SPAWN]


def summarise(records: list[dict]) -> dict:
    """KS p of each item's PIT and of the study's, each tested at :data:`PER_TEST_P`;
    rejection rates of the study p and of the naive smallest item p."""
    pits = {item: [r["items"][item]["pit"] for r in records] for item in ITEMS}
    pits["study"] = [r["study_pit"] for r in records]
    ks = {name: float(stats.kstest(v, "uniform").pvalue) for name, v in pits.items()}
    rates = {
        name: {str(a): float(np.mean([r[key] < a for r in records])) for a in LEVELS}
        for name, key in (("study_p", "study_p"), ("naive_smallest_item_p", "naive_p"))
    }
    return {
        "ks_p": ks,
        "bins": {n: np.histogram(v, bins=10, range=(0, 1))[0].tolist() for n, v in pits.items()},
        "rejection_rate": rates,
        "uncertified": sum(not r["certified"] for r in records),
        "tested": list(TESTED),
        "per_test_p": PER_TEST_P,
        "passed": all(ks[name] > PER_TEST_P for name in TESTED),
    }


def pit_figure(records: list[dict], seed: int) -> Figure:
    """Each item's PIT and the study's, as ECDF minus uniform inside a simultaneous band, each
    panel with the KS p the rule tests."""
    from analyses.validation.conflict_calibration import pit_panels

    ks = summarise(records)["ks_p"]
    names = {item: f"item {item!r} alone" for item in ITEMS}
    names["study"] = "the study: its smallest item p\namong the replicates'"
    pits = {item: [r["items"][item]["pit"] for r in records] for item in ITEMS}
    pits["study"] = [r["study_pit"] for r in records]
    panels = [(np.array(pits[name]), f"{names[name]}\nKS p {ks[name]:.3f}") for name in TESTED]
    title = (
        f"Conflict check of a study with two items ({ARM_SIZE} per arm), {len(records)} "
        f"simulations; each KS test at p > {PER_TEST_P:.4f}"
    )
    return pit_panels(panels, seed, title, width=10)
