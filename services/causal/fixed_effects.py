"""Context confounding removed by fixed effects absorbed through within-level demeaning: no level is pooled away.

An assay (or document, lab, isoform...) shifts the pActivity of everything it measures and picks its own chemical
series. The model ``pActivity = tau * treatment + alpha[assay] (+ alpha'[isoform] ...) + gamma . w + error``
removes every level's shift, however small the level, by demeaning each variable within the levels (the
Frisch-Waugh-Lovell theorem: the slope on the demeaned data *is* the OLS slope with one dummy per level). The levels
are absorbed, never encoded, so thousands of assays cost one ``bincount`` each; several context columns are
absorbed together by alternating projections (the method behind reghdfe and pyfixest). Only levels holding rows
with and without the treatment carry information about ``tau``: the others are absorbed completely, which is the
positivity of fixed effects (``overlap``).

Inference: cluster-robust (CR1) by the first context column when at least ``MIN_CLUSTERS`` of its levels hold the
treatment's variation (compounds of one assay share a series and a protocol, so their errors are not independent),
Student t with G - 1 degrees of freedom for those G levels; heteroskedasticity-robust (HC1) otherwise (a
cluster-robust variance from a handful of clusters is itself too noisy to trust). ``influence`` gives each row's
influence-function value, so the difference between this estimate and the naive one can be tested on the same rows.

``FixedEffectsRegressor`` is the same absorption as a scikit-learn learner (the first ``n_levels`` columns of X are
level codes, the rest linear covariates), the nuisance model of double ML.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats
from sklearn.base import BaseEstimator, RegressorMixin

logger = logging.getLogger(__name__)

MIN_CLUSTERS = 10
COLLINEAR_VARIANCE = 1e-8  # treatment variance left within levels: below it the effect is not identified
PROJECTION_TOLERANCE, MAX_PROJECTIONS = 1e-10, 500


def factorize(values: list[str]) -> np.ndarray:
    """Integer codes 0..L-1 in order of first appearance; empty values are a level of their own."""
    seen: dict[str, int] = {}
    return np.array([seen.setdefault((str(v).strip() if v is not None else ""), len(seen)) for v in values],
                    dtype=np.int64)


def _demean_once(matrix: np.ndarray, codes: np.ndarray) -> np.ndarray:
    counts = np.bincount(codes).astype(float)
    counts[counts == 0] = 1.0
    means = np.column_stack([np.bincount(codes, weights=column, minlength=len(counts)) / counts
                             for column in matrix.T])
    return matrix - means[codes]


def absorb(matrix: np.ndarray, levels: list[np.ndarray]) -> np.ndarray:
    """``matrix`` (rows x columns) with every level's mean removed, jointly for all level columns.

    No level column: the overall mean is removed (the intercept). One: a single exact pass. Several: alternating
    projections until no column moves by more than the tolerance.
    """
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim == 1:
        return absorb(matrix[:, None], levels)[:, 0]
    if not levels:
        return matrix - matrix.mean(axis=0)
    current = _demean_once(matrix, levels[0])
    if len(levels) == 1:
        return current
    for _ in range(MAX_PROJECTIONS):
        previous = current
        for codes in levels:
            current = _demean_once(current, codes)
        if np.max(np.abs(current - previous)) < PROJECTION_TOLERANCE:
            break
    return current


@dataclass
class FixedEffectsFit:
    value: float
    se: float
    ci: tuple[float, float]
    n: int
    inference: str  # "CR1 by <column>" or "HC1"
    influence: np.ndarray  # per row: estimate - truth ~ mean(influence)


def fit_within(
    y: np.ndarray, t: np.ndarray, levels: list[np.ndarray], covariates: np.ndarray | None = None,
    cluster: np.ndarray | None = None, cluster_name: str = "", confidence: float = 0.95,
) -> FixedEffectsFit:
    """OLS slope of ``y`` on ``t`` with the ``levels`` absorbed and ``covariates`` (rows x q) as linear controls.

    Raises ValueError when the treatment has no variation left within levels (not identified).
    """
    y, t = np.asarray(y, dtype=float), np.asarray(t, dtype=float)
    n = len(y)
    q = 0 if covariates is None else covariates.shape[1]
    stacked = np.column_stack([y, t] + ([covariates] if covariates is not None and q else []))
    demeaned = absorb(stacked, levels)
    y_w, t_w = demeaned[:, 0], demeaned[:, 1]
    if q:  # Frisch-Waugh-Lovell once more: the covariates partialled out of both
        w = demeaned[:, 2:]
        y_w = y_w - w @ np.linalg.lstsq(w, y_w, rcond=None)[0]
        t_w = t_w - w @ np.linalg.lstsq(w, t_w, rcond=None)[0]
    sxx = float(t_w @ t_w)
    if sxx / n < COLLINEAR_VARIANCE:
        raise ValueError("the treatment does not vary within the confounders' levels: its effect is not identified")
    value = float(t_w @ y_w / sxx)
    residual = y_w - value * t_w
    score = t_w * residual
    absorbed = sum(int(len(np.unique(c))) for c in levels) - max(len(levels) - 1, 0) if levels else 1
    # Only clusters where the treatment varies (within their levels) inform the slope: they are the ones counted.
    informative = 0 if cluster is None else len(np.unique(cluster[np.abs(t_w) > 1e-12]))
    if cluster is not None and informative >= MIN_CLUSTERS:
        per_cluster = np.bincount(cluster, weights=score)
        clusters = informative
        # Levels nested in clusters are not counted in the small-sample factor (as reghdfe does).
        factor = clusters / (clusters - 1) * (n - 1) / max(n - 1 - q, 1)
        variance = factor * float(per_cluster @ per_cluster) / sxx**2
        dof, inference = clusters - 1, f"CR1 by {cluster_name}"
    else:
        dof = max(n - 1 - q - absorbed, 1)
        variance = n / dof * float(score @ score) / sxx**2
        inference = "HC1"
    se = math.sqrt(variance)
    half = float(stats.t.ppf(0.5 + confidence / 2, dof)) * se
    return FixedEffectsFit(value, se, (value - half, value + half), n, inference, n * score / sxx)


def naive_influence(t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Influence function of the difference in means (with minus without)."""
    t = np.asarray(t, dtype=float)
    p = t.mean()
    mu1, mu0 = y[t == 1].mean(), y[t == 0].mean()
    return t * (y - mu1) / p - (1 - t) * (y - mu0) / (1 - p)


def difference_p_value(
    naive: np.ndarray, adjusted: np.ndarray, difference: float, cluster: np.ndarray | None = None
) -> float:
    """Two-sided p-value that the naive and adjusted estimates (influence functions on the same rows) agree."""
    gap = naive - adjusted
    if cluster is not None and len(np.unique(cluster)) >= MIN_CLUSTERS:
        gap = np.bincount(cluster, weights=gap)
    se = math.sqrt(float(gap @ gap)) / len(naive)
    if se == 0:
        return 1.0 if difference == 0 else 0.0
    return float(2 * stats.norm.sf(abs(difference) / se))


@dataclass
class Overlap:
    levels: int  # joint context levels
    informative_levels: int  # levels holding rows with and without the treatment
    treated: int  # rows with the treatment in informative levels
    untreated: int

    def to_dict(self) -> dict[str, int]:
        return {"levels": self.levels, "informative_levels": self.informative_levels,
                "treated_in_informative": self.treated, "untreated_in_informative": self.untreated}


def overlap(t: np.ndarray, strata: np.ndarray) -> Overlap:
    """Positivity under fixed effects: only joint levels with both arms compare the treatment at equal context."""
    codes = np.unique(strata, return_inverse=True)[1]
    treated = np.bincount(codes, weights=t.astype(float))
    total = np.bincount(codes).astype(float)
    informative = (treated > 0) & (treated < total)
    inside = informative[codes]
    return Overlap(len(total), int(informative.sum()), int(t[inside].sum()), int((1 - t[inside]).sum()))


class FixedEffectsRegressor(RegressorMixin, BaseEstimator):
    """Additive level effects (first ``n_levels`` columns of X: integer codes) plus linear covariates (the rest).

    Backfitting on the training rows; a level unseen in training predicts no shift. The nuisance learner of double
    ML: E[pActivity | context] and E[treatment | context] are exactly what fixed effects model.
    """

    def __init__(self, n_levels: int = 1, iterations: int = 50) -> None:
        self.n_levels = n_levels
        self.iterations = iterations

    def fit(self, X: np.ndarray, y: np.ndarray) -> FixedEffectsRegressor:  # noqa: N803 (scikit-learn's signature)
        x = np.asarray(X, dtype=float)
        codes = [x[:, j].astype(np.int64) for j in range(self.n_levels)]
        w = x[:, self.n_levels:]
        y = np.asarray(y, dtype=float)
        self.intercept_ = float(y.mean())
        self.effects_ = [np.zeros(int(c.max()) + 1) for c in codes]
        self.coef_ = np.zeros(w.shape[1])
        single = len(codes) <= 1 and w.shape[1] == 0
        for _ in range(1 if single else self.iterations):
            for j, c in enumerate(codes):
                partial = y - self.intercept_ - w @ self.coef_ - sum(
                    e[k] for i, (e, k) in enumerate(zip(self.effects_, codes, strict=True)) if i != j)
                counts = np.bincount(c, minlength=len(self.effects_[j])).astype(float)
                sums = np.bincount(c, weights=partial, minlength=len(self.effects_[j]))
                self.effects_[j] = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
            if w.shape[1]:
                partial = y - self.intercept_ - sum(e[k] for e, k in zip(self.effects_, codes, strict=True))
                self.coef_ = np.linalg.lstsq(w - w.mean(axis=0), partial - partial.mean(), rcond=None)[0]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        x = np.asarray(X, dtype=float)
        predicted = np.full(len(x), self.intercept_) + x[:, self.n_levels:] @ self.coef_
        for j, effects in enumerate(self.effects_):
            codes = x[:, j].astype(np.int64)
            known = codes < len(effects)
            predicted[known] += effects[codes[known]]
        return predicted


def level_balanced_folds(levels: np.ndarray, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cross-fitting folds that spread each level's rows over the folds, so every held-out row has its level seen
    in training when the level has two rows or more (plain random folds leave small assays out of training)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(levels))
    fold = np.empty(len(levels), dtype=int)
    offsets = rng.integers(0, n_folds, size=int(levels.max()) + 1)
    rank: dict[int, int] = {}
    for i in order:
        level = int(levels[i])
        position = rank.get(level, 0)
        fold[i] = (offsets[level] + position) % n_folds
        rank[level] = position + 1
    return [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(n_folds)]
