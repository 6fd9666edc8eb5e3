"""One delivery attempt of a job's callback: build the body, sign it, POST it, record the attempt on the job."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import requests
from sqlalchemy.exc import SQLAlchemyError

from services.accounts.webhook_secrets import secret_for
from shared.config import Settings
from shared.job_status import utc_now
from shared.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
)

logger = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    """The receiver did not answer 2xx (or could not be reached): the task retries with backoff."""


def callback_body(record: dict[str, Any], event: str) -> dict[str, Any]:
    """What the receiver gets: the job's state, not its results (it fetches those, paged, when it wants them)."""
    return {
        "event": event,
        "job_id": record["job_id"],
        "kind": record.get("kind", "prediction"),
        "status": record["status"],
        "client_reference": record.get("client_reference"),
        "model": record.get("model"),
        "progress": {"done": record["done"], "total": record["total"]},
        "created_at": record["created_at"],
        "finished_at": record.get("finished_at"),
        "error": record.get("error"),
        "results_path": f"/v1/jobs/{record['job_id']}/results",
    }


def deliver(store: Any, settings: Settings, job_id: str, event: str, attempt: int) -> int | None:
    """POST the callback once; the receiver's status code (recorded on the job), DeliveryFailed unless 2xx."""
    record = store.record(job_id)
    if record is None or not record.get("callback_url"):
        logger.warning("job %s expired or has no callback_url: %s not sent", job_id, event)
        return None
    try:
        secret = secret_for(settings, record.get("project"))
    except SQLAlchemyError as exc:  # never the fallback instead of a project's own secret: try again later
        _record_attempt(store, job_id, event, attempt, None, "secret_unavailable")
        raise DeliveryFailed(f"job {job_id} {event} attempt {attempt}: the project's secret could not be read") from exc
    if not secret:  # removed since the job was accepted, and no fallback: nothing is ever sent unsigned
        _record_attempt(store, job_id, event, attempt, None, "no_webhook_secret")
        logger.error("job %s: %s not sent: project %s has no webhook secret and there is no fallback", job_id, event,
                     record.get("project"))
        return None
    body = json.dumps(callback_body(record, event), separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", EVENT_HEADER: event, TIMESTAMP_HEADER: timestamp,
               DELIVERY_HEADER: uuid.uuid4().hex, "User-Agent": "causalmol-webhooks",
               SIGNATURE_HEADER: signature(secret, timestamp, body)}
    status_code: int | None = None
    error: str | None = None
    try:
        response = requests.post(record["callback_url"], data=body, headers=headers,
                                 timeout=settings.webhook_timeout_seconds, allow_redirects=False)
        status_code = response.status_code
    except requests.RequestException as exc:
        error = type(exc).__name__  # the kind of failure only: the receiver's address is the caller's own anyway
    _record_attempt(store, job_id, event, attempt, status_code, error)
    if status_code is None or not 200 <= status_code < 300:
        raise DeliveryFailed(f"job {job_id} {event} attempt {attempt}: {status_code or error}")
    logger.info("job %s: %s delivered (attempt %d, %d)", job_id, event, attempt, status_code)
    return status_code


def _record_attempt(store: Any, job_id: str, event: str, attempt: int, status_code: int | None,
                    error: str | None) -> None:
    store.add_callback(job_id, {"event": event, "attempt": attempt, "status_code": status_code, "at": utc_now(),
                                **({"error": error} if error else {})})
