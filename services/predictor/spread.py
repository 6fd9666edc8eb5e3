"""How hard a molecule is for a model: the per-molecule sigma that scales its conformal interval.

Rule: for a tree ensemble (``random_forest``, ``extra_trees``: an estimator whose ``estimators_`` are scikit-learn
trees) sigma is the *tree spread*, the standard deviation (ddof=1) of the individual trees' predictions. ddof=1
because calibration models (cross-validation folds) and the served model may hold different numbers of trees: the
unbiased variance keeps them on one scale. Every other estimator (knn, hist_gradient_boosting) gets the *neighbour
distance*: the mean Tanimoto distance (1 - similarity) to the ``K_NEIGHBOURS`` most similar training molecules on the
applicability-domain fingerprint (``shared.applicability``), against the molecules that model was trained on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.base import RegressorMixin

from shared.applicability import N_BITS, NearestNeighbourIndex

logger = logging.getLogger(__name__)

TREE_SPREAD = "tree_spread"
NEIGHBOUR_DISTANCE = "neighbour_distance"
K_NEIGHBOURS = 5  # scikit-learn's default k: a few neighbours, so one near-duplicate does not make a molecule easy
SIGMA_DESCRIPTIONS = {
    TREE_SPREAD: "standard deviation (ddof=1) of the individual trees' predictions, in pActivity units",
    NEIGHBOUR_DISTANCE: f"mean Tanimoto distance to the {K_NEIGHBOURS} most similar training molecules "
                        "(applicability-domain fingerprint)",
}


def has_trees(estimator: Any) -> bool:
    return bool(getattr(estimator, "estimators_", None)) and hasattr(estimator.estimators_[0], "tree_")


def tree_predictions(estimator: RegressorMixin | None, x: np.ndarray) -> np.ndarray | None:
    """Each tree's predictions (trees x rows, in the forest's order); None for an estimator without trees."""
    if estimator is None or not has_trees(estimator):
        return None
    return _per_tree(estimator, x)


def _per_tree(estimator: RegressorMixin, x: np.ndarray) -> np.ndarray:
    x32 = np.ascontiguousarray(x, dtype=np.float32)  # what the forest itself hands its trees
    # The fitted tree's own Cython predict, as DecisionTreeRegressor.predict calls it once its checks pass: those
    # checks (fitted? tags?) cost more than the prediction itself, once per tree per chunk.
    return np.stack([tree.tree_.predict(x32)[:, 0] for tree in estimator.estimators_])


def forest_mean(per_tree: np.ndarray) -> np.ndarray:
    """The forest's prediction from its trees' (``tree_predictions``): summed in tree order, then divided, as
    scikit-learn's single-threaded ``predict`` does, so the values are the same; it spares the scoring step a
    second pass over every tree and joblib's thread pool on every chunk."""
    total = np.zeros(per_tree.shape[1], dtype=np.float64)
    for row in per_tree:
        total += row
    total /= len(per_tree)
    return total


def tree_spread(estimator: RegressorMixin | None, x: np.ndarray,
                per_tree: np.ndarray | None = None) -> np.ndarray | None:
    """Per row of ``x``, the standard deviation (ddof=1) of the trees' predictions (``per_tree`` when the caller
    has them); None for other estimators."""
    if estimator is None or not has_trees(estimator) or len(estimator.estimators_) < 2:
        return None
    per_tree = _per_tree(estimator, x) if per_tree is None else per_tree
    return per_tree.std(axis=0, ddof=1)


def on_bits_of(packed: np.ndarray, n_bits: int = N_BITS) -> list[list[int]]:
    """Packed fingerprints (as stored in a model version) back to on-bit lists (as molecules carry them)."""
    return [np.flatnonzero(row).tolist() for row in np.unpackbits(packed, axis=1, count=n_bits)]


def neighbour_distance(index: NearestNeighbourIndex, on_bits: Sequence[Sequence[int]],
                       k: int = K_NEIGHBOURS) -> np.ndarray:
    return np.array([index.mean_distance(list(bits), k) for bits in on_bits], dtype=np.float64)


def sigmas(
    estimator: RegressorMixin, x: np.ndarray, on_bits: Callable[[], Sequence[Sequence[int]]],
    index: Callable[[], NearestNeighbourIndex], per_tree: np.ndarray | None = None,
) -> tuple[str, np.ndarray]:
    """(kind, sigma per row of ``x``). ``on_bits`` and ``index`` are called only for the neighbour distance, so a
    tree ensemble never loads or unpacks training fingerprints; ``per_tree``: its trees' predictions, if known."""
    spread = tree_spread(estimator, x, per_tree)
    if spread is not None:
        return TREE_SPREAD, spread
    return NEIGHBOUR_DISTANCE, neighbour_distance(index(), on_bits())
