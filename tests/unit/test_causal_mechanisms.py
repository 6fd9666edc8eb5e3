"""services/causal/mechanisms.py and focus.py: hidden mechanisms and the model's focus on each.

Semi-synthetic: two real, chemically distinct AKT1 series (aminocyclobutyl-phenyl allosteric-type, 300; and
pyrrolopyrimidine ATP-site-type, 60) with opposite SYNTHETIC SAR on shared features (see test_causal_synthetic).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from services.causal.focus import capped_spec, focus_section
from services.causal.mechanisms import Assigner, discover, fit_assigner, from_labels
from services.featurizer.logic import featurize_molecule, make_featurizer
from services.predictor.training import dense_matrix
from shared.applicability import N_BITS
from tests.unit.test_causal_synthetic import two_mechanism_case

FOREST = {"name": "random_forest", "params": {"n_estimators": 30}}


@pytest.fixture(scope="module")
def two_series():
    rows, truth = two_mechanism_case()
    featurizer = make_featurizer({"name": "morgan_counts", "params": {}})
    molecules = [featurize_molecule({"id": r["id"], "smiles": r["canonical_smiles"]}, featurizer) for r in rows]
    bits = np.zeros((len(rows), N_BITS), dtype=bool)
    for i, m in enumerate(molecules):
        bits[i, m["ad_bits"]] = True
    x = dense_matrix([m["features"] for m in molecules], featurizer.n_features)
    y = np.array([float(r["pactivity"]) for r in rows])
    return bits, x, y, truth, [m["ad_bits"] for m in molecules]


@pytest.fixture(scope="module")
def discovered(two_series):
    bits, _, y, _, _ = two_series
    return discover(bits, seed=0)


def test_two_series_without_labels_are_found(two_series, discovered):
    _, _, _, truth, _ = two_series
    ids, selection = discovered
    assert selection["k"] == 2
    assert adjusted_rand_score(truth, ids) > 0.8
    assert np.bincount(ids)[0] > np.bincount(ids)[1]  # M1 is the larger series
    assert set(selection["silhouette"]) <= {"2", "3", "4", "5", "6"}


def test_discovery_is_seeded(two_series, discovered):
    bits, _, y, _, _ = two_series
    ids, selection = discover(bits, seed=0)
    assert np.array_equal(ids, discovered[0]) and selection == discovered[1]


def test_pooled_model_is_less_focused_on_the_minority_mechanism(two_series, discovered):
    _, x, y, _, _ = two_series
    focus = focus_section(x, y, discovered[0], FOREST, seed=0)["per_mechanism"]
    assert focus["M2"]["focus"] < focus["M1"]["focus"]
    assert focus["M2"]["rmse_specialist"] < focus["M2"]["rmse_pooled"]  # the specialist learns the minority SAR
    assert 0 <= focus["M2"]["focus"] <= 1 and focus["M1"]["n"] + focus["M2"]["n"] == len(y)


def test_assigner_puts_new_molecules_in_their_series(two_series, discovered):
    bits, _, _, _, on_bits = two_series
    ids = discovered[0]
    train = np.arange(len(ids)) % 4 != 0  # every fourth molecule is new
    assigner = fit_assigner(bits[train], ids[train], 2, seed=0)
    probabilities = Assigner(assigner).probabilities([on_bits[i] for i in np.flatnonzero(~train)])
    assert probabilities.shape == ((~train).sum(), 2)
    assert np.allclose(probabilities.sum(axis=1), 1)
    assert (probabilities.argmax(axis=1) == ids[~train]).mean() > 0.95


def test_labels_are_used_as_given_with_rare_ones_pooled():
    ids, names = from_labels(["allosteric"] * 30 + ["atp"] * 50 + ["odd"] * 3 + [""] * 12)
    assert names == ["atp", "allosteric", "unlabelled", "other"]
    assert list(np.bincount(ids)) == [50, 30, 12, 3]


def test_focus_caps_tree_ensembles_only():
    assert capped_spec({"name": "random_forest", "params": {"n_estimators": 500}})["params"]["n_estimators"] == 30
    assert capped_spec({"name": "random_forest", "params": {"n_estimators": 10}})["params"]["n_estimators"] == 10
    assert capped_spec({"name": "knn", "params": {"n_neighbors": 5}}) == {"name": "knn", "params": {"n_neighbors": 5}}
