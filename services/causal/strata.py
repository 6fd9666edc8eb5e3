"""Within-stratum comparisons, shown beside the adjusted effect so a chemist can see where it comes from.

A stratum is one joint level of all the confounders (say one assay of one isoform). Only a stratum holding at
least ``min_arm`` molecules with the treatment and ``min_arm`` without compares the treatment at equal context.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def stratum_effects(
    t: np.ndarray, y: np.ndarray, strata: np.ndarray, min_rows: int, min_arm: int
) -> list[dict[str, Any]]:
    """Difference in mean pActivity inside every stratum big enough and overlapping, largest strata first."""
    labels, inverse = np.unique(strata, return_inverse=True)
    effects = []
    for i, label in enumerate(labels):
        rows = np.flatnonzero(inverse == i)
        treated = t[rows] == 1
        if len(rows) >= min_rows and min_arm <= treated.sum() <= len(rows) - min_arm:
            effect = float(y[rows][treated].mean() - y[rows][~treated].mean())
            effects.append({"stratum": str(label), "n": int(len(rows)), "n_treated": int(treated.sum()),
                            "effect": round(effect, 4)})
    return sorted(effects, key=lambda e: (-e["n"], e["stratum"]))
