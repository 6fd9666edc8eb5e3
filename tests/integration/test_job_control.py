"""Job control on the distributed stack (gunicorn gateway, real workers, real Redis): Idempotency-Key, signed
webhooks with retries, listing by client reference, cancel, and results streamed as NDJSON."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from datetime import datetime

import pytest
import requests

from shared.webhooks import EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.conftest import CAUSALMOL, REPO, WEBHOOK_SECRET, create_test_key, poll_job, wait_until
from tests.webhook_receiver import webhook_receiver

pytestmark = pytest.mark.integration
MOLECULES = [{"id": f"m{i}", "smiles": "c1ccccc1" + "C" * (i % 5)} for i in range(5)]


def post(gateway, body: dict, key: str | None = None) -> requests.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return requests.post(gateway.url("/v1/predictions"), json={"model": "akt1", **body}, headers=headers, timeout=40)


def test_a_repeated_idempotency_key_returns_the_same_job(gateway) -> None:
    key = uuid.uuid4().hex
    first = post(gateway, {"molecules": MOLECULES}, key)
    again = post(gateway, {"molecules": MOLECULES, "wait": 20}, key)
    assert first.status_code == 202 and again.status_code in (200, 202)
    assert again.json()["job_id"] == first.json()["job_id"]
    other = post(gateway, {"molecules": MOLECULES[:1]}, key)
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"


def test_a_webhook_receiver_gets_one_correctly_signed_call(gateway) -> None:
    with webhook_receiver() as receiver:
        reference = f"eln-{uuid.uuid4().hex[:8]}"
        job_id = post(gateway, {"molecules": MOLECULES, "callback_url": receiver.url,
                                "client_reference": reference}).json()["job_id"]
        assert receiver.arrived.wait(60), "no callback arrived"
        time.sleep(0.5)  # a second (wrong) delivery would arrive now
    (call,) = receiver.calls
    assert call.headers[EVENT_HEADER] == "job.succeeded"
    assert verify(WEBHOOK_SECRET, call.headers[TIMESTAMP_HEADER], call.body, call.headers[SIGNATURE_HEADER])
    body = json.loads(call.body)
    assert (body["job_id"], body["status"], body["client_reference"]) == (job_id, "succeeded", reference)
    job = wait_until(lambda: (j := requests.get(gateway.url(f"/v1/jobs/{job_id}"), timeout=5).json())["callbacks"]
                     and j, 10, "the attempt on the job")
    assert [(a["event"], a["attempt"], a["status_code"]) for a in job["callbacks"]] == [("job.succeeded", 1, 204)]
    listed = requests.get(gateway.url("/v1/jobs"), params={"client_reference": reference}, timeout=10).json()
    assert [j["job_id"] for j in listed["jobs"]] == [job_id]


def test_a_project_with_its_own_secret_gets_callbacks_signed_with_it_not_the_global_one(gateway, stack_env) -> None:
    project = f"wh-{uuid.uuid4().hex[:8]}"
    key = create_test_key(stack_env, project=project)
    rotated = subprocess.run([*CAUSALMOL, "keys", "webhook-secret", "rotate", "--project", project], env=stack_env,
                             cwd=REPO, capture_output=True, text=True, timeout=60, check=True)
    secret = rotated.stdout.strip()
    with webhook_receiver() as receiver:
        response = requests.post(gateway.url("/v1/predictions"), headers={"Authorization": f"Bearer {key}"},
                                 json={"model": "akt1", "molecules": MOLECULES[:2], "callback_url": receiver.url},
                                 timeout=40)
        assert response.status_code in (200, 202), response.text
        assert receiver.arrived.wait(60), "no callback arrived"
    (call,) = receiver.calls
    timestamp, signed = call.headers[TIMESTAMP_HEADER], call.headers[SIGNATURE_HEADER]
    assert json.loads(call.body)["job_id"] == response.json()["job_id"]
    assert verify(secret, timestamp, call.body, signed)
    assert not verify(WEBHOOK_SECRET, timestamp, call.body, signed)


def test_a_failing_receiver_is_retried_with_backoff(gateway) -> None:
    with webhook_receiver([500, 503]) as receiver:
        job_id = post(gateway, {"molecules": MOLECULES[:1], "callback_url": receiver.url}).json()["job_id"]
        assert receiver.arrived.wait(60), "the callback never succeeded"
    assert len(receiver.calls) == 3
    signatures = {c.headers[SIGNATURE_HEADER] for c in receiver.calls}
    assert all(verify(WEBHOOK_SECRET, c.headers[TIMESTAMP_HEADER], c.body, c.headers[SIGNATURE_HEADER])
               for c in receiver.calls) and signatures
    job = wait_until(lambda: len((j := requests.get(gateway.url(f"/v1/jobs/{job_id}"), timeout=5).json())[
        "callbacks"]) == 3 and j, 10, "three attempts on the job")
    attempts = job["callbacks"]
    assert [(a["attempt"], a["status_code"]) for a in attempts] == [(1, 500), (2, 503), (3, 204)]
    stamps = [datetime.fromisoformat(a["at"].replace("Z", "+00:00")).timestamp() for a in attempts]
    assert stamps[1] - stamps[0] >= 0.9 and stamps[2] - stamps[1] >= 1.8  # exponential backoff: 1 s, then 2 s


def test_cancel_stops_a_running_job_and_its_queued_chunks_are_skipped(gateway) -> None:
    molecules = [{"id": f"c{i}", "smiles": "c1ccccc1" + "C" * (i % 9) + "O"} for i in range(400)]  # 200 chunks
    job_id = post(gateway, {"molecules": molecules}).json()["job_id"]
    cancelled = requests.delete(gateway.url(f"/v1/jobs/{job_id}"), timeout=10)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    time.sleep(3)  # the queued chunks come up and are skipped
    done = requests.get(gateway.url(f"/v1/jobs/{job_id}"), timeout=5).json()["progress"]["done"]
    time.sleep(2)
    job = requests.get(gateway.url(f"/v1/jobs/{job_id}"), timeout=5).json()
    assert job["status"] == "cancelled"
    assert job["progress"]["done"] == done < 400  # nothing more was scored after the skips
    assert requests.delete(gateway.url(f"/v1/jobs/{job_id}"), timeout=10).status_code == 409


def test_results_stream_as_ndjson_and_page(gateway) -> None:
    job = poll_job(gateway, post(gateway, {"molecules": MOLECULES}).json()["job_id"])
    assert job["status"] == "succeeded"
    with requests.get(gateway.url(f"/v1/jobs/{job['job_id']}/results"), params={"format": "ndjson"},
                      stream=True, timeout=20) as streamed:
        assert streamed.headers["Content-Type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in streamed.iter_lines() if line]
    ids = [line["id"] for line in lines]
    assert ids == [m["id"] for m in MOLECULES]
    provenance = {"job_id": job["job_id"], "model": job["model"]["name"], "model_version": job["model"]["version"]}
    assert all({k: line[k] for k in provenance} == provenance for line in lines)
    page = requests.get(gateway.url(f"/v1/jobs/{job['job_id']}/results"), params={"limit": 3}, timeout=20).json()
    rest = requests.get(gateway.url(f"/v1/jobs/{job['job_id']}/results"),
                        params={"limit": 3, "cursor": page["next_cursor"]}, timeout=20).json()
    assert [r["id"] for r in page["results"] + rest["results"]] == ids and rest["next_cursor"] is None
    assert {k: rest[k] for k in provenance} == provenance
