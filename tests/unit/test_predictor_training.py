"""services/predictor/training.py: ``train_model`` (the in-memory path) and the model version it writes."""

from __future__ import annotations

import numpy as np
import pytest
import rdkit
import sklearn

from services.predictor.loader import ModelCache
from services.predictor.training import (
    ESTIMATOR_FILE,
    INTERVAL_COVERAGE,
    dense_matrix,
    train_model,
)
from shared.applicability import AD_FILE
from shared.model_store import ModelStore, sha256_of
from tests.unit.conftest import TINY_ESTIMATOR, TINY_FEATURIZER, TINY_ROWS, TINY_SEED

# ---- dense_matrix ------------------------------------------------------------------------------------------------


def test_dense_matrix():
    matrix = dense_matrix([{"indices": [0, 3], "values": [2, 1]}, {"indices": [], "values": []}], 4)
    assert matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix, [[2, 0, 0, 1], [0, 0, 0, 0]])


# ---- train_model -------------------------------------------------------------------------------------------------


def test_train_model_writes_a_complete_manifest(tiny_model):
    manifest = tiny_model.manifest
    assert (manifest["name"], manifest["version"]) == ("tiny", 1)
    assert manifest["featurizer"] == TINY_FEATURIZER
    assert manifest["n_features"] == 2048
    assert manifest["estimator"]["name"] == "random_forest"
    assert manifest["estimator"]["params"]["n_estimators"] == 20
    assert manifest["seed"] == TINY_SEED
    assert manifest["unit"] == "pActivity"
    assert manifest["dataset"] == {"source": "unit-test sample", "rows_used": TINY_ROWS, "rows_rejected": 1}
    assert manifest["library_versions"] == {"rdkit": rdkit.__version__, "scikit-learn": sklearn.__version__}


def test_train_model_metrics(tiny_model):
    metrics = tiny_model.manifest["metrics"]
    assert metrics["split"] == "scaffold"
    assert metrics["n_train"] + metrics["n_test"] == TINY_ROWS
    assert metrics["n_test"] >= int(TINY_ROWS * 0.2)
    held_out = metrics["held_out"]
    assert set(held_out) == {"rmse", "mae", "r2", "spearman", "n"}
    assert held_out["n"] == metrics["n_test"]
    assert 0 < held_out["mae"] <= held_out["rmse"]
    assert metrics["mean_predictor_rmse"] > 0
    # a working model on real AKT1 data: better than predicting the training mean, and ranks positively
    assert held_out["rmse"] < metrics["mean_predictor_rmse"]
    assert held_out["spearman"] > 0.3


def test_train_model_interval_and_domain(tiny_model):
    interval, domain = tiny_model.manifest["interval"], tiny_model.manifest["applicability_domain"]
    assert interval["method"] == "split_conformal_scaffold_holdout"
    assert interval["coverage"] == INTERVAL_COVERAGE == 0.9
    assert 0 < interval["half_width"] < 5
    assert 0 < domain["threshold"] < 1
    assert domain["fingerprint"] == {"name": "morgan_bits", "radius": 2, "n_bits": 2048}


def test_train_model_files_and_checksums(tiny_model):
    store = ModelStore(tiny_model.root)
    folder = store.version_dir("tiny", 1)
    assert set(tiny_model.manifest["files"]) == {ESTIMATOR_FILE, AD_FILE}
    for filename, checksum in tiny_model.manifest["files"].items():
        assert sha256_of(folder / filename) == checksum
        assert store.verified_file(tiny_model.manifest, filename) == folder / filename
    ad = np.load(folder / AD_FILE)
    assert ad.shape == (TINY_ROWS, 2048 // 8)  # one packed fingerprint per row used (the invalid one dropped)


def test_train_model_is_resolvable(tiny_model):
    resolved = ModelStore(tiny_model.root).resolve("tiny")
    assert resolved == {**tiny_model.manifest, "retired": False}


def test_training_is_deterministic_for_a_seed(tiny_model, tmp_path):
    again = train_model(ModelStore(tmp_path), "tiny", tiny_model.data, TINY_FEATURIZER, TINY_ESTIMATOR, TINY_SEED)
    # the artifacts are byte-identical ...
    assert again["files"] == tiny_model.manifest["files"]
    for key in ("metrics", "interval", "applicability_domain"):
        assert again[key] == tiny_model.manifest[key]
    # ... so, loaded as the predictor serves them (single-threaded), they predict identically
    first = ModelCache(ModelStore(tiny_model.root), 1).get("tiny", 1).estimator
    second = ModelCache(ModelStore(tmp_path), 1).get("tiny", 1).estimator
    x = np.random.default_rng(0).integers(0, 3, size=(25, 2048)).astype(np.float32)
    np.testing.assert_array_equal(first.predict(x), second.predict(x))


def test_different_seeds_give_different_models(tiny_model, tmp_path):
    other = train_model(ModelStore(tmp_path), "tiny", tiny_model.data, TINY_FEATURIZER, TINY_ESTIMATOR, seed=1)
    assert other["files"][ESTIMATOR_FILE] != tiny_model.manifest["files"][ESTIMATOR_FILE]
    assert other["seed"] == 1


def test_train_model_rejects_an_unknown_estimator_before_writing(tmp_path, tiny_model):
    from shared.errors import InvalidRequest

    store = ModelStore(tmp_path)
    with pytest.raises(InvalidRequest):
        train_model(store, "bad", tiny_model.data, TINY_FEATURIZER, {"name": "svm"}, 0)
    assert store.versions("bad") == []
