"""services/causal/coverage.py: the similarity level from which the model's cross-validated error is average.

All data here is SYNTHETIC (constructed similarities, errors and fingerprints), chosen so that the answer is known.
"""

from __future__ import annotations

import numpy as np
import pytest

from services.causal.coverage import (
    COVERAGE_RULE,
    coverage_section,
    out_of_fold_similarity,
    structure_groups,
    well_covered_similarity,
)
from services.causal.focus import cross_validated, series_cross_validated


def test_synthetic_error_falling_with_similarity_puts_the_level_where_the_fit_meets_the_average():
    """SYNTHETIC: error = 1 - similarity + noise, similarity uniform on [0, 1]: the average error is ~0.5, met
    at similarity ~0.5."""
    rng = np.random.default_rng(0)
    similarity = rng.uniform(0, 1, 2000)
    error = np.clip(1 - similarity + rng.normal(0, 0.1, 2000), 0, None)
    level = well_covered_similarity(similarity, error)
    assert 0.42 < level < 0.58
    assert error[similarity >= level].mean() < error.mean() < error[similarity < level].mean()


def test_synthetic_step_in_error_gives_the_step():
    """SYNTHETIC: error 1.0 below similarity 0.5, 0.2 from 0.5 on (average 0.6): the level is the first
    similarity at or above 0.5."""
    similarity = np.linspace(0.2, 0.8, 61)
    error = np.where(similarity < 0.5 - 1e-9, 1.0, 0.2)
    assert well_covered_similarity(similarity, error) == pytest.approx(0.5, abs=1e-4)


@pytest.mark.parametrize("slope", [0.0, 1.0])
def test_synthetic_error_not_falling_with_similarity_excludes_nothing(slope):
    """SYNTHETIC: flat, or rising, error: the monotone fit is flat at the average; the level is the lowest
    similarity, so the condition flags no molecule."""
    similarity = np.linspace(0.1, 0.9, 81)
    error = 0.5 + slope * similarity
    assert well_covered_similarity(similarity, error) == pytest.approx(0.1)


def test_the_level_is_seen_and_rounded():
    rng = np.random.default_rng(1)
    similarity = rng.uniform(0, 1, 300)
    level = well_covered_similarity(similarity, 1 - similarity)
    assert level == round(level, 4) and similarity.min() - 1e-4 <= level <= similarity.max() + 1e-4
    assert well_covered_similarity(np.array([]), np.array([])) == 0.0


def brute_force(bits, folds):
    dense = np.zeros((len(bits), 2048), dtype=bool)
    for i, on in enumerate(bits):
        dense[i, on] = True
    out = np.zeros(len(bits))
    for i in range(len(bits)):
        others = dense[folds != folds[i]]
        shared = (others & dense[i]).sum(axis=1)
        out[i] = (shared / (others.sum(axis=1) + dense[i].sum() - shared)).max()
    return out


def test_out_of_fold_similarity_is_the_nearest_neighbour_in_the_other_folds():
    """SYNTHETIC fingerprints: random on-bits; a molecule's twin in its own fold must not count."""
    rng = np.random.default_rng(2)
    bits = [sorted(rng.choice(2048, 30, replace=False).tolist()) for _ in range(40)]
    bits[1] = list(bits[0])  # twins, same fold
    folds = np.arange(40) % 3
    folds[1] = folds[0]
    similarity = out_of_fold_similarity(bits, folds)
    np.testing.assert_allclose(similarity, brute_force(bits, folds))
    assert similarity[0] < 1.0


def test_coverage_section_summarises_the_calibration():
    """SYNTHETIC: fingerprints that share more bits with the other folds get smaller errors."""
    rng = np.random.default_rng(3)
    core = list(range(40))
    bits, errors = [], []
    for i in range(90):
        kept = int(rng.integers(5, 40))
        bits.append(sorted(core[:kept] + (60 + (21 * i) % 1900 + np.arange(40 - kept)).tolist()))
        errors.append(1.0 - kept / 40)
    folds = np.arange(90) % 3
    section = coverage_section(bits, folds, np.array(errors))
    assert section["method"] == COVERAGE_RULE
    assert 0 < section["well_covered_similarity"] < 1
    assert section["mae_well_covered"] <= section["mae_out_of_fold"]
    assert 0 < section["share_well_covered"] < 1
    assert sum(b["n"] for b in section["per_similarity"]) == 90
    assert section["applied"] and section["series_check"] is None  # no check given: the level applies
    assert section["calibrated_similarity"] == section["well_covered_similarity"]

    failed = coverage_section(bits, folds, np.array(errors), {"n": 90, "spearman": 0.1, "p_value": 0.8,
                                                              "passed": False})
    assert failed["well_covered_similarity"] is None and not failed["applied"]
    assert failed["calibrated_similarity"] == section["well_covered_similarity"]
    assert failed["series_check"]["p_value"] == 0.8 and failed["note"].startswith("not applied")
    passed = coverage_section(bits, folds, np.array(errors), {"n": 90, "spearman": -0.4, "p_value": 0.001,
                                                              "passed": True})
    assert passed["well_covered_similarity"] == section["well_covered_similarity"] and "note" not in passed


def test_identical_fingerprints_share_a_structure_group():
    """SYNTHETIC: the same compound measured on three targets is one structure; bit order does not matter."""
    groups = structure_groups([[1, 5, 9], [2, 3], [9, 5, 1], [1, 5, 9], [2, 4]])
    assert groups.tolist() == [0, 1, 0, 0, 2]


def test_grouped_cross_validation_keeps_a_structure_in_one_fold():
    """SYNTHETIC rows: 60 structures, each repeated 1-3 times; a repeat never lands in another fold."""
    rng = np.random.default_rng(4)
    groups = np.repeat(np.arange(60), rng.integers(1, 4, 60))
    x = rng.normal(size=(len(groups), 5))
    y = x[:, 0] + rng.normal(0, 0.1, len(groups))
    folds, predicted = cross_validated(x, y, {"name": "random_forest", "params": {"n_estimators": 5}}, 0, groups)
    for g in range(60):
        assert len(set(folds[groups == g])) == 1
    assert set(folds.tolist()) == {0, 1, 2} and predicted.shape == y.shape


def test_series_folds_hold_out_whole_scaffolds_and_fill_the_spread():
    """SYNTHETIC: 12 scaffolds of 3 to 30 rows; every scaffold lies in one fold and the folds are balanced."""
    rng = np.random.default_rng(5)
    sizes = rng.integers(3, 31, 12)
    scaffolds = [f"scaffold{k}" for k, n in enumerate(sizes) for _ in range(n)]
    x = rng.normal(size=(len(scaffolds), 4))
    y = x[:, 0] + rng.normal(0, 0.1, len(scaffolds))
    spread = np.full(len(y), np.nan)
    folds, predicted = series_cross_validated(x, y, {"name": "random_forest", "params": {"n_estimators": 5}}, 0,
                                              scaffolds, spread)
    for key in set(scaffolds):
        assert len({folds[i] for i, s in enumerate(scaffolds) if s == key}) == 1
    counts = np.bincount(folds)
    assert len(counts) == 3 and counts.max() - counts.min() <= sizes.max()
    assert predicted.shape == y.shape and not np.isnan(spread).any() and (spread >= 0).all()


def test_a_single_series_has_nothing_to_hold_out():
    """SYNTHETIC: every molecule on one scaffold: no series check (None), rather than a fold with no training data."""
    rng = np.random.default_rng(6)
    x = rng.normal(size=(30, 4))
    assert series_cross_validated(x, x[:, 0], {"name": "random_forest", "params": {"n_estimators": 5}}, 0,
                                  ["c1ccccc1"] * 30) is None
