"""Estimator registry: names a model card can state, mapped to deterministic scikit-learn regressors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sklearn.base import RegressorMixin
from sklearn.ensemble import ExtraTreesRegressor, HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.neighbors import KNeighborsRegressor

from shared.errors import InvalidRequest

EstimatorBuilder = Callable[[dict[str, Any], int], RegressorMixin]

# name -> (default parameters, builder taking parameters and seed)
ESTIMATORS: dict[str, tuple[dict[str, Any], EstimatorBuilder]] = {
    "random_forest": (
        {"n_estimators": 200, "max_features": 0.2, "min_samples_leaf": 1},
        lambda p, seed: RandomForestRegressor(**p, random_state=seed, n_jobs=-1),
    ),
    "extra_trees": (
        {"n_estimators": 200, "max_features": 0.2, "min_samples_leaf": 1},
        lambda p, seed: ExtraTreesRegressor(**p, random_state=seed, n_jobs=-1),
    ),
    "hist_gradient_boosting": (
        {"max_iter": 300, "learning_rate": 0.1, "max_leaf_nodes": 31},
        lambda p, seed: HistGradientBoostingRegressor(**p, random_state=seed),
    ),
    "knn": ({"n_neighbors": 5, "weights": "distance"}, lambda p, seed: KNeighborsRegressor(**p, metric="jaccard")),
}


def make_estimator(spec: dict[str, Any], seed: int) -> tuple[RegressorMixin, dict[str, Any]]:
    """The regressor and its full parameter set; unknown names and parameters get a 400 listing the known."""
    name = spec.get("name", "")
    if name not in ESTIMATORS:
        raise InvalidRequest(f"unknown estimator '{name}'", {"known_estimators": sorted(ESTIMATORS)})
    defaults, build = ESTIMATORS[name]
    unknown = set(spec.get("params", {})) - set(defaults)
    if unknown:
        raise InvalidRequest(
            f"unknown parameters for estimator '{name}': {sorted(unknown)}", {"known_parameters": sorted(defaults)}
        )
    params = {**defaults, **spec.get("params", {})}
    return build(params, seed), {"name": name, "params": params}
