"""Per-study blockade-fraction estimates with standard errors, for the transparent cross-check.

Each estimate is a closed-form reading of one evidence item, with the nuisance quantities set
to the centre of their prior (and their prior SD carried into the SE by the delta method).
They are deliberately simple, so that anyone can redo them by hand; the full model
(:mod:`models.blockade`) is the analysis, and this table is what it should broadly agree with.

For a ratio estimate beta = c / d with independent errors,
``SE^2 = (SE_c / d)^2 + (c * SD_d / d^2)^2``.

- **contrast statistic with attenuation**: beta = a / kappa, with a the reported attenuation
  of the whole improvement, SE_a = a / t, and kappa the specific share of that improvement.
- **paired binary**: beta = [probit(p_placebo) - probit(p_naltrexone)] / delta, with
  (r + 0.5) / (n + 1) proportions, binomial delta-method SEs of the probits, and delta the
  ketamine effect (SMD). Pairing is ignored (conservative).
- **arm counts**: the same, between the ketamine + placebo and ketamine + naltrexone arms;
  a bound is read at its lower end (">80%" as the smallest count above 80%).
- **single arm**: beta = [eta - probit(p_naltrexone)] / delta, with eta the external
  ketamine-alone response probit.
- **arm means**: beta = (z_placebo - z_naltrexone) / delta, z = mean / SD, SE from 1/n.
- **early stopping**: if on, a stopped-early study's estimate is divided by exp(mu) of the
  literature exaggeration factor (SE likewise).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from models.distributions import scipy_dist
from models.evidence.load import Evidence
from models.evidence.validate import usable
from models.priors import PriorSpec


def _moments(spec: dict) -> tuple[float, float]:
    if spec["dist"] == "fixed":
        return float(spec["value"]), 0.0
    dist = scipy_dist(spec)
    return float(dist.mean()), float(dist.std())


def _probit_and_se(events: float, n: float) -> tuple[float, float]:
    p = (events + 0.5) / (n + 1.0)
    z = float(stats.norm.ppf(p))
    se = math.sqrt(p * (1 - p) / n) / float(stats.norm.pdf(z))
    return z, se


def _ratio(c: float, se_c: float, d: float, sd_d: float) -> tuple[float, float]:
    return c / d, math.sqrt((se_c / d) ** 2 + (c * sd_d / d**2) ** 2)


def _value(q):
    if q is None:
        return None
    return q.value if q.value is not None else q.lower


def item_estimate(study, item, priors: PriorSpec) -> tuple[float, float, str]:
    """(estimate, SE, how) for one usable evidence item."""
    delta, sd_delta = _moments(priors["ketamine_effect"])
    if item.kind == "contrast_statistic" and item.attenuation is not None:
        a = _value(item.attenuation)
        t = math.sqrt(_value(item.value)) if item.statistic == "F" else _value(item.value)
        kappa, sd_kappa = _moments(priors["specific_share"])
        est, se = _ratio(a, abs(a / t), kappa, sd_kappa)
        return est, se, f"attenuation {a} / specific share {kappa:.3f}; SE_a = {a} / {t:.2f}"
    if item.kind == "contrast_statistic":
        t = math.sqrt(_value(item.value)) if item.statistic == "F" else _value(item.value)
        n = _value(item.participants)
        # Standardized contrast from t: d = t * sqrt(2(1 - rho) / n) in a crossover.
        rho, _ = _moments(priors["within_subject_correlation"])
        scale = (
            math.sqrt(2 * (1 - rho) / n) if study.design.type == "crossover" else math.sqrt(4 / n)
        )
        est, se = _ratio(t * scale, scale, delta, sd_delta)
        return est, se, f"t {t:.2f} x {scale:.3f} / ketamine effect {delta:.2f}"
    if item.kind == "paired_binary":
        n = _value(item.pairs)
        zp, sp = _probit_and_se(_value(item.responders_placebo), n)
        zn, sn = _probit_and_se(_value(item.responders_naltrexone), n)
        est, se = _ratio(zp - zn, math.hypot(sp, sn), delta, sd_delta)
        return est, se, f"probit contrast {zp - zn:.2f} / ketamine effect {delta:.2f}"
    if item.kind == "arm_counts":
        arms = {arm.condition: arm for arm in item.arms}
        zp, sp = _probit_and_se(
            _value(arms["ketamine_placebo"].events), _value(arms["ketamine_placebo"].n)
        )
        zn, sn = _probit_and_se(
            _value(arms["ketamine_naltrexone"].events), _value(arms["ketamine_naltrexone"].n)
        )
        est, se = _ratio(zp - zn, math.hypot(sp, sn), delta, sd_delta)
        return (
            est,
            se,
            f"probit contrast {zp - zn:.2f} (lower bounds) / ketamine effect {delta:.2f}",
        )
    if item.kind == "single_arm_binary":
        eta, sd_eta = _moments(priors["ketamine_response_probit"])
        zn, sn = _probit_and_se(_value(item.events), _value(item.n))
        est, se = _ratio(eta - zn, math.hypot(sn, sd_eta), delta, sd_delta)
        return est, se, f"(external eta {eta:.2f} - probit {zn:.2f}) / ketamine effect {delta:.2f}"
    if item.kind == "arm_means":
        arms = {arm.condition: arm for arm in item.arms}
        z = {c: _value(a.mean_change) / _value(a.sd_change) for c, a in arms.items()}
        n = {c: _value(a.n) for c, a in arms.items()}
        c = z["ketamine_placebo"] - z["ketamine_naltrexone"]
        se_c = math.sqrt(1 / n["ketamine_placebo"] + 1 / n["ketamine_naltrexone"])
        est, se = _ratio(c, se_c, delta, sd_delta)
        return est, se, f"standardized contrast {c:.2f} / ketamine effect {delta:.2f}"
    raise ValueError(f"no closed-form estimate for {item.kind}")


def beta_estimates(
    evidence: Evidence, priors: PriorSpec, early_stopping_bias: bool = True
) -> pd.DataFrame:
    """One row per included study: study, estimate, se, acute (1/0), regimen, method.

    A study with several usable items contributes their inverse-variance average. IPD items
    are skipped here (their summary would be an arm-means item).
    """
    log_k, _ = _moments(priors["early_stop_log_exaggeration"])
    rows = []
    for s in evidence.included:
        found = [
            item_estimate(s, item, priors)
            for item in s.evidence
            if usable(item) and item.kind != "ipd"
        ]
        if not found:
            continue
        w = np.array([1 / se**2 for _, se, _ in found])
        est = float(np.sum(w * [e for e, _, _ in found]) / w.sum())
        se = float(w.sum() ** -0.5)
        how = "; ".join(h for _, _, h in found)
        if early_stopping_bias and s.design.stopped_early:
            k = math.exp(log_k)
            est, se = est / k, se / k
            how += f"; divided by early-stopping factor {k:.2f}"
        rows.append(
            {
                "study": s.id,
                "estimate": est,
                "se": se,
                "acute": 1.0 if s.naltrexone.regimen == "acute" else 0.0,
                "regimen": s.naltrexone.regimen,
                "method": how,
            }
        )
    return pd.DataFrame(rows)
