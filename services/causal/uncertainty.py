"""The model's own uncertainty: how much the trees of an ensemble disagree on a molecule, and from where it matters.

Signal: for a tree ensemble (``random_forest``, ``extra_trees``: an estimator with ``estimators_``), the *spread*
of a prediction is the standard deviation (ddof=1) of the individual trees' predictions. ddof=1 because the
calibration's fold models are capped at ``focus.MAX_TREES`` trees while the served model usually has more: the
unbiased variance keeps the two on one scale. Other estimators (knn, hist_gradient_boosting) have no spread.

Calibrated on the TRAINING data only, in the coverage cross-validation (``coverage.py``: folds over distinct
structures, the focus step's capped estimator): each training molecule's out-of-fold absolute error and the spread
of the fold model that predicted it.

Rule: fit the absolute error as a non-decreasing (isotonic) function of the spread; the ``confident_spread`` is the
largest spread at which the fit is still at or below the overall out-of-fold MAE. Up to that level the model's
cross-validated error was at or below its average. When error does not rise with spread, the fit is flat at the
average and the level is the largest spread seen: the condition then excludes (almost) nothing. Fold models are
trained on two thirds of the data, so their trees tend to disagree somewhat more than the served model's: the level
errs on the permissive side.

Series check (``calibration.series_check``), as for coverage: in a second cross-validation holding out whole Murcko
scaffolds, error must rise with the spread (one-sided Spearman, p < 0.05); otherwise ``confident_spread`` is null
(the level stays as ``calibrated_spread``) and the condition is not applied.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from services.causal.calibration import error_level, gated_level, rounded
from services.predictor.spread import has_trees as has_trees  # moved there; re-exported for the callers here
from services.predictor.spread import tree_spread as tree_spread

UNCERTAINTY_RULE = (
    "confident_spread: for a tree ensemble, a prediction's spread is the standard deviation (ddof=1) of its trees' "
    "predictions; in the coverage cross-validation (3 folds keeping identical fingerprint bits together), each "
    "training molecule's out-of-fold absolute error is fitted as a non-decreasing (isotonic) function of its fold "
    "model's spread; the level is the largest spread at which that fit is at or below the overall out-of-fold MAE; "
    "applied only when, in a second 3-fold cross-validation holding out whole Murcko scaffolds, error rises with "
    "the spread (one-sided Spearman p < 0.05). Not applicable (null) to estimators that are not tree ensembles"
)
NOT_APPLIED = ("not applied: on held-out scaffolds the model's error does not rise with its trees' spread, so the "
               "spread does not tell how sure it is about a new series")
SPREAD_QUANTILES = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)


def confident_spread(spreads: np.ndarray, abs_errors: np.ndarray) -> float:
    """The largest spread at which the isotonic (non-decreasing) fit of error is <= the overall MAE."""
    return error_level(spreads, abs_errors, error_rises=True)


def uncertainty_section(
    estimator_name: str | None, spreads: np.ndarray | None, abs_errors: np.ndarray,
    check: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``check``: the ``calibration.series_check`` of the spread on scaffold folds; failed, the level is null."""
    if spreads is None:
        return {"method": UNCERTAINTY_RULE, "confident_spread": None,
                "note": f"not applicable: {estimator_name} is not a tree ensemble, so the condition is skipped"}
    if len(spreads) == 0:
        return {"method": UNCERTAINTY_RULE, "confident_spread": None, "note": "no training molecules"}
    level = confident_spread(spreads, abs_errors)
    confident = spreads <= level
    edges = np.quantile(spreads, SPREAD_QUANTILES)
    bins = []
    for q_low, q_high, low, high in zip(SPREAD_QUANTILES[:-1], SPREAD_QUANTILES[1:], edges[:-1], edges[1:],
                                        strict=True):
        chosen = abs_errors[(spreads >= low) & ((spreads < high) if q_high < 1.0 else (spreads <= high))]
        bins.append({"quantile_from": q_low, "spread_from": rounded(low), "spread_to": rounded(high),
                     "n": int(len(chosen)), "mae": rounded(chosen.mean()) if len(chosen) else None})
    return {
        "method": UNCERTAINTY_RULE,
        **gated_level("confident_spread", "calibrated_spread", level, check, NOT_APPLIED),
        "mae_out_of_fold": rounded(abs_errors.mean()),
        "share_confident": round(float(confident.mean()), 4),
        "mae_confident": rounded(abs_errors[confident].mean()),
        "per_spread_quantile": bins,
    }
