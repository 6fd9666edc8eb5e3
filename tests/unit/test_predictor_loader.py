"""services/predictor/loader.py: checksum-verified loading and the bounded LRU model cache."""

from __future__ import annotations

import shutil

import pytest

import services.predictor.loader as loader
from services.predictor.loader import LoadedModel, ModelCache, get_model_cache
from services.predictor.training import ESTIMATOR_FILE
from shared.errors import ModelIntegrityError, ModelNotFound
from shared.model_store import ModelStore


@pytest.fixture
def two_versions(tiny_model, tmp_path):
    """A private copy of the tiny model as versions 1 and 2 (so tests may tamper with or retire them)."""
    root = tmp_path / "models"
    for version in (1, 2):
        shutil.copytree(tiny_model.root / "tiny" / "1", root / "tiny" / str(version))
        manifest_path = root / "tiny" / str(version) / "manifest.json"
        manifest_path.write_text(manifest_path.read_text().replace('"version": 1', f'"version": {version}'))
    return ModelStore(root)


def test_get_loads_a_verified_model(two_versions):
    model = ModelCache(two_versions, capacity=2).get("tiny", 1)
    assert isinstance(model, LoadedModel)
    assert (model.manifest["name"], model.manifest["version"]) == ("tiny", 1)
    assert hasattr(model.estimator, "predict")


def test_loaded_forest_predicts_single_threaded(two_versions):
    # chunks are small and workers scale by process; one thread also makes the sum over trees reproducible
    assert ModelCache(two_versions, capacity=2).get("tiny", 1).estimator.n_jobs == 1


def test_get_is_cached(two_versions, monkeypatch):
    cache = ModelCache(two_versions, capacity=2)
    first = cache.get("tiny", 1)
    monkeypatch.setattr(loader.joblib, "load", lambda *a: pytest.fail("loaded again instead of from the cache"))
    assert cache.get("tiny", 1) is first


def test_least_recently_used_model_is_evicted(two_versions):
    cache = ModelCache(two_versions, capacity=1)
    first = cache.get("tiny", 1)
    second = cache.get("tiny", 2)
    assert second.manifest["version"] == 2
    again = cache.get("tiny", 1)
    assert again is not first  # version 1 was evicted, so it was loaded afresh


def test_recent_use_protects_from_eviction(two_versions):
    cache = ModelCache(two_versions, capacity=2)
    one = cache.get("tiny", 1)
    cache.get("tiny", 2)
    cache.get("tiny", 1)  # touch 1: now 2 is the least recently used
    store = two_versions
    shutil.copytree(store.version_dir("tiny", 2), store.version_dir("tiny", 3))
    manifest3 = store.version_dir("tiny", 3) / "manifest.json"
    manifest3.write_text(manifest3.read_text().replace('"version": 2', '"version": 3'))
    cache.get("tiny", 3)
    assert cache.get("tiny", 1) is one


def test_tampered_estimator_is_never_loaded(two_versions):
    path = two_versions.version_dir("tiny", 1) / ESTIMATOR_FILE
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ModelIntegrityError):
        ModelCache(two_versions, capacity=2).get("tiny", 1)


def test_unknown_model(two_versions):
    with pytest.raises(ModelNotFound):
        ModelCache(two_versions, capacity=2).get("tiny", 9)


def test_a_retired_pinned_version_still_serves_in_flight_jobs(two_versions):
    two_versions.retire("tiny", 1)
    assert ModelCache(two_versions, capacity=2).get("tiny", 1).manifest["version"] == 1


def test_process_cache_follows_settings(settings_env, tiny_model):
    settings_env(CAUSALMOL_MODELS_DIR=str(tiny_model.root), CAUSALMOL_MODEL_CACHE_SIZE="3")
    cache = get_model_cache()
    assert cache is get_model_cache()
    assert cache.store.root == tiny_model.root
    assert cache.capacity == 3
