"""Effect estimators: a typed base class and a small registry, in the manner of DoWhy's ``causal_estimators``.

Every estimator answers the same question (the average effect on pActivity of a binary treatment, adjusted for
the identified confounders) and returns a value with a 95% interval:

- ``linear``: DoWhy ``backdoor.linear_regression`` (OLS of pActivity on the treatment and the confounder
  indicators; the interval is the OLS one). It is the primary estimate and the one the refuters re-run (fast).
  When the treatment is a linear combination of the confounder indicators (say, exactly the molecules of some
  assays), OLS has no unique answer: the pseudo-inverse would split the effect arbitrarily between the treatment
  and those assays, with a tight interval. The effect is then not identified, and no number is returned.
- ``propensity_weighting``: DoWhy ``backdoor.propensity_score_weighting`` with a scikit-learn
  ``LogisticRegression`` propensity model (scores clipped to [0.05, 0.95], normalised inverse-propensity weights);
  the interval is the weighted-means sandwich with the propensities taken as known.
- ``double_ml``: partialling-out double machine learning, implemented here with scikit-learn 5-fold
  cross-fitting: pActivity and the treatment are each residualised on the confounders out of fold (``Ridge``,
  ``LogisticRegression``); the effect is the slope of the outcome residuals on the treatment residuals, with the
  influence-function standard error. It does not go through DoWhy, so it is not refuted.
"""

from __future__ import annotations

import logging
import math
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from dowhy.causal_estimator import CausalEstimate
from dowhy.causal_estimators.linear_regression_estimator import LinearRegressionEstimator
from dowhy.causal_estimators.propensity_score_weighting_estimator import PropensityScoreWeightingEstimator
from dowhy.causal_identifier import IdentifiedEstimand
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold

from services.causal.graph import OUTCOME, TREATMENT

logger = logging.getLogger(__name__)

Z95 = 1.959964
ZERO_TOLERANCE = 1e-9
COLLINEAR_VARIANCE = 1e-8  # treatment variance left after regressing it on the confounders: below, no effect
PS_CLIP = (0.05, 0.95)


@dataclass
class EffectData:
    frame: pd.DataFrame  # the treatment (0/1), pActivity and the confounder indicator columns
    estimand: IdentifiedEstimand
    seed: int

    @property
    def adjustment(self) -> list[str]:
        return list(self.estimand.get_adjustment_set() or [])

    @property
    def t(self) -> np.ndarray:
        return self.frame[TREATMENT].to_numpy(dtype=float)

    @property
    def y(self) -> np.ndarray:
        return self.frame[OUTCOME].to_numpy(dtype=float)

    def confounders(self) -> np.ndarray:
        """The indicator matrix; a constant column when there is nothing to adjust for."""
        if not self.adjustment:
            return np.ones((len(self.frame), 1))
        return self.frame[self.adjustment].to_numpy(dtype=float)


@dataclass
class Estimate:
    estimator: str
    value: float
    ci: tuple[float, float]
    dowhy: CausalEstimate | None = None  # what DoWhy's refuters re-estimate

    def excludes_zero(self) -> bool:
        return self.ci[0] > ZERO_TOLERANCE or self.ci[1] < -ZERO_TOLERANCE  # rounding noise is not an effect

    def to_dict(self) -> dict[str, Any]:
        return {"estimator": self.estimator, "value": round(self.value, 4), "ci": [round(c, 4) for c in self.ci]}


def difference_in_means(t: np.ndarray, y: np.ndarray) -> tuple[float, tuple[float, float]]:
    """Mean pActivity with minus without, and its Welch 95% interval (the naive association)."""
    a, b = y[t == 1], y[t == 0]
    diff = float(a.mean() - b.mean())
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    return diff, (diff - Z95 * se, diff + Z95 * se)


def unexplained_treatment_variance(data: EffectData) -> float:
    """Variance of the treatment left after least squares on an intercept and the confounder indicators."""
    design = np.column_stack([np.ones(len(data.frame)), data.confounders()])
    t = data.t
    coefficients, *_ = np.linalg.lstsq(design, t, rcond=None)
    return float(np.mean((t - design @ coefficients) ** 2))


class EffectEstimator(ABC):
    name: ClassVar[str]

    @abstractmethod
    def estimate(self, data: EffectData) -> Estimate: ...


ESTIMATORS: dict[str, EffectEstimator] = {}


def register_estimator(cls: type[EffectEstimator]) -> type[EffectEstimator]:
    ESTIMATORS[cls.name] = cls()
    return cls


@register_estimator
class LinearRegression(EffectEstimator):
    name = "linear"

    def estimate(self, data: EffectData) -> Estimate:
        if unexplained_treatment_variance(data) < COLLINEAR_VARIANCE:
            raise ValueError("the treatment is a linear combination of the confounders: its effect is not identified")
        estimator = LinearRegressionEstimator(data.estimand, confidence_intervals=True, confidence_level=0.95)
        estimator.fit(data.frame)
        result = estimator.estimate_effect(data.frame, treatment_value=1, control_value=0, target_units="ate")
        low, high = np.ravel(result.get_confidence_intervals())
        return Estimate(self.name, float(result.value), (float(low), float(high)), result)


@register_estimator
class PropensityWeighting(EffectEstimator):
    name = "propensity_weighting"

    def estimate(self, data: EffectData) -> Estimate:
        t, y = data.t, data.y
        if data.adjustment:
            frame = data.frame.copy()  # DoWhy writes its weight columns into the frame it is given
            estimator = PropensityScoreWeightingEstimator(
                data.estimand,
                propensity_score_model=LogisticRegression(max_iter=1000),
                min_ps_score=PS_CLIP[0],
                max_ps_score=PS_CLIP[1],
            )
            estimator.fit(frame)
            result = estimator.estimate_effect(frame, treatment_value=1, control_value=0, target_units="ate")
            value = float(result.value)
            score = np.clip(estimator.predict_proba(frame)[:, 1], *PS_CLIP)
        else:  # nothing to adjust for: weighting by a constant propensity is the difference in means
            value, score = float(y[t == 1].mean() - y[t == 0].mean()), np.full(len(t), t.mean())
        weights = t / score + (1 - t) / (1 - score)
        variance = 0.0
        for arm in (t, 1 - t):
            w = weights * arm
            mean = float(w @ y / w.sum())
            variance += float(np.sum((w * (y - mean)) ** 2) / w.sum() ** 2)
        se = math.sqrt(variance)
        return Estimate(self.name, value, (value - Z95 * se, value + Z95 * se))


@register_estimator
class DoubleML(EffectEstimator):
    name = "double_ml"
    folds = 5

    def estimate(self, data: EffectData) -> Estimate:
        w, t, y = data.confounders(), data.t, data.y
        y_res, t_res = np.empty_like(y), np.empty_like(t)
        for train, test in KFold(self.folds, shuffle=True, random_state=data.seed).split(w):
            y_res[test] = y[test] - Ridge(alpha=1.0).fit(w[train], y[train]).predict(w[test])
            if len(np.unique(t[train])) < 2:  # a fold with one arm only: its propensity is that constant
                t_res[test] = t[test] - t[train].mean()
            else:
                model = LogisticRegression(max_iter=1000).fit(w[train], t[train])
                t_res[test] = t[test] - model.predict_proba(w[test])[:, 1]
        theta = float(t_res @ y_res / (t_res @ t_res))
        psi = (y_res - theta * t_res) * t_res
        se = float(np.sqrt(np.mean(psi**2)) / np.mean(t_res**2) / np.sqrt(len(y)))
        return Estimate(self.name, theta, (theta - Z95 * se, theta + Z95 * se))


def run_estimator(name: str, data: EffectData) -> Estimate | None:
    """One registered estimator; a numerical failure is logged and reported as no estimate, never raised."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DoWhy and statsmodels warn per call about things we check ourselves
            estimate = ESTIMATORS[name].estimate(data)
    except Exception as exc:  # noqa: BLE001  (one estimator failing must not sink the others)
        logger.warning("estimator %s failed: %s", name, exc)
        return None
    if not all(math.isfinite(v) for v in (estimate.value, *estimate.ci)):
        return None
    return estimate
