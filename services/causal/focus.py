"""The model's focus on each mechanism: does pooling the mechanisms cost accuracy inside this one?

Three-fold cross-validation (seeded folds) with the model's own featurizer and estimator spec. For each
mechanism m with at least ``MIN_SPECIALIST_ROWS`` molecules:

- ``rmse_pooled``: RMSE on m's molecules of the pooled model (trained on every mechanism's training folds);
- ``rmse_specialist``: RMSE on the same molecules of a specialist trained on m's training folds only;
- ``focus = min(1, rmse_specialist / rmse_pooled)``.

Focus 1 means the pooled model predicts this mechanism as well as a model that knows nothing else; a low focus
means the other mechanisms pull its predictions away (their SAR is learnt instead). Smaller mechanisms get
``focus = null``. Cost control: tree ensembles are capped at ``MAX_TREES`` trees and boosting at
``MAX_BOOSTING_ITERATIONS`` rounds here; both models get the same cap, so the ratio stays fair.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.model_selection import KFold

from services.causal import uncertainty
from services.predictor.estimators import make_estimator
from services.predictor.evaluation import grouped_folds

logger = logging.getLogger(__name__)

FOLDS = 3
MIN_SPECIALIST_ROWS = 30
MAX_TREES, MAX_BOOSTING_ITERATIONS = 30, 100


def capped_spec(spec: dict[str, Any]) -> dict[str, Any]:
    params = dict(spec.get("params") or {})
    name = spec.get("name")
    if name in ("random_forest", "extra_trees"):
        params["n_estimators"] = min(int(params.get("n_estimators", MAX_TREES)), MAX_TREES)
    if name == "hist_gradient_boosting":
        params["max_iter"] = min(int(params.get("max_iter", MAX_BOOSTING_ITERATIONS)), MAX_BOOSTING_ITERATIONS)
    return {"name": name, "params": params}


def _out_of_fold(
    x: np.ndarray, y: np.ndarray, rows: np.ndarray, folds: np.ndarray, spec: dict, seed: int,
    spread: np.ndarray | None = None,
) -> np.ndarray:
    """Predictions for ``rows``, each from a model fitted on ``rows`` outside its fold.

    ``spread`` (length ``len(rows)``), when given, is filled with each row's tree spread (``uncertainty.py``)
    under its fold model, NaN for an estimator that is not a tree ensemble.
    """
    predicted = np.empty(len(rows))
    for fold in np.unique(folds[rows]):
        test = folds[rows] == fold
        model, _ = make_estimator(spec, seed)
        model.fit(x[rows[~test]], y[rows[~test]])
        predicted[test] = model.predict(x[rows[test]])
        if spread is not None:
            per_row = uncertainty.tree_spread(model, x[rows[test]])
            spread[test] = np.nan if per_row is None else per_row
    return predicted


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def cross_validated(
    x: np.ndarray, y: np.ndarray, estimator_spec: dict[str, Any], seed: int, groups: np.ndarray | None = None,
    spread: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The seeded fold of each row, and the pooled model's out-of-fold prediction of it.

    ``groups`` (one id per row, 0..k-1): rows of a group share a fold (the folds are drawn over the groups).
    ``spread`` (one per row), when given, is filled with each row's out-of-fold tree spread (NaN: no trees).
    """
    spec = capped_spec(estimator_spec)
    if groups is None:
        folds = np.empty(len(y), dtype=int)
        for fold, (_, test) in enumerate(KFold(FOLDS, shuffle=True, random_state=seed).split(x)):
            folds[test] = fold
    else:
        group_fold = np.empty(int(groups.max()) + 1, dtype=int)
        for fold, (_, test) in enumerate(KFold(FOLDS, shuffle=True, random_state=seed).split(group_fold)):
            group_fold[test] = fold
        folds = group_fold[groups]
    return folds, _out_of_fold(x, y, np.arange(len(y)), folds, spec, seed, spread)


def series_cross_validated(
    x: np.ndarray, y: np.ndarray, estimator_spec: dict[str, Any], seed: int, scaffolds: list[str],
    spread: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """As ``cross_validated``, with folds that hold out whole series: every Murcko scaffold in one fold, folds
    balanced by size (``grouped_folds``: a large series is not left to chance). The series check's data; None
    when the data hold a single series (nothing to hold out)."""
    if len(set(scaffolds)) < 2:
        return None
    folds = grouped_folds(scaffolds, FOLDS, seed)
    return folds, _out_of_fold(x, y, np.arange(len(y)), folds, capped_spec(estimator_spec), seed, spread)


def focus_section(
    x: np.ndarray, y: np.ndarray, mechanism_ids: np.ndarray, estimator_spec: dict[str, Any], seed: int,
    cv: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """``cv``: the (folds, pooled) of ``cross_validated`` with the same arguments, when already computed."""
    spec = capped_spec(estimator_spec)
    folds, pooled = cv if cv is not None else cross_validated(x, y, estimator_spec, seed)
    per_mechanism: dict[str, dict[str, Any]] = {}
    for m in range(int(mechanism_ids.max()) + 1):
        rows = np.flatnonzero(mechanism_ids == m)
        entry: dict[str, Any] = {"n": int(len(rows)), "rmse_pooled": round(_rmse(pooled[rows], y[rows]), 4)}
        if len(rows) >= MIN_SPECIALIST_ROWS and len(np.unique(folds[rows])) == FOLDS:
            specialist = _out_of_fold(x, y, rows, folds, spec, seed)
            entry["rmse_specialist"] = round(_rmse(specialist, y[rows]), 4)
            ratio = entry["rmse_specialist"] / entry["rmse_pooled"] if entry["rmse_pooled"] > 0 else 1.0
            entry["focus"] = round(min(1.0, ratio), 3)
        else:
            entry["rmse_specialist"], entry["focus"] = None, None
        per_mechanism[f"M{m + 1}"] = entry
    logger.info("focus: %s", {m: e["focus"] for m, e in per_mechanism.items()})
    return {
        "method": f"{FOLDS}-fold CV; focus = min(1, RMSE specialist / RMSE pooled) inside each mechanism",
        "estimator": spec,
        "rmse_pooled_overall": round(_rmse(pooled, y), 4),
        "per_mechanism": per_mechanism,
    }
