"""Where jobs and their results live: Redis in distributed mode, process memory in embedded mode.

Both stores keep the same semantics: a chunk's results are written once (a redelivered task writes nothing
twice and counts nothing twice), progress counts finished molecules, and the job succeeds when its last chunk
lands. Keys expire after the configured result TTL.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import redis

from shared.config import Settings, get_settings
from shared.errors import BrokerUnavailable
from shared.job_control import JobControl, MemoryControl, progress_stamp
from shared.job_control_redis import RedisControl
from shared.job_status import ACTIVE, CANCELLED, FAILED, FINISHED, QUEUED, RUNNING, SUCCEEDED, utc_now

__all__ = ["ACTIVE", "CANCELLED", "FAILED", "FINISHED", "QUEUED", "RUNNING", "SUCCEEDED", "utc_now"]

logger = logging.getLogger(__name__)

PREDICTION = "prediction"
# Jobs other than predictions produce one result document, stored as the job's single chunk.
SINGLE_RESULT_KINDS = ("dataset", "training", "causal_effect", "export")
TALLY_PREFIX = "tally:"  # a Redis job hash's field per counted name (a verdict): tally:supported -> molecules


def full_tally(record: Mapping[str, Any]) -> dict[str, int] | None:
    """The counts the job's chunks were stored with (``save_chunk``'s ``tally``), summed; None unless every chunk
    was stored with counts (a chunk an older worker stored has none), so that a sum is never taken for the whole."""
    if record.get("tallied_chunks", 0) != record["n_chunks"]:
        return None
    return dict(record.get("tally") or {})


def new_job_record(
    job_id: str,
    model: dict[str, Any] | None,
    total: int,
    n_chunks: int,
    kind: str = PREDICTION,
    request_id: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A new job's state; ``request_id`` (the HTTP request that made it) is kept only when there is one, and so
    are the ``extra`` fields (a caller's ``client_reference``, ``callback_url``, the ``project``) that are set."""
    return {
        "job_id": job_id,
        "kind": kind,
        "status": QUEUED,
        "model": model,
        "total": total,
        "done": 0,
        "n_chunks": n_chunks,
        "chunks_done": 0,
        "created_at": utc_now(),
        "finished_at": None,
        "error": None,
        "progress_at": progress_stamp(),  # the watchdog's clock: a job that stops moving has lost a chunk
        **({"request_id": request_id} if request_id else {}),  # Redis hashes hold no None
        **{k: v for k, v in (extra or {}).items() if v is not None},
    }


class JobStore(JobControl, ABC):
    @abstractmethod
    def create(self, record: dict[str, Any]) -> None: ...

    @abstractmethod
    def record(self, job_id: str) -> dict[str, Any] | None:
        """The job's state without its results, or None when unknown or expired."""

    @abstractmethod
    def results(self, job_id: str, n_chunks: int) -> list[dict[str, Any]]: ...

    @abstractmethod
    def mark_running(self, job_id: str) -> str | None:
        """A queued job becomes running; the status it then has (None: unknown or expired), so that a task's first
        step marks its job and checks it was not cancelled in one round trip."""

    @abstractmethod
    def save_chunk(self, job_id: str, index: int, results: list[dict[str, Any]],
                   tally: Mapping[str, int] | None = None) -> bool:
        """Store one chunk's results once; False when the chunk was already stored (a redelivery). ``tally``:
        counts (a verdict -> molecules) added to the record's ``tally`` with the chunk, in the same atomic step,
        so that the job's end is told without reading its results back (see ``full_tally``)."""

    @abstractmethod
    def mark_failed(self, job_id: str, error: dict[str, Any]) -> None: ...

    @abstractmethod
    def delete(self, job_id: str) -> None: ...

    @abstractmethod
    def ping(self) -> bool: ...

    @abstractmethod
    def put_attachment(self, job_id: str, name: str, text: str) -> None:
        """Keep a rendering of the job's results (an SDF export) for as long as the job itself."""

    @abstractmethod
    def attachment(self, job_id: str, name: str) -> str | None: ...

    @abstractmethod
    def shorten_ttl(self, job_id: str, seconds: int, chunk: int) -> None:
        """Keep the job and its chunk ``chunk`` at most ``seconds`` more (a compact job's short result TTL)."""

    def open_job(self, record: dict[str, Any], messages: list[dict[str, Any]] | None) -> None:
        """A new job: ``create``, ``keep_messages`` (when given: the watchdog's copy of each chunk's message) and
        ``index_job``. In memory these cannot fail part-way; the Redis store sends them in one MULTI, all or none."""
        self.create(record)
        if messages is not None:
            self.keep_messages(record["job_id"], messages)
        self.index_job(record)

    @abstractmethod
    def status(self, job_id: str) -> str | None:
        """The job's status alone (None: unknown or expired): what a task checks before it starts."""

    @abstractmethod
    def put_attachment_if_absent(self, job_id: str, name: str, text: str) -> bool:
        """``put_attachment`` unless the job has that attachment already, atomically; True when this call put it."""

    def complete(self, job_id: str, result: dict[str, Any]) -> bool:
        """Finish a single-result job (dataset, training, causal effect) with its result document."""
        return self.save_chunk(job_id, 0, [result])

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The job as clients see it; results are given once the job has succeeded, in input order."""
        record = self.record(job_id)
        return None if record is None else self.with_results(record)

    def with_results(self, record: dict[str, Any]) -> dict[str, Any]:
        """``record`` as ``get`` gives it, from a record just read (a finished wait need not read it again)."""
        succeeded = record["status"] == SUCCEEDED
        record["results"] = self.results(record["job_id"], record["n_chunks"]) if succeeded else []
        return record

    def wait(self, job_id: str, timeout: float, just_created: bool = False) -> dict[str, Any] | None:
        """Until the job finishes or ``timeout`` passes: the record as last seen. No polling: each store is told
        when a job finishes (``_wait_finished``), and the record is read again after each wake-up.
        ``just_created``: the caller made the job a moment ago, so it exists and its first read is skipped (an end
        that came already is still seen: the wait returns at once)."""
        deadline = time.monotonic() + timeout
        if just_created:
            self._wait_finished(job_id, timeout)
        while True:
            record = self.record(job_id)
            remaining = deadline - time.monotonic()
            if record is None or record["status"] in FINISHED or remaining <= 0:
                return record
            self._wait_finished(job_id, remaining)

    @abstractmethod
    def _wait_finished(self, job_id: str, timeout: float) -> None:
        """Block at most ``timeout`` seconds, returning early once the job has finished (or possibly sooner)."""


class MemoryJobStore(MemoryControl, JobStore):
    """Embedded mode: the gateway and the in-process worker share this one object. Jobs expire like in Redis."""

    def __init__(self, ttl_seconds: float = 7 * 24 * 3600) -> None:
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._finished = threading.Condition(self._lock)  # notified whenever a job finishes
        self._jobs: dict[str, dict[str, Any]] = {}
        self._expires: dict[str, float] = {}
        self._chunks: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self._attachments: dict[tuple[str, str], str] = {}
        self._init_control()

    def _purge_expired(self) -> None:
        now = time.monotonic()
        for job_id in [j for j, deadline in self._expires.items() if deadline <= now]:
            self._drop(job_id)

    def _drop(self, job_id: str) -> None:
        self._jobs.pop(job_id, None)
        self._expires.pop(job_id, None)
        for key in [k for k in self._chunks if k[0] == job_id]:
            del self._chunks[key]
        for name in [k for k in self._attachments if k[0] == job_id]:
            del self._attachments[name]
        self._drop_control(job_id)

    def create(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._purge_expired()  # creation is the natural moment: memory stays bounded by the TTL
            self._jobs[record["job_id"]] = dict(record)
            self._expires[record["job_id"]] = time.monotonic() + self._ttl

    def _live(self, job_id: str) -> dict[str, Any] | None:
        """The job's own dict if it has not expired (an expired one is dropped); call under the lock."""
        if self._expires.get(job_id, float("inf")) <= time.monotonic():
            self._drop(job_id)
        return self._jobs.get(job_id)

    def record(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            job = self._live(job_id)
            if not job:
                return None
            return {**job, "tally": dict(job["tally"])} if "tally" in job else dict(job)

    def results(self, job_id: str, n_chunks: int) -> list[dict[str, Any]]:
        with self._lock:
            return [r for i in range(n_chunks) for r in self._chunks.get((job_id, i), [])]

    def mark_running(self, job_id: str) -> str | None:
        with self._lock:
            job = self._live(job_id)
            if job is None:
                return None
            if job["status"] == QUEUED:
                job["status"] = RUNNING
            return str(job["status"])

    def save_chunk(self, job_id: str, index: int, results: list[dict[str, Any]],
                   tally: Mapping[str, int] | None = None) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or (job_id, index) in self._chunks:
                return False
            self._chunks[(job_id, index)] = results
            if tally is not None:
                counts = job.setdefault("tally", {})
                for name, n in tally.items():
                    counts[name] = counts.get(name, 0) + n
                job["tallied_chunks"] = job.get("tallied_chunks", 0) + 1
            job["done"] += len(results)
            job["chunks_done"] += 1
            job["progress_at"] = progress_stamp()
            if job["chunks_done"] == job["n_chunks"] and job["status"] in ACTIVE:
                job["status"], job["finished_at"] = SUCCEEDED, utc_now()
                self._finished.notify_all()
            return True

    def mark_failed(self, job_id: str, error: dict[str, Any]) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job and job["status"] not in FINISHED:
                job.update(status=FAILED, error=error, finished_at=utc_now())
                self._finished.notify_all()

    def _wait_finished(self, job_id: str, timeout: float) -> None:
        with self._finished:
            self._finished.wait_for(lambda: self._jobs.get(job_id, {}).get("status", SUCCEEDED) in FINISHED,
                                    timeout)

    def delete(self, job_id: str) -> None:
        with self._lock:
            self._drop(job_id)

    def ping(self) -> bool:
        return True

    def put_attachment(self, job_id: str, name: str, text: str) -> None:
        with self._lock:
            self._attachments[(job_id, name)] = text

    def attachment(self, job_id: str, name: str) -> str | None:
        with self._lock:
            return self._attachments.get((job_id, name))

    def status(self, job_id: str) -> str | None:
        with self._lock:
            job = self._live(job_id)
            return None if job is None else str(job["status"])

    def put_attachment_if_absent(self, job_id: str, name: str, text: str) -> bool:
        with self._lock:
            if (job_id, name) in self._attachments:
                return False
            self._attachments[(job_id, name)] = text
            return True

    def shorten_ttl(self, job_id: str, seconds: int, chunk: int) -> None:
        with self._lock:  # chunks and attachments go with the job here
            if job_id in self._expires:
                self._expires[job_id] = min(self._expires[job_id], time.monotonic() + seconds)


# Atomic so that a redelivered chunk (acks_late) never counts twice, even if a worker dies mid-write.
_SAVE_CHUNK = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', ARGV[3]) then return 0 end
redis.call('HINCRBY', KEYS[1], 'done', ARGV[2])
if ARGV[6] == '1' then
  redis.call('HINCRBY', KEYS[1], 'tallied_chunks', 1)
  for i = 7, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
redis.call('HSET', KEYS[1], 'progress_at', ARGV[5])
local chunks = redis.call('HINCRBY', KEYS[1], 'chunks_done', 1)
local status = redis.call('HGET', KEYS[1], 'status')
if chunks == tonumber(redis.call('HGET', KEYS[1], 'n_chunks'))
   and (status == 'queued' or status == 'running') then
  redis.call('HSET', KEYS[1], 'status', 'succeeded', 'finished_at', ARGV[4])
  redis.call('RPUSH', KEYS[3], '1')
  redis.call('EXPIRE', KEYS[3], ARGV[3])
end
return 1
"""
_MARK_RUNNING = """
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'running')
  return 'running'
end
return status
"""
_MARK_FAILED = """
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'queued' or status == 'running' then
  redis.call('HSET', KEYS[1], 'status', 'failed', 'error', ARGV[1], 'finished_at', ARGV[2])
  redis.call('RPUSH', KEYS[2], '1')
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
return 1
"""
_JSON_FIELDS = ("model", "error", "finished_at")
_WAIT_SLICE = 5.0  # seconds one blocking wait lasts before the record is read again
_INT_FIELDS = ("total", "done", "n_chunks", "chunks_done", "requeues", "tallied_chunks")


class RedisJobStore(RedisControl, JobStore):
    def __init__(self, url: str, ttl_seconds: int, timeout: float = 2.0) -> None:
        self._redis = redis.Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=max(timeout, 10.0), decode_responses=True
        )
        # Waiters block in Redis (BLMOVE) for up to _WAIT_SLICE; their reads must outlast that.
        self._blocking = redis.Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=_WAIT_SLICE + max(timeout, 10.0),
            decode_responses=True,
        )
        self._ttl = ttl_seconds
        self._save_chunk = self._redis.register_script(_SAVE_CHUNK)
        self._mark_running = self._redis.register_script(_MARK_RUNNING)
        self._mark_failed = self._redis.register_script(_MARK_FAILED)

    @staticmethod
    def _key(job_id: str) -> str:
        return f"causalmol:job:{job_id}"

    def _chunk_key(self, job_id: str, index: int) -> str:
        return f"{self._key(job_id)}:chunk:{index}"

    def _finished_key(self, job_id: str) -> str:
        return f"{self._key(job_id)}:finished"  # a one-element list, pushed when the job finishes

    def _attachments_key(self, job_id: str) -> str:
        return f"{self._key(job_id)}:attachments"  # one hash, name -> text: deleted with one key

    def create(self, record: dict[str, Any]) -> None:
        self._create(record, None, index=False)

    def open_job(self, record: dict[str, Any], messages: list[dict[str, Any]] | None) -> None:
        self._create(record, messages, index=True)

    def _create(self, record: dict[str, Any], messages: list[dict[str, Any]] | None, index: bool) -> None:
        """The record, and what ``open_job`` adds, in one MULTI/EXEC: one round trip, and never half a job."""
        fields = {k: json.dumps(v) if k in _JSON_FIELDS else v for k, v in record.items()}
        try:
            with self._redis.pipeline() as pipe:
                pipe.hset(self._key(record["job_id"]), mapping=fields)
                pipe.expire(self._key(record["job_id"]), self._ttl)
                if messages is not None:
                    self._keep_messages(pipe, record["job_id"], messages)
                if index:
                    self._index_job(pipe, record)
                pipe.execute()
        except redis.RedisError as exc:
            raise BrokerUnavailable("the job store (Redis) is unreachable", {"reason": str(exc)}) from exc

    def status(self, job_id: str) -> str | None:
        try:
            return self._redis.hget(self._key(job_id), "status")
        except redis.RedisError as exc:
            raise BrokerUnavailable("the job store (Redis) is unreachable", {"reason": str(exc)}) from exc

    def record(self, job_id: str) -> dict[str, Any] | None:
        try:
            raw = self._redis.hgetall(self._key(job_id))
        except redis.RedisError as exc:
            raise BrokerUnavailable("the job store (Redis) is unreachable", {"reason": str(exc)}) from exc
        if not raw:
            return None
        record: dict[str, Any] = {}
        for k, v in raw.items():
            if k.startswith(TALLY_PREFIX):
                record.setdefault("tally", {})[k[len(TALLY_PREFIX):]] = int(v)
            else:
                record[k] = json.loads(v) if k in _JSON_FIELDS else int(v) if k in _INT_FIELDS else v
        return record

    def results(self, job_id: str, n_chunks: int) -> list[dict[str, Any]]:
        chunks = self._redis.mget([self._chunk_key(job_id, i) for i in range(n_chunks)]) if n_chunks else []
        return [r for chunk in chunks if chunk for r in json.loads(chunk)]

    def mark_running(self, job_id: str) -> str | None:
        try:
            status = self._mark_running(keys=[self._key(job_id)])
        except redis.RedisError as exc:
            raise BrokerUnavailable("the job store (Redis) is unreachable", {"reason": str(exc)}) from exc
        return status if isinstance(status, str) else None

    def save_chunk(self, job_id: str, index: int, results: list[dict[str, Any]],
                   tally: Mapping[str, int] | None = None) -> bool:
        counts = [x for name, n in (tally or {}).items() for x in (TALLY_PREFIX + name, n)]
        stored = self._save_chunk(
            keys=[self._key(job_id), self._chunk_key(job_id, index), self._finished_key(job_id)],
            args=[json.dumps(results), len(results), self._ttl, json.dumps(utc_now()), progress_stamp(),
                  "0" if tally is None else "1", *counts],
        )
        if stored == -1:
            logger.warning("job %s expired or unknown; chunk %d dropped", job_id, index)
        return stored == 1

    def mark_failed(self, job_id: str, error: dict[str, Any]) -> None:
        self._mark_failed(keys=[self._key(job_id), self._finished_key(job_id)],
                          args=[json.dumps(error), json.dumps(utc_now()), self._ttl])

    def _wait_finished(self, job_id: str, timeout: float) -> None:
        # BLMOVE from a list to itself rotates it: the element stays, so every waiter of the job wakes, and one
        # that arrives after the push returns at once. Under gevent this blocks a greenlet, not a thread.
        key = self._finished_key(job_id)
        try:
            # redis-py annotates the timeout as int; BLMOVE takes fractional seconds (Redis >= 6).
            self._blocking.blmove(key, key, min(timeout, _WAIT_SLICE), "RIGHT", "LEFT")  # type: ignore[arg-type]
        except redis.RedisError as exc:
            raise BrokerUnavailable("the job store (Redis) is unreachable", {"reason": str(exc)}) from exc

    def delete(self, job_id: str) -> None:
        """The job with its chunks and attachments: a job deleted part-way leaves no results behind.

        Called while answering a broker failure, often with Redis itself unreachable: that must not turn the
        client's 503 into a 500, and the keys expire with their TTL anyway.
        """
        key = self._key(job_id)
        try:
            n_chunks = int(self._redis.hget(key, "n_chunks") or 0)
            chunk_keys = [self._chunk_key(job_id, i) for i in range(n_chunks)]
            self._redis.delete(key, self._attachments_key(job_id), self._finished_key(job_id), *chunk_keys)
        except redis.RedisError as exc:
            logger.warning("job %s not deleted (%s); its keys expire with their TTL", job_id, exc)

    def ping(self) -> bool:
        try:
            return bool(self._redis.ping())
        except redis.RedisError:
            return False

    def put_attachment(self, job_id: str, name: str, text: str) -> None:
        with self._redis.pipeline() as pipe:
            pipe.hset(self._attachments_key(job_id), name, text)
            pipe.expire(self._attachments_key(job_id), self._ttl)
            pipe.execute()

    def attachment(self, job_id: str, name: str) -> str | None:
        return self._redis.hget(self._attachments_key(job_id), name)

    def put_attachment_if_absent(self, job_id: str, name: str, text: str) -> bool:
        with self._redis.pipeline() as pipe:
            pipe.hsetnx(self._attachments_key(job_id), name, text)
            pipe.expire(self._attachments_key(job_id), self._ttl)
            put, _ = pipe.execute()
        return bool(put)

    def shorten_ttl(self, job_id: str, seconds: int, chunk: int) -> None:
        with self._redis.pipeline(transaction=False) as pipe:  # LT: never lengthens a TTL
            pipe.expire(self._key(job_id), seconds, lt=True)
            pipe.expire(self._chunk_key(job_id, chunk), seconds, lt=True)
            pipe.execute()


def make_job_store(settings: Settings) -> JobStore:
    if settings.embedded:
        return MemoryJobStore(settings.result_ttl_seconds)
    assert settings.redis_url is not None  # not embedded: there is a Redis URL
    return RedisJobStore(settings.redis_url, settings.result_ttl_seconds, settings.broker_timeout_seconds)


@lru_cache(maxsize=1)
def get_job_store() -> JobStore:
    """The process-wide store (in embedded mode the gateway and its worker thread must share one)."""
    return make_job_store(get_settings())
