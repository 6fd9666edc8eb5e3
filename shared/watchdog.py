"""The watchdog: a prediction job that stops moving has its missing chunks published again, then fails.

A Redis restart can swallow a chunk for good (its message acknowledged or never persisted, its results never
stored), which left jobs ``running`` forever. The job record keeps each chunk's message; when a job has not moved
(no chunk stored, no requeue) for ``CAUSALMOL_CHUNK_DEADLINE`` seconds, the chunks with no stored results are
published again, by task name, up to ``CAUSALMOL_CHUNK_MAX_REQUEUES`` times; after that the job fails with
``chunk_lost``. A chunk that was only slow is stored once anyway (``save_chunk`` is idempotent), so a requeue of a
live chunk costs work, never a wrong answer. It runs on a timer in every scoring worker (and the embedded one),
and on each read of a job by the gateway; a compare-and-set on ``progress_at`` lets one of them act per deadline.
A finished job stays watched until its callback is queued: the sweep sends one whose publish failed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import bootsteps

from shared.config import Settings, get_settings
from shared.job_status import ACTIVE
from shared.webhooks import notify_if_finished, resend

logger = logging.getLogger(__name__)

CHUNK_LOST = "chunk_lost"
PREDICTION = "prediction"  # only prediction jobs keep their chunk messages


def check_job(store: Any, record: dict[str, Any], settings: Settings | None = None) -> str | None:
    """``"requeued"``, ``"failed"`` or None (nothing to do) for one job record."""
    from shared.publish import publish  # needs the configured Celery app

    settings = settings or get_settings()
    job_id, seen = record["job_id"], record.get("progress_at")
    if record.get("kind", PREDICTION) != PREDICTION or record["status"] not in ACTIVE or seen is None:
        return None
    if time.time() - float(seen) < settings.chunk_deadline_seconds:
        return None
    missing = store.missing_chunks(job_id, record["n_chunks"])
    messages = store.chunk_messages(job_id)
    if not missing or not messages:
        return None
    requeues = int(record.get("requeues", 0))
    if requeues >= settings.chunk_max_requeues:
        store.mark_failed(job_id, {"code": CHUNK_LOST, "message": (
            f"{len(missing)} of {record['n_chunks']} chunks were lost (requeued {requeues} times "
            f"without results); submit the job again")})
        logger.error("job %s failed: chunks %s lost", job_id, missing[:20])
        notify_if_finished(store, job_id)
        return "failed"
    if not store.claim_requeue(job_id, seen, requeues):
        return None  # another watchdog acted on this deadline, or a chunk just landed
    for index in missing:
        chunk = messages[index]
        publish(tuple(chunk["tasks"]), chunk["message"], chunk.get("priority"))
    logger.warning("job %s: no progress for %.0f s; %d chunk(s) published again", job_id,
                   settings.chunk_deadline_seconds, len(missing))
    return "requeued"


def sweep(store: Any, settings: Settings | None = None) -> dict[str, int]:
    """Check every active job once; finished or expired ones leave the active set, a finished one only once its
    callback is queued (one whose publish failed is sent from here)."""
    counts = {"requeued": 0, "failed": 0}
    for job_id in store.active_jobs():
        record = store.record(job_id)
        if record is None or (record["status"] not in ACTIVE and not resend(store, record)):
            store.forget_active(job_id)
            continue
        outcome = check_job(store, record, settings)
        if outcome:
            counts[outcome] += 1
    return counts


class WatchdogStep(bootsteps.StartStopStep):
    """Runs ``sweep`` every ``CAUSALMOL_WATCHDOG_INTERVAL`` seconds on the worker's own timer."""

    requires = ("celery.worker.components:Timer",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.tref: Any = None

    def start(self, parent: Any) -> None:
        self.tref = parent.timer.call_repeatedly(get_settings().watchdog_interval_seconds, self.tick)

    def stop(self, parent: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()

    @staticmethod
    def tick() -> None:
        from shared.jobs import get_job_store

        try:
            sweep(get_job_store())
        except Exception:  # Redis restarting: the next tick tries again
            logger.warning("watchdog sweep skipped", exc_info=True)


def install_watchdog(app: Any) -> None:
    """Add the watchdog to the workers this app starts (scoring workers and the embedded worker)."""
    if WatchdogStep not in app.steps["worker"]:
        app.steps["worker"].add(WatchdogStep)
