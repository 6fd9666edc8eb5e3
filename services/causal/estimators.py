"""Effect estimators: DoWhy estimator classes (so DoWhy's refuters can re-run any of them) behind a small registry.

Every estimator answers the same question, the average effect on pActivity of a binary treatment with the context
confounders held fixed, and returns a value with a 95% interval. Confounder columns reach them as integer level
codes (every level kept, ``graph.py``); a float column (DoWhy's random common cause) is a linear covariate.

- ``linear``: OLS with the confounders' levels as fixed effects, absorbed by within-level demeaning
  (``fixed_effects.fit_within``: identical to OLS with one dummy per level, at no cost per level); cluster-robust
  interval by the first confounder. The primary estimate, and the one the refuters re-run. When the treatment does
  not vary within levels (say, exactly the molecules of some assays) the effect is not identified: no number.
- ``double_ml``: the partially linear model by double machine learning from the maintained ``doubleml`` package
  (``DoubleMLPLR``, partialling-out score, 5-fold cross-fitting); both nuisances, E[pActivity | context] and
  E[treatment | context], are fixed-effects learners (``FixedEffectsRegressor``) and the folds spread each level
  over the folds (``level_balanced_folds``), so a small assay is never out of its own nuisance model (a level with
  a single row, which fixed effects absorb, is left out for the same reason).
- ``propensity_weighting``: inverse-propensity weighting with the saturated propensity, the treated share of each
  joint context level (exact for categorical confounders, no model to misspecify); only levels with both arms count
  (the overlap population), which makes it the level-size-weighted average of within-level differences. It ignores
  float covariates, so the random-common-cause refutation cannot move it.
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
from doubleml import DoubleMLData, DoubleMLPLR
from dowhy.causal_estimator import CausalEstimate, CausalEstimator
from dowhy.causal_identifier import IdentifiedEstimand
from sklearn.base import clone

from services.causal.fixed_effects import FixedEffectsRegressor, fit_within, level_balanced_folds

logger = logging.getLogger(__name__)

Z95 = 1.959964
ZERO_TOLERANCE = 1e-9
DML_FOLDS = 5


@dataclass
class EffectData:
    frame: pd.DataFrame  # the treatment (0/1), pActivity and one integer level-code column per confounder
    estimand: IdentifiedEstimand
    seed: int
    cluster: str | None = None  # the confounder node whose levels cluster the errors (the first one)


@dataclass
class Estimate:
    estimator: str
    value: float
    ci: tuple[float, float]
    dowhy: CausalEstimate | None = None  # what DoWhy's refuters re-estimate
    influence: np.ndarray | None = None  # per row, for testing it against the naive estimate on the same rows
    inference: str = ""

    def excludes_zero(self) -> bool:
        return self.ci[0] > ZERO_TOLERANCE or self.ci[1] < -ZERO_TOLERANCE  # rounding noise is not an effect

    def to_dict(self) -> dict[str, Any]:
        return {"estimator": self.estimator, "value": round(self.value, 4), "ci": [round(c, 4) for c in self.ci],
                **({"inference": self.inference} if self.inference else {})}


def difference_in_means(t: np.ndarray, y: np.ndarray) -> tuple[float, tuple[float, float]]:
    """Mean pActivity with minus without, and its Welch 95% interval (the naive association)."""
    a, b = y[t == 1], y[t == 0]
    diff = float(a.mean() - b.mean())
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    return diff, (diff - Z95 * se, diff + Z95 * se)


@dataclass
class _Result:
    value: float
    ci: tuple[float, float]
    influence: np.ndarray | None = None
    inference: str = ""


class _ContextEstimator(CausalEstimator):
    """A DoWhy estimator reading treatment, outcome and adjustment set from the estimand (a placebo or an added
    random common cause are picked up as DoWhy's refuters rewrite it): integer columns are absorbed levels, float
    columns linear covariates."""

    def __init__(self, identified_estimand: IdentifiedEstimand, cluster: str | None = None, seed: int = 0,
                 **kwargs: Any) -> None:
        super().__init__(identified_estimand, **kwargs)
        self.cluster, self.seed = cluster, seed
        self.symbolic_estimator = ""

    def fit(self, data: pd.DataFrame, effect_modifier_names: list[str] | None = None) -> _ContextEstimator:
        self._set_effect_modifiers(data, effect_modifier_names)
        self.symbolic_estimator = self.construct_symbolic_estimator(self._target_estimand)
        return self

    def construct_symbolic_estimator(self, estimand: IdentifiedEstimand) -> str:
        adjusted = ", ".join(estimand.get_adjustment_set() or []) or "nothing"
        return f"E[{estimand.outcome_variable[0]} | do({estimand.treatment_variable[0]})], holding fixed {adjusted}"

    @abstractmethod
    def _compute(self, y: np.ndarray, t: np.ndarray, levels: list[np.ndarray], covariates: np.ndarray | None,
                 cluster: np.ndarray | None) -> _Result: ...

    def estimate_effect(self, data: pd.DataFrame, treatment_value: Any = 1, control_value: Any = 0,
                        target_units: Any = None, **_: Any) -> CausalEstimate:
        self._target_units, self._treatment_value, self._control_value = target_units, treatment_value, control_value
        estimand = self._target_estimand
        t = data[estimand.treatment_variable[0]].to_numpy(dtype=float)
        y = data[estimand.outcome_variable[0]].to_numpy(dtype=float)
        adjustment = list(estimand.get_adjustment_set() or [])
        level_columns = [c for c in adjustment if pd.api.types.is_integer_dtype(data[c])]
        covariate_columns = [c for c in adjustment if c not in level_columns]
        levels = [np.unique(data[c].to_numpy(), return_inverse=True)[1] for c in level_columns]
        covariates = data[covariate_columns].to_numpy(dtype=float) if covariate_columns else None
        cluster = None
        if self.cluster in level_columns:
            cluster = levels[level_columns.index(self.cluster)]
        result = self._compute(y, t, levels, covariates, cluster)
        estimate = CausalEstimate(
            data=data, treatment_name=estimand.treatment_variable, outcome_name=estimand.outcome_variable,
            estimate=result.value, control_value=control_value, treatment_value=treatment_value,
            target_estimand=estimand, realized_estimand_expr=self.symbolic_estimator,
        )
        estimate.add_estimator(self)  # what DoWhy's refuters re-create and re-fit
        estimate.result = result
        return estimate


class WithinEstimator(_ContextEstimator):
    def _compute(self, y: np.ndarray, t: np.ndarray, levels: list[np.ndarray], covariates: np.ndarray | None,
                 cluster: np.ndarray | None) -> _Result:
        fit = fit_within(y, t, levels, covariates, cluster, self.cluster or "")
        return _Result(fit.value, fit.ci, fit.influence, fit.inference)


class DoubleMLEstimator(_ContextEstimator):
    def _compute(self, y: np.ndarray, t: np.ndarray, levels: list[np.ndarray], covariates: np.ndarray | None,
                 cluster: np.ndarray | None) -> _Result:
        codes = levels or [np.zeros(len(y), dtype=np.int64)]  # no confounder: the nuisances are the means
        # A level with one row is never in its own training fold: its nuisance would be the overall mean, and its
        # between-level difference would leak in as confounding. Fixed effects absorb it; here it is left out.
        keep = np.bincount(codes[0])[codes[0]] > 1
        if len(levels) and not keep.all():
            y, t = y[keep], t[keep]
            codes = [np.unique(c[keep], return_inverse=True)[1] for c in codes]
            covariates = None if covariates is None else covariates[keep]
        x = np.column_stack(codes + ([covariates] if covariates is not None else [])).astype(float)
        learner = FixedEffectsRegressor(n_levels=len(codes))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # it warns that a regressor models a binary treatment: intended (LPM)
            model = DoubleMLPLR(DoubleMLData.from_arrays(x, y, t), ml_l=learner, ml_m=clone(learner),
                                n_folds=DML_FOLDS, draw_sample_splitting=False)
            model.set_sample_splitting(level_balanced_folds(codes[0], DML_FOLDS, self.seed))
            model.fit()
        value, se = float(model.coef[0]), float(model.se[0])
        return _Result(value, (value - Z95 * se, value + Z95 * se), None, "DoubleML PLR, partialling out")


class StratifiedWeightingEstimator(_ContextEstimator):
    def _compute(self, y: np.ndarray, t: np.ndarray, levels: list[np.ndarray], covariates: np.ndarray | None,
                 cluster: np.ndarray | None) -> _Result:
        joint = (np.unique(np.column_stack(levels), axis=0, return_inverse=True)[1].ravel() if levels
                 else np.zeros(len(y), dtype=np.int64))
        size = np.bincount(joint).astype(float)
        treated = np.bincount(joint, weights=t)
        informative = (treated > 0) & (treated < size)
        inside = informative[joint]
        if t[inside].sum() < 1 or (1 - t[inside]).sum() < 1:
            raise ValueError("no context level holds molecules with and without the treatment")
        p = (treated / size)[joint]
        mu1 = np.bincount(joint, weights=t * y) / np.maximum(treated, 1)
        mu0 = np.bincount(joint, weights=(1 - t) * y) / np.maximum(size - treated, 1)
        difference = mu1 - mu0
        value = float(np.sum((size * difference)[informative]) / size[informative].sum())
        share = len(y) / size[informative].sum()
        psi = np.zeros(len(y))
        m1, m0, d = mu1[joint], mu0[joint], difference[joint]
        psi[inside] = share * (t * (y - m1) / p - (1 - t) * (y - m0) / (1 - p) + d - value)[inside]
        se = math.sqrt(float(psi @ psi)) / len(y)
        return _Result(value, (value - Z95 * se, value + Z95 * se), psi, "saturated propensity per context level")


class EffectEstimator(ABC):
    name: ClassVar[str]

    @abstractmethod
    def estimate(self, data: EffectData) -> Estimate: ...


ESTIMATORS: dict[str, EffectEstimator] = {}


def register_estimator(cls: type[EffectEstimator]) -> type[EffectEstimator]:
    ESTIMATORS[cls.name] = cls()
    return cls


class _DoWhyBacked(EffectEstimator):
    backend: ClassVar[type[_ContextEstimator]]

    def estimate(self, data: EffectData) -> Estimate:
        estimator = self.backend(data.estimand, cluster=data.cluster, seed=data.seed)
        estimator.fit(data.frame)
        estimate = estimator.estimate_effect(data.frame, treatment_value=1, control_value=0, target_units="ate")
        result: _Result = estimate.result
        return Estimate(self.name, result.value, result.ci, estimate, result.influence, result.inference)


@register_estimator
class LinearFixedEffects(_DoWhyBacked):
    name = "linear"
    backend = WithinEstimator


@register_estimator
class DoubleML(_DoWhyBacked):
    name = "double_ml"
    backend = DoubleMLEstimator


@register_estimator
class PropensityWeighting(_DoWhyBacked):
    name = "propensity_weighting"
    backend = StratifiedWeightingEstimator


def run_estimator(name: str, data: EffectData) -> Estimate | None:
    """One registered estimator; a numerical failure is logged and reported as no estimate, never raised."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DoWhy warns per call about things we check ourselves
            estimate = ESTIMATORS[name].estimate(data)
    except Exception as exc:  # noqa: BLE001  (one estimator failing must not sink the others)
        logger.info("estimator %s gave no estimate: %s", name, exc)
        return None
    if not all(math.isfinite(v) for v in (estimate.value, *estimate.ci)):
        return None
    return estimate
