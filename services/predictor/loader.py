"""Lazy, checksum-verified model loading with a bounded LRU cache per worker process."""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock
from typing import Any

import joblib
from sklearn.base import RegressorMixin

from services.predictor.training import ESTIMATOR_FILE
from shared.config import get_settings
from shared.model_store import ModelStore

logger = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    manifest: dict[str, Any]
    estimator: RegressorMixin


class ModelCache:
    def __init__(self, store: ModelStore, capacity: int) -> None:
        self.store, self.capacity = store, capacity
        self._models: OrderedDict[tuple[str, int], LoadedModel] = OrderedDict()
        self._lock = Lock()

    def get(self, name: str, version: int) -> LoadedModel:
        key = (name, version)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
        # Retired versions stay loadable: a job queued before the retirement still finishes.
        manifest = self.store.resolve(f"{name}@{version}", allow_retired=True)
        estimator = joblib.load(self.store.verified_file(manifest, ESTIMATOR_FILE))
        if "n_jobs" in estimator.get_params():
            # Chunks are small and workers scale by process: joblib threads per call only add latency.
            estimator.set_params(n_jobs=1)
        loaded = LoadedModel(manifest, estimator)
        logger.info("loaded model %s@%d", name, version)
        with self._lock:
            self._models[key] = loaded
            while len(self._models) > self.capacity:
                self._models.popitem(last=False)
        return loaded


_cache: ModelCache | None = None


def get_model_cache() -> ModelCache:
    global _cache
    if _cache is None:
        settings = get_settings()
        _cache = ModelCache(ModelStore(settings.models_dir), settings.model_cache_size)
    return _cache
