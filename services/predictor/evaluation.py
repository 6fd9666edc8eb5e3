"""How a model is judged before it is served: splits, cross-validation, baselines, intervals and their coverage.

Every split keeps whole groups on one side: Murcko scaffolds ("scaffold", the honest test for new chemistry), the
values of the first context column ("context", e.g. a new assay or isoform), or single rows ("random").
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import spearmanr
from sklearn.base import RegressorMixin

from services.featurizer.logic import murcko_scaffold
from services.predictor.estimators import make_estimator
from services.predictor.spread import on_bits_of, sigmas
from shared.applicability import N_BITS, NearestNeighbourIndex
from shared.errors import InvalidRequest

logger = logging.getLogger(__name__)

SPLITS = ("scaffold", "random", "context")
N_FOLDS = 5
INTERVAL_LEVELS = (0.8, 0.9)
MIN_GROUP_SIZE = 5  # smaller context or mechanism groups get no metrics of their own: too noisy to read
_QUERY_BLOCK = 512  # nearest-neighbour queries per matrix product: bounds memory on big training sets


def _groups(keys: list[str]) -> list[list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        groups[key].append(i)
    return list(groups.values())  # first-appearance order: deterministic


def _index(rows: list[int]) -> np.ndarray:
    return np.array(sorted(rows), dtype=np.int64)  # int even when empty, so it can always index an array


def group_split(
    keys: list[str], test_fraction: float = 0.2, seed: int = 0, big_groups_train: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Whole groups go to one side. Groups are shuffled with ``seed`` and fill the training side to its share.

    With ``big_groups_train`` (scaffolds, as in chemprop) groups larger than half the test set always train, so
    the test set is not one series. Without it (a few big contexts), groups join the test side while it stays
    under 1.5 times its share, and the smallest group is held out if none fits.
    """
    groups = _groups(keys)
    n_test_target = int(len(keys) * test_fraction)
    train: list[int] = []
    test: list[int] = []
    if big_groups_train:
        small = [g for g in groups if len(g) <= n_test_target / 2]
        train = [i for g in groups if len(g) > n_test_target / 2 for i in g]
        order = np.random.default_rng(seed).permutation(len(small))
        n_train_target = len(keys) - n_test_target
        for k in order:
            (train if len(train) + len(small[k]) <= n_train_target else test).extend(small[k])
        return _index(train), _index(test)
    for k in np.random.default_rng(seed).permutation(len(groups)):
        (test if len(test) + len(groups[k]) <= 1.5 * n_test_target else train).extend(groups[k])
    if not test and len(groups) > 1:
        smallest = min(groups, key=len)
        test, train = smallest, [i for g in groups if g is not smallest for i in g]
    return _index(train), _index(test)


def scaffold_split(
    canonical_smiles: list[str], test_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Balanced scaffold split: whole Murcko-scaffold groups on one side, big groups always train."""
    return group_split([murcko_scaffold(s) for s in canonical_smiles], test_fraction, seed)


def split_keys(split: str, canonical_smiles: list[str], contexts: dict[str, list[str]],
               scaffolds: list[str] | None = None) -> list[str]:
    """The group of each row for ``split``; a split the data cannot support is a 400. ``scaffolds``: the rows'
    Murcko scaffolds when the features file already holds them."""
    if split not in SPLITS:
        raise InvalidRequest(f"unknown split '{split}'", {"known_splits": list(SPLITS)})
    if split == "scaffold":
        return list(scaffolds) if scaffolds is not None else [murcko_scaffold(s) for s in canonical_smiles]
    if split == "context":
        if not contexts:
            raise InvalidRequest("split 'context' needs a dataset with a context column", {"split": split})
        return list(next(iter(contexts.values())))
    return [str(i) for i in range(len(canonical_smiles))]


def grouped_folds(keys: list[str], n_folds: int, seed: int) -> np.ndarray:
    """The fold of each row: groups, largest first (ties in seeded order), each to the currently smallest fold."""
    groups = _groups(keys)
    tiebreak = np.random.default_rng(seed).permutation(len(groups))
    order = sorted(range(len(groups)), key=lambda g: (-len(groups[g]), tiebreak[g]))
    sizes = np.zeros(min(n_folds, len(groups)), dtype=np.int64)
    folds = np.empty(len(keys), dtype=np.int64)
    for g in order:
        k = int(np.argmin(sizes))
        folds[groups[g]] = k
        sizes[k] += len(groups[g])
    return folds


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float | None]:
    """RMSE, MAE, R² and Spearman; Spearman is null where it is undefined (a constant side, or n < 2)."""
    residuals = y_true - y_pred
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
    spearman = float(spearmanr(y_true, y_pred).statistic) if len(y_true) > 1 else math.nan
    return {
        "rmse": round(float(np.sqrt(np.mean(residuals**2))), 4),
        "mae": round(float(np.mean(np.abs(residuals))), 4),
        "r2": round(1 - float(np.sum(residuals**2)) / ss_tot, 4) if ss_tot else 0.0,
        "spearman": round(spearman, 4) if math.isfinite(spearman) else None,
        "n": int(len(y_true)),
    }


def rmse(residuals: np.ndarray) -> float:
    return float(np.sqrt(np.mean(residuals**2)))


def conformal_half_width(abs_residuals: np.ndarray, coverage: float) -> float:
    """Split-conformal quantile: the k-th smallest absolute residual, k = ceil((n+1)c), capped at the largest."""
    k = min(len(abs_residuals), math.ceil((len(abs_residuals) + 1) * coverage))
    return round(float(np.sort(abs_residuals)[k - 1]), 4)


def nearest_neighbours(train_packed: np.ndarray, query_packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each query's highest Tanimoto similarity to the training fingerprints, and which training row it is."""
    train = np.unpackbits(train_packed, axis=1, count=N_BITS).astype(np.float32)
    counts = train.sum(axis=1, dtype=np.float64)
    best = np.zeros(len(query_packed))
    which = np.zeros(len(query_packed), dtype=np.int64)
    if len(train) == 0:
        return best, which
    for start in range(0, len(query_packed), _QUERY_BLOCK):
        query = np.unpackbits(query_packed[start : start + _QUERY_BLOCK], axis=1, count=N_BITS).astype(np.float32)
        shared = (query @ train.T).astype(np.float64)  # integer counts: exact in float32 up to 2**24 bits
        union = query.sum(axis=1, dtype=np.float64)[:, None] + counts[None, :] - shared
        similarity = np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)
        which[start : start + len(query)] = similarity.argmax(axis=1)
        best[start : start + len(query)] = similarity.max(axis=1)
    return best, which


def predict(model: RegressorMixin, x: np.ndarray) -> np.ndarray:
    """Predictions that do not depend on thread timing, so a card's metrics are reproducible to the last digit.

    With ``n_jobs=-1`` a forest sums its trees in thread completion order, which moves the last ulp; where two
    molecules tie, that reorders them and changes Spearman. One thread sums in tree order (as served).
    """
    if "n_jobs" in model.get_params():
        model.set_params(n_jobs=1)
    return model.predict(x)


@dataclass
class Holdout:
    predictions: np.ndarray
    metrics: dict[str, Any]
    mean_predictor_rmse: float  # predicting the training side's mean
    nearest_neighbour_rmse: float  # predicting the activity of the most similar training molecule
    similarity: np.ndarray  # each test row's nearest-neighbour similarity to the training side
    sigma_kind: str  # ``spread.TREE_SPREAD`` or ``spread.NEIGHBOUR_DISTANCE``
    sigma: np.ndarray  # each test row's sigma under the held-out model (neighbours: on the training side)


def fold_sigmas(
    model: RegressorMixin, x: np.ndarray, train_packed: np.ndarray, query_packed: np.ndarray
) -> tuple[str, np.ndarray]:
    """``spread.sigmas`` of the rows ``x`` (fingerprints ``query_packed``) under a model fitted on ``train_packed``."""
    return sigmas(model, x, lambda: on_bits_of(query_packed), lambda: NearestNeighbourIndex(train_packed))


def evaluate_holdout(
    x: np.ndarray, y: np.ndarray, ad_packed: np.ndarray, train: np.ndarray, test: np.ndarray,
    estimator_spec: dict[str, Any], seed: int,
) -> Holdout:
    model, _ = make_estimator(estimator_spec, seed)
    model.fit(x[train], y[train])
    predictions = predict(model, x[test])
    similarity, nearest = nearest_neighbours(ad_packed[train], ad_packed[test])
    kind, sigma = fold_sigmas(model, x[test], ad_packed[train], ad_packed[test])
    return Holdout(
        predictions=predictions,
        metrics=regression_metrics(y[test], predictions),
        mean_predictor_rmse=rmse(y[test] - y[train].mean()),
        nearest_neighbour_rmse=rmse(y[test] - y[train][nearest]),
        similarity=similarity,
        sigma_kind=kind,
        sigma=sigma,
    )


def cross_validate(
    x: np.ndarray, y: np.ndarray, ad_packed: np.ndarray, folds: np.ndarray, estimator_spec: dict[str, Any], seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-fold predictions of the model and of the mean predictor, each row's similarity to other folds, and
    its sigma under the fold model that predicted it (``spread.sigmas``: its kind is the holdout's)."""
    predictions, means, similarity, sigma = np.zeros(len(y)), np.zeros(len(y)), np.zeros(len(y)), np.zeros(len(y))
    for k in range(int(folds.max()) + 1):
        inside, outside = folds == k, folds != k
        model, _ = make_estimator(estimator_spec, seed)
        model.fit(x[outside], y[outside])
        predictions[inside] = predict(model, x[inside])
        means[inside] = y[outside].mean()
        similarity[inside] = nearest_neighbours(ad_packed[outside], ad_packed[inside])[0]
        sigma[inside] = fold_sigmas(model, x[inside], ad_packed[outside], ad_packed[inside])[1]
    return predictions, means, similarity, sigma


def group_metrics(y: np.ndarray, predictions: np.ndarray, labels: list[str]) -> dict[str, dict[str, Any]]:
    """Metrics per label with at least ``MIN_GROUP_SIZE`` rows; empty labels (unlabelled rows) are skipped."""
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        if label != "":
            by_label[label].append(i)
    return {label: regression_metrics(y[rows], predictions[rows])
            for label, rows in sorted(by_label.items()) if len(rows) >= MIN_GROUP_SIZE}
