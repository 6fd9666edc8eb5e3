"""Within-stratum comparisons: per-stratum effects and the Simpson check.

A stratum is one joint level of all the confounders (say one assay within one mechanism). Only a stratum holding
at least ``min_arm`` molecules with the treatment and ``min_arm`` without compares the treatment at equal
confounders.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _groups(strata: np.ndarray) -> dict[str, np.ndarray]:
    labels, inverse = np.unique(strata, return_inverse=True)
    return {str(label): np.flatnonzero(inverse == i) for i, label in enumerate(labels)}


def stratum_effects(
    t: np.ndarray, y: np.ndarray, strata: np.ndarray, min_rows: int, min_arm: int
) -> list[dict[str, Any]]:
    """Difference in mean pActivity inside every stratum big enough and overlapping, largest strata first."""
    effects = []
    for label, rows in _groups(strata).items():
        treated = t[rows] == 1
        if len(rows) >= min_rows and min_arm <= treated.sum() <= len(rows) - min_arm:
            effect = float(y[rows][treated].mean() - y[rows][~treated].mean())
            effects.append({"stratum": label, "n": int(len(rows)), "effect": round(effect, 4)})
    return sorted(effects, key=lambda e: (-e["n"], e["stratum"]))


def simpson_reversal(pooled: float | None, per_stratum: list[dict[str, Any]]) -> bool:
    """True when the pooled sign is opposite to the size-weighted majority of at least two strata's signs."""
    if pooled is None or pooled == 0 or len(per_stratum) < 2:
        return False
    vote = sum(s["n"] * np.sign(s["effect"]) for s in per_stratum)
    return bool(vote != 0 and np.sign(vote) != np.sign(pooled))
