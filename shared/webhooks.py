"""Webhook signatures and the moment a job's callback is sent; the delivery itself is ``services/webhooks``.

A callback is ``POST callback_url`` with a JSON body, signed with HMAC-SHA256 over ``"<timestamp>.<raw body>"``
(the timestamp lets a receiver refuse replays), with the job's project's own secret if it has one (the accounts
database: ``services/accounts/webhook_secrets.secret_for``), else ``CAUSALMOL_WEBHOOK_SECRET``; with neither, a
``callback_url`` is refused (400) and nothing is ever sent unsigned. Headers: ``X-Causalmol-Timestamp`` (Unix
seconds), ``X-Causalmol-Signature: sha256=<hex>``, ``X-Causalmol-Event`` and ``X-Causalmol-Delivery``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from typing import Any

from shared.job_control import NOTIFIED
from shared.job_status import FAILED, SUCCEEDED

logger = logging.getLogger(__name__)

WEBHOOK_TASK = "webhook.deliver"
SIGNATURE_HEADER = "X-Causalmol-Signature"
TIMESTAMP_HEADER = "X-Causalmol-Timestamp"
EVENT_HEADER = "X-Causalmol-Event"
DELIVERY_HEADER = "X-Causalmol-Delivery"
EVENTS = {SUCCEEDED: "job.succeeded", FAILED: "job.failed"}
# A claim to queue a job's callback older than this, with the callback still not queued, is taken over (its
# claimant died between the claim and the publish): far longer than a publish takes, short next to a retry's wait.
NOTIFY_LEASE_SECONDS = 120.0


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signed: str, tolerance: float = 300.0) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent."""
    try:
        fresh = abs(time.time() - int(timestamp)) <= tolerance
    except ValueError:
        return False
    return fresh and hmac.compare_digest(signature(secret, timestamp, body), signed)


def pending(record: dict[str, Any] | None) -> bool:
    """A finished job whose callback is not queued yet (unclaimed, or claimed by a publish under way or lost)."""
    return bool(record and record.get("callback_url") and record["status"] in EVENTS
                and record.get("notified") != NOTIFIED)


def notify_if_finished(store: Any, job_id: str, record: dict[str, Any] | None = None) -> bool:
    """Queue the job's one callback if it has finished (succeeded or failed) and has a ``callback_url``.

    Called wherever a job may have just finished (after each pipeline task, by the watchdog); the store's
    ``claim_notification`` makes it send once however many callers see the finished job. A publish that fails
    gives the claim back and leaves the job to the watchdog, which sends it on a later sweep (``resend``); a
    claimant that dies before its publish lets the claim lapse after ``NOTIFY_LEASE_SECONDS``. ``record``: the job's
    state as the caller just read it (else it is read here).
    """
    from shared.publish import publish  # the publisher needs the configured Celery app

    record = store.record(job_id) if record is None else record
    if not pending(record):
        return False
    if not store.claim_notification(job_id, NOTIFY_LEASE_SECONDS):
        return False
    event = EVENTS[record["status"]]
    try:
        publish((WEBHOOK_TASK,), {"job_id": job_id, "event": event})
    except Exception:
        logger.warning("job %s: the %s callback could not be queued; the watchdog sends it later", job_id, event,
                       exc_info=True)
        try:
            store.release_notification(job_id)
        except Exception:  # the store is out too: the claim lapses after its lease instead
            logger.warning("job %s: claim of the callback not released (lapses in %.0f s)", job_id,
                           NOTIFY_LEASE_SECONDS)
        return False
    store.mark_notified(job_id)
    logger.info("job %s: %s callback queued", job_id, event)
    return True


def resend(store: Any, record: dict[str, Any]) -> bool:
    """The watchdog's turn on a finished job it still watches: queue its callback if that never happened; True
    while the callback is still not queued (the job stays watched)."""
    if not pending(record):
        return False
    return notify_if_finished(store, record["job_id"]) is False and pending(store.record(record["job_id"]))
