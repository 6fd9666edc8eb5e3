"""Embedded mode: the same Celery tasks, consumed by a worker thread inside the gateway process.

Used when no ``CAUSALMOL_REDIS_URL`` is set: the broker is kombu's in-memory transport and the job store lives
in process memory, so a newcomer runs the whole service with one command and the same async job semantics.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.worker import WorkController

from shared.celery_app import celery_app, worker_queues
from shared.config import QUEUES

logger = logging.getLogger(__name__)


class EmbeddedWorker(WorkController):
    """A worker that says when its consumer is ready, so readiness checks can ask it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.ready = threading.Event()
        super().__init__(*args, **kwargs)

    def on_consumer_ready(self, consumer: object) -> None:
        self.ready.set()


_worker: EmbeddedWorker | None = None
_thread: threading.Thread | None = None
_lock = threading.Lock()


def start_embedded_worker(ready_timeout: float = 30.0) -> EmbeddedWorker:
    """Start (once per process) a solo-pool worker thread consuming every service's queue."""
    global _worker, _thread
    with _lock:
        if _worker is not None:
            return _worker
        # Registering the tasks imports RDKit, scikit-learn and the rest: only embedded mode does this.
        import services.causal.tasks  # noqa: F401
        import services.featurizer.tasks  # noqa: F401
        import services.predictor.tasks  # noqa: F401
        import services.scoring.tasks  # noqa: F401

        _worker = EmbeddedWorker(
            app=celery_app,
            pool="solo",
            concurrency=1,
            queues=list(dict.fromkeys(q for service in QUEUES for q in worker_queues(service))),
            hostname="embedded@localhost",
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
        )
        _thread = threading.Thread(target=_worker.start, name="causalmol-embedded-worker", daemon=True)
        _thread.start()
    if not _worker.ready.wait(ready_timeout):
        logger.error("embedded worker not ready after %.0f s", ready_timeout)
    else:
        logger.info("embedded worker consuming %s", ", ".join(QUEUES))
    return _worker


def embedded_queues() -> set[str]:
    """Queues the embedded worker consumes now: empty if it is not running."""
    if _worker is None or _thread is None or not _thread.is_alive() or not _worker.ready.is_set():
        return set()
    return set(QUEUES)
