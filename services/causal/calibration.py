"""Levels calibrated on training out-of-fold errors, shared by coverage (similarity) and uncertainty (tree spread).

Error is fitted as a monotone (isotonic) function of a signal; the level is the edge of the region where that fit
is at or below the overall out-of-fold MAE: the region where the model does at least as well as on average.
A level is applied only when its signal passes ``series_check`` (it still predicts error for held-out series).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr
from sklearn.isotonic import IsotonicRegression

TOLERANCE = 1e-9


def rounded(value: float) -> float:
    """4 decimals, after dropping float noise (parallel tree averaging varies in the last bits between runs)."""
    return round(round(float(value), 10), 4)


def error_level(signal: np.ndarray, abs_errors: np.ndarray, error_rises: bool) -> float:
    """Where the isotonic fit of error on ``signal`` is <= the overall MAE: the largest such signal when error rises
    with it (tree spread), the smallest when error falls with it (similarity). 0.0 for no data."""
    signal, abs_errors = np.asarray(signal, float), np.asarray(abs_errors, float)
    if len(signal) == 0:
        return 0.0
    fit = IsotonicRegression(increasing=error_rises, out_of_bounds="clip").fit(signal, abs_errors)
    grid = np.unique(signal)
    # Never empty: a monotone least-squares fit has the data's mean inside its range.
    at_or_below = np.flatnonzero(fit.predict(grid) <= abs_errors.mean() + TOLERANCE)
    return rounded(grid[at_or_below[-1] if error_rises else at_or_below[0]])


SERIES_CHECK_ALPHA = 0.05


def series_check(signal: np.ndarray, abs_errors: np.ndarray, error_rises: bool) -> dict[str, float | bool | int | None]:
    """Does ``signal`` still predict error when whole series are held out? One-sided Spearman test of the expected
    direction (error rises with tree spread, falls with similarity) on out-of-fold errors of scaffold folds.

    A level is calibrated where analogues of a molecule sit in the other folds; for a new chemical series the same
    signal may carry no information (a dense, cliff-rich series is predicted worse, not better, for being similar).
    A condition whose signal fails this check would sort predictions by noise, so it is not applied.
    """
    # Rounded first: parallel tree averaging varies in the last bits, which would reorder near-ties between runs.
    signal, abs_errors = np.round(np.asarray(signal, float), 9), np.round(np.asarray(abs_errors, float), 9)
    if len(signal) < 3 or np.ptp(signal) == 0 or np.ptp(abs_errors) == 0:
        return {"n": int(len(signal)), "spearman": None, "p_value": None, "passed": False}
    result = spearmanr(signal, abs_errors, alternative="greater" if error_rises else "less")
    p_value = float(result.pvalue)
    return {"n": int(len(signal)), "spearman": rounded(float(result.statistic)), "p_value": float(f"{p_value:.3g}"),
            "passed": p_value < SERIES_CHECK_ALPHA}


def gated_level(name: str, calibrated_name: str, level: float, check: dict | None, not_applied: str) -> dict:
    """The profile entries of a level behind its series check: ``name`` is null when the check failed (the
    condition is skipped), ``calibrated_name`` always holds the level; no check given means applied."""
    applied = check is None or bool(check["passed"])
    return {name: level if applied else None, calibrated_name: level, "applied": applied, "series_check": check,
            **({} if applied else {"note": not_applied})}
