"""Levels calibrated on training out-of-fold errors, shared by coverage (similarity) and uncertainty (tree spread).

Error is fitted as a monotone (isotonic) function of a signal; the level is the edge of the region where that fit
is at or below the overall out-of-fold MAE: the region where the model does at least as well as on average.
"""

from __future__ import annotations

import numpy as np
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
