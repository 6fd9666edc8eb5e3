"""Estimator registry: names a model card can state, mapped to deterministic scikit-learn regressors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.ensemble import ExtraTreesRegressor, HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.neighbors import KNeighborsRegressor

from shared import catalog


class TanimotoNeighboursRegressor(KNeighborsRegressor):
    """k nearest neighbours by Tanimoto (Jaccard) similarity of feature presence.

    Jaccard compares presence, so counts are made booleans here, explicitly, rather than by scikit-learn with a
    DataConversionWarning on every call.
    """

    def fit(self, X: Any, y: Any) -> TanimotoNeighboursRegressor:  # noqa: N803 (scikit-learn's signature)
        return super().fit(np.asarray(X) > 0, y)

    def predict(self, X: Any) -> np.ndarray:  # noqa: N803
        return super().predict(np.asarray(X) > 0)

# name -> builder taking the full parameters and the seed; names and defaults live in shared.catalog.
BUILDERS: dict[str, Callable[[dict[str, Any], int], RegressorMixin]] = {
    "random_forest": lambda p, seed: RandomForestRegressor(**p, random_state=seed, n_jobs=-1),
    "extra_trees": lambda p, seed: ExtraTreesRegressor(**p, random_state=seed, n_jobs=-1),
    "hist_gradient_boosting": lambda p, seed: HistGradientBoostingRegressor(**p, random_state=seed),
    "knn": lambda p, seed: TanimotoNeighboursRegressor(**p, metric="jaccard"),
}


def make_estimator(spec: dict[str, Any], seed: int) -> tuple[RegressorMixin, dict[str, Any]]:
    """The regressor and its full spec; unknown names and parameters get a 400 listing the known ones."""
    full = catalog.resolve_spec("estimator", catalog.ESTIMATORS, spec)
    return BUILDERS[full["name"]](full["params"], seed), full
