"""services/predictor/evaluation.py: scaffold split, metrics and the conformal half-width, on known cases."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold

from services.predictor.evaluation import conformal_half_width, regression_metrics, scaffold_split
from services.predictor.reference import load_akt1
from tests.unit.conftest import TINY_ROWS


def scaffold(smiles):
    return MurckoScaffold.MurckoScaffoldSmiles(mol=Chem.MolFromSmiles(smiles))


@pytest.fixture(scope="module")
def akt1_smiles():
    return [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in load_akt1(limit=TINY_ROWS).smiles]


# ---- scaffold_split ----------------------------------------------------------------------------------------------


def test_scaffold_split_partitions_all_rows(akt1_smiles):
    train, test = scaffold_split(akt1_smiles, seed=0)
    assert sorted([*train, *test]) == list(range(len(akt1_smiles)))
    assert len(set(train) & set(test)) == 0
    assert list(train) == sorted(train) and list(test) == sorted(test)


def test_scaffold_split_keeps_whole_scaffold_groups_on_one_side(akt1_smiles):
    for seed in range(3):
        train, test = scaffold_split(akt1_smiles, seed=seed)
        train_scaffolds = {scaffold(akt1_smiles[i]) for i in train}
        test_scaffolds = {scaffold(akt1_smiles[i]) for i in test}
        assert train_scaffolds.isdisjoint(test_scaffolds)


def test_scaffold_split_sizes(akt1_smiles):
    train, test = scaffold_split(akt1_smiles, test_fraction=0.2, seed=0)
    n_test_target = int(len(akt1_smiles) * 0.2)
    assert len(train) <= len(akt1_smiles) - n_test_target  # training never exceeds its share
    assert len(test) >= n_test_target


def test_scaffold_split_is_deterministic_for_a_seed(akt1_smiles):
    first, second = scaffold_split(akt1_smiles, seed=5), scaffold_split(akt1_smiles, seed=5)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_scaffold_split_depends_on_the_seed(akt1_smiles):
    tests = {tuple(scaffold_split(akt1_smiles, seed=s)[1]) for s in range(5)}
    assert len(tests) > 1


def test_big_scaffold_groups_always_train():
    # SYNTHETIC: 12 benzene derivatives (one scaffold) and 8 singletons with distinct ring systems.
    benzenes = ["c1ccccc1" + "C" * k for k in range(1, 13)]
    singletons = ["C1CC1", "C1CCC1", "C1CCCC1", "C1CCCCC1", "c1ccncc1", "c1ccoc1", "c1ccsc1", "C1CCCCCC1"]
    smiles = benzenes + singletons
    for seed in range(5):
        train, test = scaffold_split(smiles, test_fraction=0.2, seed=seed)
        assert set(range(12)) <= set(train)  # 12 > n_test_target / 2 = 2
        assert len(test) == 4  # the test side gets exactly its share of singletons
        assert set(test) <= set(range(12, 20))


ACYCLIC = ["C" * k + "O" for k in range(1, 31)]  # SYNTHETIC: 30 alcohols, all with the empty scaffold ""


def test_one_scaffold_group_goes_wholly_to_training():
    train, test = scaffold_split(ACYCLIC)
    assert list(train) == list(range(30))
    assert len(test) == 0


def test_empty_split_side_is_still_an_integer_index():
    # (was a bug: np.array(sorted([])) is float64, and train_model died with IndexError on an empty side)
    _, test = scaffold_split(ACYCLIC)
    assert test.dtype.kind == "i"
    assert np.zeros((30, 2))[test].shape == (0, 2)


# ---- regression_metrics ------------------------------------------------------------------------------------------


def test_regression_metrics_known_case():
    metrics = regression_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 5.0]))
    # residuals 0, 0, 0, -1: RMSE sqrt(1/4), MAE 1/4; SS_tot 5 so R² = 1 - 1/5; the ranking is perfect
    assert metrics == {"rmse": 0.5, "mae": 0.25, "r2": 0.8, "spearman": 1.0, "n": 4}


def test_regression_metrics_rounding_and_anti_correlation():
    metrics = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0]))
    assert metrics["rmse"] == round(np.sqrt(8 / 3), 4) == 1.633
    assert metrics["r2"] == -3.0
    assert metrics["spearman"] == -1.0


@pytest.mark.filterwarnings("ignore:An input array is constant")
def test_regression_metrics_constant_truth():
    metrics = regression_metrics(np.array([2.0, 2.0, 2.0]), np.array([1.0, 2.0, 3.0]))
    assert metrics["r2"] == 0.0
    assert metrics["spearman"] is None  # undefined, and null rather than NaN so the card stays valid JSON


# ---- conformal_half_width ----------------------------------------------------------------------------------------


def test_conformal_half_width_uses_the_max_when_n_is_small():
    # n = 10, coverage 0.9: ceil(11 * 0.9) = 10 = n, so the largest residual
    assert conformal_half_width(np.arange(1.0, 11.0), 0.9) == 10.0


def test_conformal_half_width_caps_the_level_at_one():
    # n = 5: ceil(6 * 0.9) = 6 > n, capped to the largest residual
    assert conformal_half_width(np.array([0.5, 0.1, 0.4, 0.3, 0.2]), 0.9) == 0.5


def test_conformal_half_width_is_an_observed_residual_and_rounded():
    residuals = np.random.default_rng(0).random(50) * 3
    width = conformal_half_width(residuals, 0.9)
    assert width == round(width, 4)
    assert np.min(np.abs(residuals - width)) < 1e-4
    assert np.mean(residuals <= width) >= 0.9


@pytest.mark.parametrize(("n", "expected"), [(19, 18.0), (40, 37.0)])
def test_conformal_half_width_is_the_k_th_smallest_residual(n, expected):
    # residuals 1..n: the k-th smallest is k, with k = ceil((n + 1) * 0.9): 18 for n = 19, 37 for n = 40
    # (was a bug: np.quantile(k/n, method="higher") gave the (k+1)-th smallest)
    assert conformal_half_width(np.arange(1.0, n + 1.0), 0.9) == expected
