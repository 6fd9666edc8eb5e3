"""The job store's control side: cancel, idempotency keys, webhook attempts, chunk messages for the watchdog,
per-chunk reads for paged results, and the newest-first job index for listing.

``JobStore`` (``shared/jobs.py``) inherits ``JobControl``; ``MemoryControl`` and ``RedisControl`` are mixed into
the memory and Redis stores and use their state (``_lock``/``_jobs`` and ``_redis``/``_key``). Everything here
expires with the job (the result TTL), except idempotency keys, which keep their own TTL.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import json
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


_CANCEL = """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' and status ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'finished_at', ARGV[1])
redis.call('RPUSH', KEYS[2], '1')
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""
_CLAIM_REQUEUE = """
if redis.call('HGET', KEYS[1], 'progress_at') ~= ARGV[1]
   or tonumber(redis.call('HGET', KEYS[1], 'requeues') or '0') ~= tonumber(ARGV[3]) then return 0 end
redis.call('HINCRBY', KEYS[1], 'requeues', 1)
redis.call('HSET', KEYS[1], 'progress_at', ARGV[2])
return 1
"""
# KEYS: the job's hash, the active set; ARGV: now (epoch seconds), the lease, the job id. The claim is the time.
_CLAIM_NOTIFICATION = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local claimed = redis.call('HGET', KEYS[1], 'notified')
if claimed == '1' or (claimed and tonumber(ARGV[1]) - tonumber(claimed) < tonumber(ARGV[2])) then return 0 end
redis.call('HSET', KEYS[1], 'notified', ARGV[1])
redis.call('SADD', KEYS[2], ARGV[3])
return 1
"""
_RELEASE_NOTIFICATION = """
if redis.call('HGET', KEYS[1], 'notified') ~= '1' then redis.call('HDEL', KEYS[1], 'notified') end
"""
_MARK_NOTIFIED = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'notified', '1') end
"""
ACTIVE_KEY = "causalmol:jobs:active"


class RedisControl(JobControl):
    """Distributed mode: the same state in Redis, beside each job's hash and with its TTL."""

    _redis: Any
    _ttl: int
    _key: Callable[[str], str]  # the Redis store's key names
    _chunk_key: Callable[[str, int], str]

    @staticmethod
    def _index_key(project: str) -> str:
        return f"causalmol:jobs:index:{project}"

    def cancel(self, job_id: str) -> bool:
        script = self._redis.register_script(_CANCEL)
        return script(keys=[self._key(job_id), f"{self._key(job_id)}:finished"],
                      args=[json.dumps(utc_now()), self._ttl]) == 1  # finished_at is a JSON field

    def claim_key(self, scope: str, key: str, fingerprint: str, job_id: str, ttl: int) -> dict[str, str] | None:
        name = f"causalmol:idempotency:{key_digest(scope, key)}"
        value = json.dumps({"fingerprint": fingerprint, "job_id": job_id})
        if self._redis.set(name, value, nx=True, ex=ttl):
            return None
        held = self._redis.get(name)
        return json.loads(held) if held else self.claim_key(scope, key, fingerprint, job_id, ttl)  # expired now

    def release_key(self, scope: str, key: str) -> None:
        self._redis.delete(f"causalmol:idempotency:{key_digest(scope, key)}")

    def add_callback(self, job_id: str, attempt: dict[str, Any]) -> None:
        with self._redis.pipeline() as pipe:
            pipe.rpush(f"{self._key(job_id)}:callbacks", json.dumps(attempt))
            pipe.expire(f"{self._key(job_id)}:callbacks", self._ttl)
            pipe.execute()

    def callbacks(self, job_id: str) -> list[dict[str, Any]]:
        return [json.loads(a) for a in self._redis.lrange(f"{self._key(job_id)}:callbacks", 0, -1)]

    def claim_notification(self, job_id: str, lease_seconds: float) -> bool:
        script = self._redis.register_script(_CLAIM_NOTIFICATION)
        return script(keys=[self._key(job_id), ACTIVE_KEY], args=[progress_stamp(), lease_seconds, job_id]) == 1

    def release_notification(self, job_id: str) -> None:
        self._redis.register_script(_RELEASE_NOTIFICATION)(keys=[self._key(job_id)])

    def mark_notified(self, job_id: str) -> None:
        self._redis.register_script(_MARK_NOTIFIED)(keys=[self._key(job_id)])

    def keep_messages(self, job_id: str, messages: list[dict[str, Any]]) -> None:
        key = f"{self._key(job_id)}:messages"
        with self._redis.pipeline() as pipe:
            pipe.hset(key, mapping={str(i): json.dumps(m) for i, m in enumerate(messages)})
            pipe.expire(key, self._ttl)
            pipe.sadd(ACTIVE_KEY, job_id)
            pipe.execute()

    def chunk_messages(self, job_id: str) -> dict[int, dict[str, Any]]:
        return {int(i): json.loads(m) for i, m in self._redis.hgetall(f"{self._key(job_id)}:messages").items()}

    def chunk_results(self, job_id: str, index: int) -> list[dict[str, Any]] | None:
        chunk = self._redis.get(self._chunk_key(job_id, index))
        return json.loads(chunk) if chunk is not None else None

    def missing_chunks(self, job_id: str, n_chunks: int) -> list[int]:
        with self._redis.pipeline() as pipe:  # one round trip, not one per chunk
            for i in range(n_chunks):
                pipe.exists(self._chunk_key(job_id, i))
            return [i for i, stored in enumerate(pipe.execute()) if not stored]

    def claim_requeue(self, job_id: str, seen_progress_at: str, seen_requeues: int) -> bool:
        script = self._redis.register_script(_CLAIM_REQUEUE)
        return script(keys=[self._key(job_id)], args=[seen_progress_at, progress_stamp(), seen_requeues]) == 1

    def active_jobs(self) -> list[str]:
        return sorted(self._redis.smembers(ACTIVE_KEY))

    def forget_active(self, job_id: str) -> None:
        self._redis.srem(ACTIVE_KEY, job_id)

    def index_job(self, record: dict[str, Any]) -> None:
        key = self._index_key(record.get("project") or NO_PROJECT)
        cutoff = f"{time.time_ns() - self._ttl * 10**9:020d}"
        with self._redis.pipeline() as pipe:
            pipe.zadd(key, {index_member(record): 0})
            pipe.zremrangebylex(key, "-", f"({cutoff}")  # entries older than the TTL: their jobs are gone
            pipe.execute()

    def index_page(self, project: str, before: str | None, n: int) -> list[str]:
        return self._redis.zrevrangebylex(self._index_key(project), f"({before}" if before else "+", "-", 0, n)

    def unindex(self, project: str, member: str) -> None:
        self._redis.zrem(self._index_key(project), member)
