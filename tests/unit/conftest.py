"""Fixtures shared by the unit tests: a tiny trained model, and settings pointed at a temporary models dir.

The unit suite runs in-process and fast: no Redis (except ``test_jobs_redis.py``, which starts its own), no Celery
worker, and one small model trained once per session on a 200-row sample of the bundled AKT1 data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

# Small but real: 20 trees are enough for a working model and keep the session fixture under a second or two.
TINY_ESTIMATOR = {"name": "random_forest", "params": {"n_estimators": 20}}
TINY_FEATURIZER = {"name": "morgan_counts", "params": {"radius": 2, "n_bits": 2048}}
TINY_ROWS = 200
TINY_SEED = 0
INVALID_TRAINING_SMILES = "C1CC(not a molecule"


@dataclass
class TinyModel:
    root: Path  # the models dir holding it
    name: str
    manifest: dict
    data: object  # the TrainingSet it was trained on (with one invalid row appended)


def tiny_training_set():
    """200 real AKT1 rows plus one unparsable SMILES (so ``rows_rejected`` is exercised)."""
    from services.predictor.reference import load_akt1
    from services.predictor.training import TrainingSet

    data = load_akt1(limit=TINY_ROWS)
    return TrainingSet(
        ids=[*data.ids, "BROKEN"],
        smiles=[*data.smiles, INVALID_TRAINING_SMILES],
        y=np.append(data.y, 5.0),
    )


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> TinyModel:
    from services.predictor.training import train_model
    from shared.model_store import ModelStore

    root = tmp_path_factory.mktemp("unit-models")
    data = tiny_training_set()
    manifest = train_model(ModelStore(root), "tiny", data, TINY_FEATURIZER, TINY_ESTIMATOR, TINY_SEED,
                           {"source": "unit-test sample"})
    return TinyModel(root=root, name="tiny", manifest=manifest, data=data)


@pytest.fixture
def loaded_tiny(tiny_model):
    """The tiny model as the predictor serves it (checksum-verified, via the real loader)."""
    from services.predictor.loader import ModelCache
    from shared.model_store import ModelStore

    return ModelCache(ModelStore(tiny_model.root), capacity=1).get(tiny_model.name, tiny_model.manifest["version"])


@pytest.fixture(scope="package", autouse=True)
def _hermetic_home(tmp_path_factory):
    """No unit test reads the developer's ``CAUSALMOL_*`` settings or writes under the repository's ``var/``.

    Every default path (models, datasets) derives from a temporary ``CAUSALMOL_HOME`` for the whole unit package;
    the environment is restored when the package is done, so later test packages see it unchanged.
    """
    import os

    with pytest.MonkeyPatch.context() as patch:
        for key in list(os.environ):
            if key.startswith("CAUSALMOL_"):
                patch.delenv(key)
        patch.setenv("CAUSALMOL_HOME", str(tmp_path_factory.mktemp("causalmol-home")))
        # Unit tests exercise one module each: API keys are the auth tests' business (they require them).
        patch.setenv("CAUSALMOL_AUTH", "disabled")
        _clear_process_caches()
        yield
    _clear_process_caches()


def _clear_process_caches() -> None:
    import services.predictor.loader as loader
    from services.causal.logic import domain_index
    from shared.config import get_settings
    from shared.db import reset_caches
    from shared.jobs import get_job_store

    reset_caches()
    get_settings.cache_clear()
    get_job_store.cache_clear()
    domain_index.cache_clear()
    loader._cache = None


KEPT = ("CAUSALMOL_HOME", "CAUSALMOL_AUTH")


@pytest.fixture
def settings_env(monkeypatch):
    """Point the process settings at a chosen environment; every settings-derived cache is cleared around the test.

    Usage: ``settings_env(CAUSALMOL_MODELS_DIR=str(path))``. Other ``CAUSALMOL_*`` variables (but the temporary
    home) are removed first, so tests run in embedded mode unless they say otherwise.
    """
    import os

    for key in list(os.environ):
        if key.startswith("CAUSALMOL_") and key not in KEPT:  # the package's temporary home stays
            monkeypatch.delenv(key)

    def apply(**env: str) -> None:
        if env.get("CAUSALMOL_REDIS_URL"):  # distributed mode always requires keys
            monkeypatch.delenv("CAUSALMOL_AUTH", raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        _clear_process_caches()

    _clear_process_caches()
    yield apply
    monkeypatch.undo()
    _clear_process_caches()


@pytest.fixture
def tiny_env(settings_env, tiny_model) -> TinyModel:
    """Settings (and the causal/predictor caches) pointed at the tiny model's models dir."""
    settings_env(CAUSALMOL_MODELS_DIR=str(tiny_model.root))
    return tiny_model


# --- a causal profile of the tiny model, shared by the profile, annotation and scoring tests ---


def tiny_rows(tiny_model):
    """The tiny model's training rows as a dataset gives them, plus a random SYNTHETIC assay column."""
    data = tiny_model.data
    assay = np.random.default_rng(0).choice(["A", "B", "C"], len(data.ids))
    return [{"id": i, "canonical_smiles": s, "pactivity": str(v), "assay": a}
            for i, s, v, a in zip(data.ids, data.smiles, data.y, assay, strict=True)]


def build(rows, seed=0):
    from services.causal.profile import build_profile

    model = {"featurizer": TINY_FEATURIZER, "estimator": TINY_ESTIMATOR, "seed": TINY_SEED}
    return build_profile(rows, ["assay"], None, model, seed)


@pytest.fixture(scope="module")
def profile(tiny_model):
    return build(tiny_rows(tiny_model))


@pytest.fixture
def profiled_env(settings_env, tiny_model, profile, tmp_path):
    """A copy of the tiny model whose version 1 carries the profile as its sidecar."""
    import shutil

    from services.causal.profile import PROFILE_FILE
    from shared.model_store import ModelStore

    shutil.copytree(tiny_model.root / "tiny", tmp_path / "tiny")
    ModelStore(tmp_path).write_sidecar("tiny", 1, PROFILE_FILE, profile)
    settings_env(CAUSALMOL_MODELS_DIR=str(tmp_path))
    return tmp_path
