"""services/predictor/conformal.py: Mondrian quantiles by nearest-neighbour similarity bin.

Known truth, SYNTHETIC numbers only (no activity data): residuals whose error-to-sigma ratio is larger for molecules
unlike the training set, the case where one quantile over all calibration rows under-covers the unfamiliar ones.
"""

from __future__ import annotations

import numpy as np
import pytest
from crepes import ConformalRegressor

from services.predictor.conformal import (
    MIN_BIN_ROWS,
    MONDRIAN_METHOD,
    SIMILARITY_BINS,
    calibrate,
    choose_beta,
    interval_section,
    mondrian_edges,
    served_half_widths,
    similarity_bins,
)


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(residuals, sigmas, similarity): the error scale is 3x sigma below similarity 0.4, 1x above it."""
    rng = np.random.default_rng(seed)
    similarity = rng.uniform(0.1, 1.0, n)
    sigma = rng.gamma(3.0, 0.15, n)
    scale = np.where(similarity < 0.4, 3.0, 1.0)
    return rng.normal(0.0, 1.0, n) * sigma * scale, sigma, similarity


def test_edges_are_tertiles_of_the_calibration_similarity():
    similarity = np.linspace(0.0, 1.0, 3 * MIN_BIN_ROWS + 30)
    edges = mondrian_edges(similarity)
    assert len(edges) == SIMILARITY_BINS - 1
    np.testing.assert_allclose(edges, np.quantile(similarity, [1 / 3, 2 / 3]), atol=1e-4)
    assert np.bincount(similarity_bins(similarity, edges)).min() >= MIN_BIN_ROWS


def test_too_few_rows_give_fewer_bins_or_none():
    assert len(mondrian_edges(np.linspace(0, 1, 2 * MIN_BIN_ROWS + 5))) == 1  # two bins
    assert mondrian_edges(np.linspace(0, 1, 2 * MIN_BIN_ROWS - 1)) == []  # one: the single quantile
    assert mondrian_edges(np.array([])) == []


def test_ties_that_leave_a_bin_short_fall_back_to_fewer_bins():
    # 80% of the rows are exact duplicates of the training set (similarity 1.0): the upper tertiles coincide
    similarity = np.concatenate([np.linspace(0.2, 0.9, 200), np.ones(800)])
    edges = mondrian_edges(similarity)
    assert len(edges) <= 1
    if edges:
        assert np.bincount(similarity_bins(similarity, edges)).min() >= MIN_BIN_ROWS


def test_a_molecule_on_an_edge_belongs_to_the_upper_bin():
    assert similarity_bins(np.array([0.2, 0.4, 0.41, 0.7, 0.9]), [0.4, 0.7]).tolist() == [0, 1, 1, 2, 2]


def test_mondrian_keeps_nominal_coverage_in_the_unfamiliar_bin_where_one_quantile_does_not():
    cal, test = _data(3000, 0), _data(3000, 1)
    args = (cal[0], cal[1], "tree_spread", test[0], test[1], test[2], "synthetic")
    single, mondrian = interval_section(*args), interval_section(*args, cal_similarity=cal[2])
    assert mondrian["method"] == MONDRIAN_METHOD and len(mondrian["mondrian"]["edges"]) == 2
    assert sum(mondrian["mondrian"]["calibration_n"]) == 3000
    unfamiliar = test[2] < 0.4
    covered = {}
    for name, card in (("single", single), ("mondrian", mondrian)):
        widths = served_half_widths(card, test[1], len(test[1]), test[2])["90"]
        covered[name] = float(np.mean(np.abs(test[0][unfamiliar]) <= widths[unfamiliar]))
    assert covered["single"] < 0.85  # one quantile under-covers the molecules unlike the training set
    assert covered["mondrian"] == pytest.approx(0.9, abs=0.04)
    assert mondrian["measured_coverage"]["90"] == pytest.approx(0.9, abs=0.03)


def test_served_widths_equal_crepes_mondrian_predict_int():
    residuals, sigma, similarity = _data(1200, 2)
    beta = choose_beta(residuals, sigma)
    card = interval_section(residuals, sigma, "tree_spread", residuals[:10], sigma[:10], similarity[:10], "x",
                            cal_similarity=similarity)
    edges = card["mondrian"]["edges"]
    regressor = ConformalRegressor().fit(residuals, sigmas=sigma + beta, bins=similarity_bins(similarity, edges))
    new_sigma, new_similarity = np.array([0.2, 0.5, 0.3]), np.array([0.15, 0.5, 0.95])
    for level in (0.8, 0.9):
        expected = regressor.predict_int(np.zeros(3), sigmas=new_sigma + beta, confidence=level,
                                         bins=similarity_bins(new_similarity, edges))
        widths = served_half_widths(card, new_sigma, 3, new_similarity)[str(round(level * 100))]
        np.testing.assert_allclose(widths, expected[:, 1], rtol=0, atol=1e-12)


def test_a_mondrian_card_without_similarity_serves_the_single_quantile():
    residuals, sigma, similarity = _data(900, 3)
    card = interval_section(residuals, sigma, "tree_spread", residuals, sigma, similarity, "x",
                            cal_similarity=similarity)
    widths = served_half_widths(card, sigma[:4], 4)
    single = calibrate(residuals, sigma, card["beta"])
    np.testing.assert_allclose(widths["90"], single["90"] * (sigma[:4] + card["beta"]))
