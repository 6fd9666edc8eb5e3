"""How well the model knows a molecule's chemistry: the similarity from which its cross-validated error is average.

Calibrated on the TRAINING data only, from a cross-validation of the pooled model (``focus.cross_validated``:
the focus step's capped estimator, seeded folds): for each training molecule, its out-of-fold absolute error and
its nearest-neighbour Tanimoto similarity (ECFP4-like bits, ``shared.applicability.NearestNeighbourIndex``) to
the molecules of the other folds, i.e. to the data its out-of-fold prediction was trained on.

The folds of this cross-validation are drawn over *structures*, not rows: molecules with identical fingerprint
bits (the same compound measured on several targets or assays, or stereoisomers the bits cannot tell apart)
share a fold (``structure_groups``). With row folds, such a compound's twin sits in the other folds, so its
similarity is 1.0 and its out-of-fold error is that of a compound already seen: the calibration would then
describe memorised compounds, not how error falls as chemistry gets less familiar.

Rule: fit the absolute error as a non-increasing (isotonic) function of that similarity; the
``well_covered_similarity`` is the smallest similarity at which the fit is at or below the overall out-of-fold
MAE. From that level on, the model's cross-validated error was at or below its average. (The literal "smallest s
such that the molecules with similarity >= s have MAE <= the overall MAE" is met trivially at the lowest
similarity, where that set is every molecule; the monotone fit asks the question locally instead.) When error does
not fall with similarity, the fit is flat at the average and the level is the lowest similarity seen: the
condition then excludes nothing.

Series check (``calibration.series_check``): structure folds keep a series' analogues in the other folds, so there
similarity always seems to matter. A second cross-validation holds out whole Murcko scaffolds, as new series
arrive; when error does not fall with similarity there (one-sided Spearman, p < 0.05), the level is stored as
``calibrated_similarity`` only and ``well_covered_similarity`` is null: the condition is not applied.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from services.causal.calibration import error_level, gated_level, rounded
from shared.applicability import NearestNeighbourIndex, pack_fingerprints

COVERAGE_RULE = (
    "well_covered_similarity: in a 3-fold cross-validation of the pooled model whose folds keep molecules with "
    "identical fingerprint bits together, each training molecule's out-of-fold absolute error is fitted as a "
    "non-increasing (isotonic) function of its nearest-neighbour Tanimoto similarity to the other folds; the level "
    "is the smallest similarity at which that fit is at or below the overall out-of-fold MAE; applied only when, "
    "in a second 3-fold cross-validation holding out whole Murcko scaffolds, error falls with similarity "
    "(one-sided Spearman p < 0.05)"
)
NOT_APPLIED = ("not applied: on held-out scaffolds the model's error does not fall with similarity to the "
               "training data, so similarity does not tell how well it knows a new series")
SIMILARITY_BINS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.01)


def well_covered_similarity(similarities: np.ndarray, abs_errors: np.ndarray) -> float:
    """The smallest similarity at which the isotonic (non-increasing) fit of error is <= the overall MAE."""
    return error_level(similarities, abs_errors, error_rises=False)


def structure_groups(ad_bits: list[list[int]]) -> np.ndarray:
    """One id per molecule (0..k-1, in order of first appearance); identical fingerprint bits share an id."""
    ids: dict[tuple[int, ...], int] = {}
    return np.array([ids.setdefault(tuple(sorted(bits)), len(ids)) for bits in ad_bits], dtype=int)


def out_of_fold_similarity(ad_bits: list[list[int]], folds: np.ndarray) -> np.ndarray:
    """Each molecule's max Tanimoto similarity to the molecules outside its fold."""
    similarity = np.zeros(len(ad_bits))
    packed = pack_fingerprints(ad_bits)
    for fold in np.unique(folds):
        inside = np.flatnonzero(folds == fold)
        index = NearestNeighbourIndex(packed[folds != fold])
        for i in inside:
            similarity[i] = index.max_similarity(ad_bits[i])
    return similarity


def coverage_section(
    ad_bits: list[list[int]], folds: np.ndarray, abs_errors: np.ndarray, check: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``check``: the ``calibration.series_check`` of similarity on scaffold folds; failed, the level is null."""
    similarity = out_of_fold_similarity(ad_bits, folds)
    level = well_covered_similarity(similarity, abs_errors)
    bins = []
    for low, high in zip(SIMILARITY_BINS[:-1], SIMILARITY_BINS[1:], strict=True):
        chosen = abs_errors[(similarity >= low) & (similarity < high)]
        bins.append({"similarity_from": low, "similarity_to": min(high, 1.0), "n": int(len(chosen)),
                     "mae": rounded(chosen.mean()) if len(chosen) else None})
    return {
        "method": COVERAGE_RULE,
        **gated_level("well_covered_similarity", "calibrated_similarity", level, check, NOT_APPLIED),
        "mae_out_of_fold": rounded(abs_errors.mean()),
        "share_well_covered": round(float(np.mean(similarity >= level)), 4) if len(similarity) else 0.0,
        "mae_well_covered": rounded(abs_errors[similarity >= level].mean()) if len(similarity) else None,
        "per_similarity": bins,
    }
