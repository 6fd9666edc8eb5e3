"""Idempotency-Key and the per-job options of every POST that creates a job.

The same key with the same body (``wait`` aside) within ``CAUSALMOL_IDEMPOTENCY_TTL`` (24 h) answers the job the
first request made; with another body it is ``409 idempotency_key_reused``. Keys are scoped per project (one
namespace when there are no projects) and kept in the job store (Redis, or memory when embedded). The key is taken
*before* the job is created, with the new job's id, so two concurrent retries never make two jobs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import g, has_request_context, request

from services.accounts.webhook_secrets import secret_for
from services.gateway.auth import current_project
from services.gateway.context import gateway_context
from shared.errors import IdempotencyKeyInProgress, IdempotencyKeyReused, InvalidRequest
from shared.job_control import NO_PROJECT

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
VALID_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no spaces
NOT_PART_OF_THE_REQUEST = ("wait",)  # a retry may wait longer: it is still the same request
IN_FLIGHT_GRACE_SECONDS = 2.0


def job_options() -> dict[str, Any]:
    """What ``service.start_job`` adds to the job it creates in this request: the caller's ``client_reference``
    and ``callback_url``, and the ``job_id`` an Idempotency-Key was taken for."""
    return dict(g.get("job_options", {})) if has_request_context() else {}


def fingerprint(route: str, body: dict[str, Any]) -> str:
    canonical = json.dumps({k: v for k, v in body.items() if k not in NOT_PART_OF_THE_REQUEST}, sort_keys=True,
                           default=str, separators=(",", ":"))
    return hashlib.sha256(f"{route}\n{canonical}".encode()).hexdigest()


def set_job_options(data: dict[str, Any]) -> None:
    """Keep the request's job options for ``start_job``; a callback needs a signing secret to be accepted."""
    options = {k: data.get(k) for k in ("client_reference", "callback_url") if data.get(k) is not None}
    if "callback_url" in options and not secret_for(gateway_context().settings, current_project()):
        raise InvalidRequest("callback_url needs a webhook secret: the project's own (causalmol keys webhook-secret "
                             "rotate) or CAUSALMOL_WEBHOOK_SECRET",
                             {"fields": {"callback_url": ["webhooks are not configured on this server"]}})
    g.job_options = options


@dataclass
class Claim:
    """The outcome of an Idempotency-Key: ``replay`` is the first request's job, else the key is held for a new
    one (``release`` gives it back when no job was made after all)."""

    replay: dict[str, Any] | None = None
    scope: str = NO_PROJECT
    key: str | None = None

    def release(self) -> None:
        if self.key is not None:
            gateway_context().job_store.release_key(self.scope, self.key)
            self.key = None


@contextmanager
def idempotent(route: str, data: dict[str, Any]) -> Iterator[Claim]:
    """Around the creation of a job: replays, refuses a reused key, or holds the key for the job made inside."""
    set_job_options(data)
    key = request.headers.get(HEADER)
    if key is None:
        yield Claim()
        return
    if not VALID_KEY.fullmatch(key):
        raise InvalidRequest(f"{HEADER} must be 1 to 255 printable ASCII characters without spaces",
                             {"fields": {HEADER: ["1 to 255 printable ASCII characters"]}})
    ext = gateway_context()
    scope, digest = current_project() or NO_PROJECT, fingerprint(route, data)
    new_job_id = uuid.uuid4().hex
    held = ext.job_store.claim_key(scope, key, digest, new_job_id, ext.settings.idempotency_ttl_seconds)
    if held is not None:
        if held["fingerprint"] != digest:
            raise IdempotencyKeyReused(f"this {HEADER} was used with another request in the last 24 h",
                                       {"job_id": held["job_id"]})
        yield Claim(replay=_first_job(held["job_id"]))
        return
    g.job_options = {**g.job_options, "job_id": new_job_id}
    claim = Claim(scope=scope, key=key)
    try:
        yield claim
    except BaseException:
        claim.release()  # nothing was accepted: a retry with the same key must be able to try again
        raise


def _first_job(job_id: str) -> dict[str, Any]:
    """The first request's job; it may still be being created by a concurrent request for a moment."""
    store = gateway_context().job_store
    deadline = time.monotonic() + IN_FLIGHT_GRACE_SECONDS
    while (record := store.record(job_id)) is None:
        if time.monotonic() >= deadline:
            raise IdempotencyKeyInProgress(f"the first request with this {HEADER} is still being accepted; retry",
                                           {"job_id": job_id})
        time.sleep(0.05)
    logger.info("job %s replayed for a repeated %s", job_id, HEADER)
    return record
