"""attach_profile: built once per version, a failure recorded (never raised), the model kept serving."""

from __future__ import annotations

import pytest

from services.causal import attach
from services.causal.evidence import PROFILE_VERSION
from shared.model_store import CAUSAL_PROFILE_FILE, ModelStore

MANIFEST = {"name": "m", "version": 1, "dataset": {"id": "ds_abc"}, "featurizer": {"name": "morgan_counts"},
            "estimator": {"name": "knn"}, "seed": 3}


@pytest.fixture
def models(tmp_path, monkeypatch):
    store = ModelStore(tmp_path / "models")
    store.version_dir("m", 1).mkdir(parents=True)
    monkeypatch.setattr(attach, "read_meta", lambda root, ds: {"context_columns": ["assay"], "mechanism_column": "x"})
    monkeypatch.setattr(attach, "read_rows", lambda root, ds: [{"id": "1"}])
    return store


def test_builds_once_with_the_versions_spec(models, monkeypatch, tmp_path):
    calls = []

    def fake_build(rows, context, mechanism, model, seed, extra_smarts, confounder_columns, arrays):
        calls.append((rows, context, mechanism, model, seed, extra_smarts, confounder_columns, arrays))
        return {"status": "ready", "version": PROFILE_VERSION, "effects": []}

    monkeypatch.setattr(attach, "build_profile", fake_build)
    assert attach.attach_profile(models, tmp_path, MANIFEST) == "ready"
    assert attach.attach_profile(models, tmp_path, MANIFEST) == "ready"  # a redelivered task builds nothing
    assert calls == [([{"id": "1"}], ["assay"], "mechanism",
                      {"featurizer": {"name": "morgan_counts"}, "estimator": {"name": "knn"}, "seed": 3}, 3, [], None,
                      None)]  # no features_key in this manifest: nothing to read, the profile featurizes
    assert models.read_sidecar("m", 1, CAUSAL_PROFILE_FILE)["status"] == "ready"


def test_the_training_requests_treatments_and_confounders_reach_the_profile(models, monkeypatch, tmp_path):
    seen = {}

    def fake_build(*_, extra_smarts, confounder_columns, arrays):
        seen.update(extra_smarts=extra_smarts, confounders=confounder_columns)
        return {"status": "ready"}

    monkeypatch.setattr(attach, "build_profile", fake_build)
    asked = {"treatments": ["S(=O)(=O)N"], "confounders": ["assay", "mechanism"]}
    assert attach.attach_profile(models, tmp_path, {**MANIFEST, "provenance": {"job_id": "j", "causal": asked}}) == (
        "ready")
    assert seen == {"extra_smarts": ["S(=O)(=O)N"], "confounders": ["assay", "mechanism"]}


def test_a_failure_is_recorded_and_retried_next_time(models, monkeypatch, tmp_path):
    def broken(*_, **__):
        raise ValueError("no overlap anywhere")

    monkeypatch.setattr(attach, "build_profile", broken)
    assert attach.attach_profile(models, tmp_path, MANIFEST) == "failed"
    assert "no overlap anywhere" in models.read_sidecar("m", 1, CAUSAL_PROFILE_FILE)["error"]
    monkeypatch.setattr(attach, "build_profile", lambda *_, **__: {"status": "ready"})
    assert attach.attach_profile(models, tmp_path, MANIFEST) == "ready"


def test_a_profile_of_the_first_engine_is_rebuilt_once(models, monkeypatch, tmp_path):
    models.write_sidecar("m", 1, CAUSAL_PROFILE_FILE, {"status": "ready", "version": 1})
    built = []

    def fake_build(*_, **__):
        built.append(1)
        return {"status": "ready", "version": PROFILE_VERSION}

    monkeypatch.setattr(attach, "build_profile", fake_build)
    assert attach.attach_profile(models, tmp_path, MANIFEST) == "ready"
    assert attach.attach_profile(models, tmp_path, MANIFEST) == "ready"
    assert len(built) == 1 and models.read_sidecar("m", 1, CAUSAL_PROFILE_FILE)["version"] == PROFILE_VERSION
