"""The job store's control side: cancel, idempotency keys, webhook attempts, chunk messages for the watchdog,
per-chunk reads for paged results, and the newest-first job index for listing.

``JobStore`` (``shared/jobs.py``) inherits ``JobControl``; ``MemoryControl`` (here) and ``RedisControl``
(``shared/job_control_redis.py``) are mixed into the memory and Redis stores and use their state
(``_lock``/``_jobs`` and ``_redis``/``_key``). Everything expires with the job (the result TTL), except idempotency
keys, which keep their own TTL.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from shared.job_status import ACTIVE, CANCELLED, utc_now

NOTIFIED = "1"  # a record's ``notified`` once its webhook is queued (while claimed: the claim's epoch seconds)
NO_PROJECT = "_"  # the index of jobs that belong to no project (before API keys, or embedded without keys)
MAX_SCANNED = 2_000  # index entries one listing reads at most: a narrow filter pages on rather than scan forever


class InvalidCursor(ValueError):
    """A cursor this store did not hand out."""


def progress_stamp() -> str:
    """When a job last moved (created, a chunk stored, chunks requeued): compared as text, read as epoch seconds."""
    return f"{math.floor(time.time() * 1000) / 1000:.3f}"  # rounded down: never later than now


def encode_cursor(member: str) -> str:
    return base64.urlsafe_b64encode(member.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        member = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor(cursor) from exc
    if "|" not in member:
        raise InvalidCursor(cursor)
    return member


def index_member(record: dict[str, Any]) -> str:
    """Sorts as text in the order jobs were indexed (nanoseconds, zero-padded): newest is greatest."""
    return f"{time.time_ns():020d}|{record['job_id']}"


def key_digest(scope: str, key: str) -> str:
    return hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()


class JobControl(ABC):
    @abstractmethod
    def record(self, job_id: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job; False when it had already finished (or is unknown)."""

    @abstractmethod
    def claim_key(self, scope: str, key: str, fingerprint: str, job_id: str, ttl: int) -> dict[str, str] | None:
        """Take an idempotency key for ``job_id``: None when taken now, else what it already holds."""

    @abstractmethod
    def release_key(self, scope: str, key: str) -> None: ...

    @abstractmethod
    def add_callback(self, job_id: str, attempt: dict[str, Any]) -> None: ...

    @abstractmethod
    def callbacks(self, job_id: str) -> list[dict[str, Any]]: ...

    @abstractmethod
    def claim_notification(self, job_id: str, lease_seconds: float) -> bool:
        """True once per job, to the caller that then queues its webhook (a task finishing twice never sends two),
        or again once a claim is ``lease_seconds`` old and its webhook still not queued (its claimant died). A
        claim puts the job under the watchdog's eye (``active_jobs``) until ``mark_notified``."""

    @abstractmethod
    def release_notification(self, job_id: str) -> None:
        """Give the claim back (the webhook could not be queued): the watchdog's next sweep claims it again."""

    @abstractmethod
    def mark_notified(self, job_id: str) -> None:
        """The webhook is queued: no claim succeeds again. The record's ``notified`` is then ``NOTIFIED``."""

    @abstractmethod
    def keep_messages(self, job_id: str, messages: list[dict[str, Any]]) -> None:
        """What was published per chunk (tasks, message, priority), so a lost chunk can be published again."""

    @abstractmethod
    def chunk_messages(self, job_id: str) -> dict[int, dict[str, Any]]: ...

    @abstractmethod
    def chunk_results(self, job_id: str, index: int) -> list[dict[str, Any]] | None:
        """One chunk's stored results, or None while it has none."""

    @abstractmethod
    def claim_requeue(self, job_id: str, seen_progress_at: str, seen_requeues: int) -> bool:
        """Count one requeue if the job has not moved since it was read (one watchdog wins)."""

    @abstractmethod
    def active_jobs(self) -> list[str]:
        """Jobs the watchdog looks at; finished or expired ones are dropped by ``forget_active``."""

    @abstractmethod
    def forget_active(self, job_id: str) -> None: ...

    @abstractmethod
    def index_job(self, record: dict[str, Any]) -> None: ...

    @abstractmethod
    def index_page(self, project: str, before: str | None, n: int) -> list[str]:
        """Up to ``n`` index members older than ``before`` (all when None), newest first."""

    @abstractmethod
    def unindex(self, project: str, member: str) -> None: ...

    def missing_chunks(self, job_id: str, n_chunks: int) -> list[int]:
        return [i for i in range(n_chunks) if self.chunk_results(job_id, i) is None]

    def list_jobs(
        self, project: str | None, keep: Callable[[dict[str, Any]], bool], cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first, the records ``keep`` accepts: (page, next cursor or None at the end).

        At most ``MAX_SCANNED`` index entries are read per call, so a filter that matches little answers a short
        page with a cursor rather than reading the whole index.
        """
        scope = project or NO_PROJECT
        before = decode_cursor(cursor) if cursor else None
        page: list[dict[str, Any]] = []
        scanned = 0
        while len(page) < limit and scanned < MAX_SCANNED:
            members = self.index_page(scope, before, min(limit * 2, MAX_SCANNED - scanned))
            if not members:
                return page, None
            for member in members:
                scanned += 1
                before = member
                record = self.record(member.rpartition("|")[2])
                if record is None:  # expired: its index entry goes too
                    self.unindex(scope, member)
                elif keep(record):
                    page.append(record)
                    if len(page) == limit:
                        break
        return page, encode_cursor(before) if before else None


class MemoryControl(JobControl):
    """Embedded mode's control state, next to the memory store's jobs and guarded by its lock."""

    _lock: threading.Lock
    _jobs: dict[str, dict[str, Any]]
    _chunks: dict[tuple[str, int], list[dict[str, Any]]]

    def _init_control(self) -> None:
        self._keys: dict[str, tuple[float, dict[str, str]]] = {}
        self._callbacks: dict[str, list[dict[str, Any]]] = {}
        self._messages: dict[str, dict[int, dict[str, Any]]] = {}
        self._index: dict[str, list[str]] = {}
        self._active: set[str] = set()

    def _drop_control(self, job_id: str) -> None:
        for state in (self._callbacks, self._messages):
            state.pop(job_id, None)
        self._active.discard(job_id)

    def _signal_finished(self) -> None:
        finished = getattr(self, "_finished", None)  # the waiters' condition, when the store has one
        if finished is not None:
            finished.notify_all()

    def cancel(self, job_id: str) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job["status"] not in ACTIVE:
                return False
            job.update(status=CANCELLED, finished_at=utc_now())
            self._signal_finished()
            return True

    def claim_key(self, scope: str, key: str, fingerprint: str, job_id: str, ttl: int) -> dict[str, str] | None:
        digest, now = key_digest(scope, key), time.monotonic()
        with self._lock:
            held = self._keys.get(digest)
            if held is not None and held[0] > now:
                return dict(held[1])
            self._keys = {k: v for k, v in self._keys.items() if v[0] > now}  # bounded by the TTL
            self._keys[digest] = (now + ttl, {"fingerprint": fingerprint, "job_id": job_id})
            return None

    def release_key(self, scope: str, key: str) -> None:
        with self._lock:
            self._keys.pop(key_digest(scope, key), None)

    def add_callback(self, job_id: str, attempt: dict[str, Any]) -> None:
        with self._lock:
            if job_id in self._jobs:
                self._callbacks.setdefault(job_id, []).append(dict(attempt))

    def callbacks(self, job_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(a) for a in self._callbacks.get(job_id, [])]

    def claim_notification(self, job_id: str, lease_seconds: float) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return False
            claimed = job.get("notified")
            if claimed == NOTIFIED or (claimed is not None and time.time() - float(claimed) < lease_seconds):
                return False
            job["notified"] = progress_stamp()  # rounded down: a lease of 0 has lapsed at once
            self._active.add(job_id)
            return True

    def release_notification(self, job_id: str) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and job.get("notified") != NOTIFIED:
                job.pop("notified", None)

    def mark_notified(self, job_id: str) -> None:
        with self._lock:
            if job_id in self._jobs:
                self._jobs[job_id]["notified"] = NOTIFIED

    def keep_messages(self, job_id: str, messages: list[dict[str, Any]]) -> None:
        with self._lock:
            self._messages[job_id] = dict(enumerate(messages))
            self._active.add(job_id)

    def chunk_messages(self, job_id: str) -> dict[int, dict[str, Any]]:
        with self._lock:
            return dict(self._messages.get(job_id, {}))

    def chunk_results(self, job_id: str, index: int) -> list[dict[str, Any]] | None:
        with self._lock:
            chunk = self._chunks.get((job_id, index))
            return list(chunk) if chunk is not None else None

    def claim_requeue(self, job_id: str, seen_progress_at: str, seen_requeues: int) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or (job.get("progress_at"), int(job.get("requeues", 0))) != (seen_progress_at,
                                                                                          seen_requeues):
                return False
            job["requeues"] = int(job.get("requeues", 0)) + 1
            job["progress_at"] = progress_stamp()
            return True

    def active_jobs(self) -> list[str]:
        with self._lock:
            return sorted(self._active)

    def forget_active(self, job_id: str) -> None:
        with self._lock:
            self._active.discard(job_id)

    def index_job(self, record: dict[str, Any]) -> None:
        with self._lock:
            bisect.insort(self._index.setdefault(record.get("project") or NO_PROJECT, []), index_member(record))

    def index_page(self, project: str, before: str | None, n: int) -> list[str]:
        with self._lock:
            members = self._index.get(project, [])
            end = bisect.bisect_left(members, before) if before is not None else len(members)
            return members[max(end - n, 0) : end][::-1]

    def unindex(self, project: str, member: str) -> None:
        with self._lock:
            members = self._index.get(project, [])
            at = bisect.bisect_left(members, member)
            if at < len(members) and members[at] == member:
                del members[at]
