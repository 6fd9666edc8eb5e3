"""A job's callback is never lost to a failed publish (shared/webhooks.notify_if_finished and the watchdog's
sweep), on the memory store and a real redis-server side by side; the publish is the one call faked here."""

from __future__ import annotations

import uuid

import pytest
from kombu.exceptions import OperationalError

import shared.publish
import shared.webhooks
from shared import watchdog
from shared.config import Settings
from shared.jobs import new_job_record
from shared.webhooks import notify_if_finished
from tests.unit.test_jobs_redis import each_store, redis_client, redis_server_url  # noqa: F401  (shared fixtures)

SETTINGS = Settings(chunk_deadline_seconds=3600)


class Broker:
    """The publish call's chain: records what was sent, or raises as a broker that is down does."""

    down = False
    sent: list = []

    def __init__(self, *signatures):
        self.signatures = signatures

    def apply_async(self):
        if Broker.down:
            raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        Broker.sent.append((self.signatures[0].task, self.signatures[0].args[0]))


@pytest.fixture(autouse=True)
def broker(monkeypatch):
    Broker.down, Broker.sent = False, []
    monkeypatch.setattr(shared.publish, "chain", Broker)
    return Broker


def finished_job(store, kind: str = "training") -> str:
    """A finished job with a callback that no watchdog watched before (only predictions keep chunk messages)."""
    job_id = uuid.uuid4().hex
    store.create(new_job_record(job_id, None, 1, 1, kind, extra={"callback_url": "http://127.0.0.1:9/hook"}))
    store.mark_failed(job_id, {"code": "task_failed", "message": "x"})
    return job_id


def test_a_failed_publish_is_sent_by_the_next_sweep_and_only_once(store, broker):
    job_id = finished_job(store)
    broker.down = True
    assert notify_if_finished(store, job_id) is False  # the broker is down: nothing queued, nothing raised
    assert broker.sent == [] and store.active_jobs() == [job_id]
    watchdog.sweep(store, SETTINGS)  # still down: still watched
    assert broker.sent == [] and store.active_jobs() == [job_id]
    broker.down = False
    watchdog.sweep(store, SETTINGS)
    assert broker.sent == [("webhook.deliver", {"job_id": job_id, "event": "job.failed"})]
    assert store.active_jobs() == []  # queued: no longer watched
    watchdog.sweep(store, SETTINGS)
    assert notify_if_finished(store, job_id) is False  # a late task's end sends no second one
    assert len(broker.sent) == 1


def test_a_claimant_that_died_before_its_publish_is_taken_over_after_the_lease(store, broker, monkeypatch):
    job_id = finished_job(store)
    assert store.claim_notification(job_id, shared.webhooks.NOTIFY_LEASE_SECONDS)  # ... and then it was killed
    watchdog.sweep(store, SETTINGS)  # within the lease: the claimant may still be publishing
    assert broker.sent == [] and store.active_jobs() == [job_id]
    monkeypatch.setattr(shared.webhooks, "NOTIFY_LEASE_SECONDS", 0.0)
    watchdog.sweep(store, SETTINGS)
    assert broker.sent == [("webhook.deliver", {"job_id": job_id, "event": "job.failed"})]
    assert store.active_jobs() == []


def test_a_store_outage_after_the_claim_leaves_the_claim_to_lapse(store, broker, monkeypatch):
    job_id = finished_job(store)
    broker.down = True

    def unreachable(job_id: str) -> None:
        raise ConnectionError("the store went down with the broker")

    with monkeypatch.context() as patch:
        patch.setattr(store, "release_notification", unreachable)
        assert notify_if_finished(store, job_id) is False  # neither the publish nor the release raised out of here
    broker.down = False
    watchdog.sweep(store, SETTINGS)
    assert broker.sent == []  # the claim still holds: its lease has not lapsed
    monkeypatch.setattr(shared.webhooks, "NOTIFY_LEASE_SECONDS", 0.0)
    watchdog.sweep(store, SETTINGS)
    assert [message["job_id"] for _, message in broker.sent] == [job_id]
