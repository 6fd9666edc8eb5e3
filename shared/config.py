"""Settings read from the environment, once per process.

Every knob is a ``CAUSALMOL_*`` variable so containers, ``deploy/local/stack.sh`` and tests configure the
services the same way. With no ``CAUSALMOL_REDIS_URL`` the service runs in embedded mode: an in-memory broker
and job store, and the Celery tasks executed by a worker thread inside the gateway process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# One per worker service: the online path (featurizer, scoring) and training (predictor, causal), see celery_app.
QUEUES: tuple[str, ...] = ("featurizer", "scoring", "predictor", "causal")


@dataclass(frozen=True)
class Settings:
    redis_url: str | None = None
    home: Path = Path("var")
    models_dir: Path = Path("var/models")
    datasets_dir: Path = Path("var/datasets")
    chunk_size: int = 500
    max_molecules: int = 100_000
    max_content_length: int = 50 * 1024 * 1024
    result_ttl_seconds: int = 7 * 24 * 3600
    task_soft_time_limit: int = 300
    task_time_limit: int = 360
    training_time_limit: int = 3600
    broker_timeout_seconds: float = 2.0
    model_cache_size: int = 4
    log_level: str = "INFO"
    proxy_fix: int = 0  # proxies in front of the gateway whose X-Forwarded-* headers are trusted (0: none)

    @property
    def embedded(self) -> bool:
        return not self.redis_url


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    home = Path(env.get("CAUSALMOL_HOME", "var")).absolute()
    return Settings(
        redis_url=env.get("CAUSALMOL_REDIS_URL") or None,
        home=home,
        models_dir=Path(env.get("CAUSALMOL_MODELS_DIR", home / "models")).absolute(),
        datasets_dir=Path(env.get("CAUSALMOL_DATASETS_DIR", home / "datasets")).absolute(),
        chunk_size=int(env.get("CAUSALMOL_CHUNK_SIZE", 500)),
        max_molecules=int(env.get("CAUSALMOL_MAX_MOLECULES", 100_000)),
        max_content_length=int(env.get("CAUSALMOL_MAX_CONTENT_LENGTH", 50 * 1024 * 1024)),
        result_ttl_seconds=int(env.get("CAUSALMOL_RESULT_TTL", 7 * 24 * 3600)),
        task_soft_time_limit=int(env.get("CAUSALMOL_TASK_SOFT_TIME_LIMIT", 300)),
        task_time_limit=int(env.get("CAUSALMOL_TASK_TIME_LIMIT", 360)),
        training_time_limit=int(env.get("CAUSALMOL_TRAINING_TIME_LIMIT", 3600)),
        broker_timeout_seconds=float(env.get("CAUSALMOL_BROKER_TIMEOUT", 2.0)),
        model_cache_size=int(env.get("CAUSALMOL_MODEL_CACHE_SIZE", 4)),
        log_level=env.get("CAUSALMOL_LOG_LEVEL", "INFO").upper(),
        proxy_fix=int(env.get("CAUSALMOL_PROXY_FIX", 0)),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests that change the environment call ``get_settings.cache_clear()``."""
    return load_settings()
