"""Settings read from the environment, once per process.

Every knob is a ``CAUSALMOL_*`` variable so containers, ``deploy/local/stack.sh`` and tests configure the
services the same way. With no ``CAUSALMOL_REDIS_URL`` the service runs in embedded mode: an in-memory broker
and job store, and the Celery tasks executed by a worker thread inside the gateway process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
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
    metrics_dir: Path = Path("var/metrics")  # the workers' Prometheus samples (multiprocess files), read by /metrics
    worker_metrics_port: int = 0  # a worker serves its samples on this port too (0: not)
    chunk_size: int = 500
    max_molecules: int = 100_000
    max_content_length: int = 50 * 1024 * 1024
    result_ttl_seconds: int = 7 * 24 * 3600
    compact_result_ttl_seconds: int = 3600  # a compact prediction's results (a REINVENT step reads them once)
    task_soft_time_limit: int = 300
    task_time_limit: int = 360
    training_time_limit: int = 3600
    broker_timeout_seconds: float = 2.0
    model_cache_size: int = 4
    log_level: str = "INFO"
    proxy_fix: int = 0  # proxies in front of the gateway whose X-Forwarded-* headers are trusted (0: none)
    idempotency_ttl_seconds: int = 24 * 3600
    webhook_secret: str | None = None  # signs job.succeeded / job.failed callbacks of projects without their own
    webhook_timeout_seconds: float = 5.0
    webhook_max_retries: int = 8
    chunk_deadline_seconds: float = 600.0  # a job that has not moved for this long has its missing chunks requeued
    chunk_max_requeues: int = 3  # ... this many times; then it fails with chunk_lost
    watchdog_interval_seconds: float = 30.0
    database_url: str = "sqlite:///var/causalmol.db"  # API keys and the audit trail
    auth_required: bool = True  # only embedded mode may turn it off (CAUSALMOL_AUTH=disabled)
    rate_limit: str = "600/minute"  # per API key, unless the key has its own
    session_secret: str | None = None  # signs browser sign-in cookies; embedded mode keeps one under home

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
        metrics_dir=Path(env.get("CAUSALMOL_METRICS_DIR", home / "metrics")).absolute(),
        worker_metrics_port=int(env.get("CAUSALMOL_WORKER_METRICS_PORT", 0)),
        chunk_size=int(env.get("CAUSALMOL_CHUNK_SIZE", 500)),
        max_molecules=int(env.get("CAUSALMOL_MAX_MOLECULES", 100_000)),
        max_content_length=int(env.get("CAUSALMOL_MAX_CONTENT_LENGTH", 50 * 1024 * 1024)),
        result_ttl_seconds=int(env.get("CAUSALMOL_RESULT_TTL", 7 * 24 * 3600)),
        compact_result_ttl_seconds=int(env.get("CAUSALMOL_COMPACT_RESULT_TTL", 3600)),
        task_soft_time_limit=int(env.get("CAUSALMOL_TASK_SOFT_TIME_LIMIT", 300)),
        task_time_limit=int(env.get("CAUSALMOL_TASK_TIME_LIMIT", 360)),
        training_time_limit=int(env.get("CAUSALMOL_TRAINING_TIME_LIMIT", 3600)),
        broker_timeout_seconds=float(env.get("CAUSALMOL_BROKER_TIMEOUT", 2.0)),
        model_cache_size=int(env.get("CAUSALMOL_MODEL_CACHE_SIZE", 4)),
        log_level=env.get("CAUSALMOL_LOG_LEVEL", "INFO").upper(),
        proxy_fix=int(env.get("CAUSALMOL_PROXY_FIX", 0)),
        idempotency_ttl_seconds=int(env.get("CAUSALMOL_IDEMPOTENCY_TTL", 24 * 3600)),
        webhook_secret=env.get("CAUSALMOL_WEBHOOK_SECRET") or None,
        webhook_timeout_seconds=float(env.get("CAUSALMOL_WEBHOOK_TIMEOUT", 5.0)),
        webhook_max_retries=int(env.get("CAUSALMOL_WEBHOOK_MAX_RETRIES", 8)),
        chunk_deadline_seconds=float(env.get("CAUSALMOL_CHUNK_DEADLINE", 600.0)),
        chunk_max_requeues=int(env.get("CAUSALMOL_CHUNK_MAX_REQUEUES", 3)),
        watchdog_interval_seconds=float(env.get("CAUSALMOL_WATCHDOG_INTERVAL", 30.0)),
        database_url=env.get("CAUSALMOL_DATABASE_URL") or f"sqlite:///{home / 'causalmol.db'}",
        auth_required=auth_required(env),
        rate_limit=env.get("CAUSALMOL_RATE_LIMIT", "600/minute"),
        session_secret=env.get("CAUSALMOL_SESSION_SECRET") or None,
    )


def auth_required(env: Mapping[str, str]) -> bool:
    """Keys are required unless embedded mode is told otherwise: a distributed gateway never serves anonymously."""
    value = env.get("CAUSALMOL_AUTH", "required").strip().lower()
    if value not in ("required", "disabled"):
        raise ValueError(f"CAUSALMOL_AUTH must be 'required' or 'disabled', not {value!r}")
    if value == "disabled" and env.get("CAUSALMOL_REDIS_URL"):
        raise ValueError("CAUSALMOL_AUTH=disabled is for embedded mode only; a distributed gateway requires keys")
    return value == "required"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests that change the environment call ``get_settings.cache_clear()``."""
    return load_settings()
