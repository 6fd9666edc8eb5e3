"""services/predictor/conformal.py and spread.py: per-molecule (normalised conformal) intervals and their sigma.

Known-truth data: real AKT1 SMILES (the bundled ChEMBL file) with a SYNTHETIC outcome, y = signal + noise whose
standard deviation is set by one known fingerprint feature (0.15 without it, 1.2 with it). Nothing else is made up.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from crepes import ConformalRegressor

from services.causal import uncertainty
from services.featurizer.logic import featurize_molecule, make_featurizer
from services.predictor import spread
from services.predictor.conformal import (
    BETA_MULTIPLES,
    METHOD,
    MIN_BETA,
    SIMILARITY_EDGES,
    calibrate,
    choose_beta,
    coverage_by_similarity,
    half_widths,
    interval_section,
    served_half_widths,
)
from services.predictor.estimators import make_estimator
from services.predictor.evaluation import cross_validate, evaluate_holdout, group_split, grouped_folds
from services.predictor.reference import load_akt1
from services.predictor.training import dense_matrix
from shared.applicability import NearestNeighbourIndex, pack_fingerprints

N_ROWS = 600
FOREST = {"name": "random_forest", "params": {"n_estimators": 30}}
QUIET_SD, NOISY_SD = 0.15, 1.2


@pytest.fixture(scope="module")
def featurized():
    """(x, packed AD fingerprints, on-bits) of 600 real AKT1 molecules."""
    featurizer = make_featurizer({"name": "morgan_counts", "params": {"radius": 2, "n_bits": 2048}})
    data = load_akt1(limit=N_ROWS)
    rows = [featurize_molecule({"id": i, "smiles": s}, featurizer) for i, s in zip(data.ids, data.smiles, strict=True)]
    rows = [r for r in rows if r["error"] is None]
    return dense_matrix([r["features"] for r in rows], 2048), pack_fingerprints([r["ad_bits"] for r in rows]), \
        [r["ad_bits"] for r in rows]


@pytest.fixture(scope="module")
def heteroscedastic(featurized):
    """SYNTHETIC outcome on real structures; the real pipeline: held-out model + 5-fold CV on its training side."""
    x, packed, _ = featurized
    present = (x > 0).mean(axis=0)
    noisy = x[:, int(np.argmin(np.abs(present - 0.5)))] > 0  # the known feature: a bit set in about half
    rng = np.random.default_rng(0)
    signal = 0.3 * np.log1p(x.sum(axis=1)) + 0.5 * (x[:, int(np.argsort(-present)[5])] > 0)
    y = 6.0 + signal + rng.normal(0.0, 1.0, len(x)) * np.where(noisy, NOISY_SD, QUIET_SD)
    keys = [str(i) for i in range(len(x))]  # a random split: calibration and test rows are exchangeable
    train, test = group_split(keys, 0.3, 0)
    holdout = evaluate_holdout(x, y, packed, train, test, FOREST, 0)
    folds = grouped_folds([keys[i] for i in train], 5, 0)
    oof, _, _, oof_sigma = cross_validate(x[train], y[train], packed[train], folds, FOREST, 0)
    card = interval_section(y[train] - oof, oof_sigma, holdout.sigma_kind, y[test] - holdout.predictions,
                            holdout.sigma, holdout.similarity, "a random held-out split")
    return {"card": card, "holdout": holdout, "noisy": noisy[test], "abs_test": np.abs(y[test] - holdout.predictions),
            "oof_residuals": y[train] - oof, "oof_sigma": oof_sigma}


def _tolerance(level: float, n: int) -> float:
    """3 binomial standard errors: the calibration scores (fold models on 4/5 of the training side) and the
    held-out scores (one model on all of it) are close to but not exactly exchangeable, and n is ~180."""
    return 3 * math.sqrt(level * (1 - level) / n)


def test_synthetic_normalised_intervals_reach_nominal_coverage(heteroscedastic):
    card = heteroscedastic["card"]
    measured = card["measured_coverage"]
    assert card["method"] == METHOD and card["sigma"]["kind"] == spread.TREE_SPREAD
    for level in (0.8, 0.9):
        assert measured[str(round(level * 100))] == pytest.approx(level, abs=_tolerance(level, measured["n"]))


def test_synthetic_intervals_are_wider_where_the_noise_is_larger(heteroscedastic):
    card, noisy, abs_test = heteroscedastic["card"], heteroscedastic["noisy"], heteroscedastic["abs_test"]
    width = half_widths(heteroscedastic["holdout"].sigma, card["beta"], card["quantiles"]["90"])
    assert width[noisy].mean() > 1.3 * width[~noisy].mean()
    # the point of it: the noisy half is covered better than by one constant width of the same calibration
    constant = float(np.quantile(np.abs(heteroscedastic["oof_residuals"]), 0.9))
    assert np.mean(abs_test[noisy] <= width[noisy]) > np.mean(abs_test[noisy] <= constant)


def test_card_section_holds_what_serving_needs(heteroscedastic):
    card = heteroscedastic["card"]
    assert set(card["quantiles"]) == {"80", "90"} and 0 < card["quantiles"]["80"] < card["quantiles"]["90"]
    assert card["beta"] == choose_beta(heteroscedastic["oof_residuals"], heteroscedastic["oof_sigma"]) > 0
    assert card["calibration_n"] == len(heteroscedastic["oof_sigma"])
    assert card["half_width"] == pytest.approx(
        np.median(half_widths(heteroscedastic["oof_sigma"], card["beta"], card["quantiles"]["90"])), abs=1e-4)
    bins = card["measured_coverage"]["per_similarity_bin"]
    assert [(b["similarity_from"], b["similarity_to"]) for b in bins] == list(
        zip(SIMILARITY_EDGES[:-1], SIMILARITY_EDGES[1:], strict=True))
    assert sum(b["n"] for b in bins) == card["measured_coverage"]["n"]


# ---- the serving formula is crepes' ------------------------------------------------------------------------------


def test_serving_formula_equals_crepes_predict_int():
    """SYNTHETIC residuals and sigmas: q x (sigma + beta) around y_hat is crepes' normalised interval."""
    rng = np.random.default_rng(1)
    sigma = rng.gamma(2.0, 0.3, 400)
    residuals = rng.normal(0.0, 1.0, 400) * sigma
    beta = choose_beta(residuals, sigma)
    quantiles = calibrate(residuals, sigma, beta)
    regressor = ConformalRegressor().fit(residuals, sigmas=sigma + beta)
    y_hat, new_sigma = rng.normal(6.0, 1.0, 50), rng.gamma(2.0, 0.3, 50)
    for level in (0.8, 0.9):
        expected = regressor.predict_int(y_hat, sigmas=new_sigma + beta, confidence=level)
        width = half_widths(new_sigma, beta, quantiles[str(round(level * 100))])
        np.testing.assert_allclose(np.column_stack([y_hat - width, y_hat + width]), expected, rtol=0, atol=1e-12)


def test_too_few_calibration_rows_cap_the_quantile_at_the_largest_score():
    residuals, sigma = np.array([0.1, -0.4, 0.2]), np.array([1.0, 1.0, 2.0])  # SYNTHETIC; 90% needs n >= 9
    assert calibrate(residuals, sigma, 0.0)["90"] == pytest.approx(0.4)


def test_beta_is_small_where_sigma_tells_the_error_and_large_where_it_does_not():
    """SYNTHETIC: errors proportional to sigma keep beta at or below the median sigma; errors unrelated to sigma push
    beta to the largest multiple, so the intervals become (almost) one constant width."""
    rng = np.random.default_rng(4)
    sigma = rng.gamma(2.0, 0.3, 2000)
    median = float(np.median(sigma))
    informative = choose_beta(rng.normal(0.0, 1.0, 2000) * sigma, sigma)
    uninformative = choose_beta(rng.normal(0.0, 0.5, 2000), sigma)
    assert BETA_MULTIPLES[0] * median <= informative <= median
    assert uninformative == pytest.approx(BETA_MULTIPLES[-1] * median, rel=1e-3)


def test_beta_is_never_zero():
    assert choose_beta(np.array([0.1, -0.2, 0.3]), np.zeros(3)) == MIN_BETA
    assert choose_beta(np.array([]), np.array([])) == MIN_BETA


def test_coverage_per_similarity_bin_counts_each_row_once():
    similarity = np.array([0.0, 0.29, 0.3, 0.55, 0.8, 1.0])  # SYNTHETIC; 1.0 falls in the closed last bin
    widths = {"90": np.full(6, 1.0)}
    bins = coverage_by_similarity(np.array([0.5, 2.0, 0.5, 0.5, 0.5, 0.5]), widths, similarity)
    by_start = {b["similarity_from"]: b for b in bins}
    assert by_start[0.0]["n"] == 2 and by_start[0.0]["coverage"]["90"] == 0.5
    assert by_start[0.8]["n"] == 2 and by_start[0.8]["mean_width"]["90"] == 2.0
    assert by_start[0.4]["n"] == 0 and by_start[0.4]["coverage"]["90"] is None


def test_an_old_card_serves_its_constant_half_widths():
    old = {"method": "cv_residual_conformal", "half_width": 0.9, "half_width_80": 0.6}
    widths = served_half_widths(old, None, 3)
    assert widths["90"].tolist() == [0.9] * 3 and widths["80"].tolist() == [0.6] * 3
    assert served_half_widths({"half_width": 1.0}, None, 2)["80"] is None


# ---- sigma --------------------------------------------------------------------------------------------------------


def test_tree_spread_lives_in_the_predictor_and_stays_importable_from_uncertainty():
    assert uncertainty.tree_spread is spread.tree_spread and uncertainty.has_trees is spread.has_trees


def test_out_of_fold_sigma_comes_from_the_fold_model_that_predicted_the_row(featurized):
    x, packed, _ = featurized
    x, packed = x[:120], packed[:120]
    y = np.random.default_rng(2).normal(6.0, 1.0, 120)  # SYNTHETIC outcome
    folds = np.arange(120) % 3
    spec = {"name": "random_forest", "params": {"n_estimators": 8}}
    _, _, _, sigma = cross_validate(x, y, packed, folds, spec, 0)
    model, _ = make_estimator(spec, 0)
    model.fit(x[folds != 1], y[folds != 1])
    np.testing.assert_allclose(sigma[folds == 1], spread.tree_spread(model, x[folds == 1]))


def test_other_estimators_get_the_mean_distance_to_the_fold_models_training_neighbours(featurized):
    x, packed, on_bits = featurized
    x, packed, on_bits = x[:90], packed[:90], on_bits[:90]
    y = np.random.default_rng(3).normal(6.0, 1.0, 90)  # SYNTHETIC outcome
    folds = np.arange(90) % 3
    _, _, _, sigma = cross_validate(x, y, packed, folds, {"name": "knn", "params": {"n_neighbors": 3}}, 0)
    index = NearestNeighbourIndex(packed[folds != 0])
    expected = [index.mean_distance(on_bits[i], spread.K_NEIGHBOURS) for i in np.flatnonzero(folds == 0)]
    np.testing.assert_allclose(sigma[folds == 0], expected)
    assert spread.on_bits_of(packed[:3]) == [sorted(b) for b in on_bits[:3]]


def test_mean_distance_to_the_k_nearest():
    index = NearestNeighbourIndex(pack_fingerprints([[1, 2, 3], [1, 2], [7]]))  # SYNTHETIC fingerprints
    assert index.mean_distance([1, 2, 3], 1) == pytest.approx(0.0)
    assert index.mean_distance([1, 2, 3], 2) == pytest.approx((0.0 + 1 / 3) / 2)
    assert index.mean_distance([1, 2, 3], 10) == pytest.approx((0.0 + 1 / 3 + 1.0) / 3)  # k capped at the index
    assert index.mean_distance([], 2) == 1.0
    assert NearestNeighbourIndex(pack_fingerprints([])).mean_distance([1], 2) == 1.0
