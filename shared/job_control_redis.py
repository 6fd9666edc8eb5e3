"""Distributed mode's job control (``shared/job_control.py`` says what each method does): the same state in
Redis, beside each job's hash and with its TTL; the steps that must not interleave are Lua scripts."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from shared.job_control import NO_PROJECT, JobControl, index_member, key_digest, progress_stamp
from shared.job_status import utc_now

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

    def _script(self, source: str) -> Any:
        """The Lua script registered once per store (``register_script`` hashes its source on every call)."""
        scripts: dict[str, Any] = self.__dict__.setdefault("_scripts", {})
        if source not in scripts:
            scripts[source] = self._redis.register_script(source)
        return scripts[source]

    def cancel(self, job_id: str) -> bool:
        script = self._script(_CANCEL)
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
        script = self._script(_CLAIM_NOTIFICATION)
        return script(keys=[self._key(job_id), ACTIVE_KEY], args=[progress_stamp(), lease_seconds, job_id]) == 1

    def release_notification(self, job_id: str) -> None:
        self._script(_RELEASE_NOTIFICATION)(keys=[self._key(job_id)])

    def mark_notified(self, job_id: str) -> None:
        self._script(_MARK_NOTIFIED)(keys=[self._key(job_id)])

    def keep_messages(self, job_id: str, messages: list[dict[str, Any]]) -> None:
        with self._redis.pipeline() as pipe:
            self._keep_messages(pipe, job_id, messages)
            pipe.execute()

    def _keep_messages(self, pipe: Any, job_id: str, messages: list[dict[str, Any]]) -> None:
        """``keep_messages``'s commands, queued on ``pipe`` (a new job's are sent with its record, in one trip)."""
        key = f"{self._key(job_id)}:messages"
        pipe.hset(key, mapping={str(i): json.dumps(m) for i, m in enumerate(messages)})
        pipe.expire(key, self._ttl)
        pipe.sadd(ACTIVE_KEY, job_id)

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
        script = self._script(_CLAIM_REQUEUE)
        return script(keys=[self._key(job_id)], args=[seen_progress_at, progress_stamp(), seen_requeues]) == 1

    def active_jobs(self) -> list[str]:
        return sorted(self._redis.smembers(ACTIVE_KEY))

    def forget_active(self, job_id: str) -> None:
        self._redis.srem(ACTIVE_KEY, job_id)

    def index_job(self, record: dict[str, Any]) -> None:
        with self._redis.pipeline() as pipe:
            self._index_job(pipe, record)
            pipe.execute()

    def _index_job(self, pipe: Any, record: dict[str, Any]) -> None:
        key = self._index_key(record.get("project") or NO_PROJECT)
        cutoff = f"{time.time_ns() - self._ttl * 10**9:020d}"
        pipe.zadd(key, {index_member(record): 0})
        pipe.zremrangebylex(key, "-", f"({cutoff}")  # entries older than the TTL: their jobs are gone

    def index_page(self, project: str, before: str | None, n: int) -> list[str]:
        return self._redis.zrevrangebylex(self._index_key(project), f"({before}" if before else "+", "-", 0, n)

    def unindex(self, project: str, member: str) -> None:
        self._redis.zrem(self._index_key(project), member)
