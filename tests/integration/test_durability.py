"""Nothing accepted is lost: with the workers down a job waits in Redis, and completes when they return."""

from __future__ import annotations

import time

import pytest
import requests

from tests.conftest import poll_job

pytestmark = pytest.mark.integration


def test_job_waits_while_workers_are_down_then_completes(gateway, workers) -> None:
    workers.stop()
    try:
        not_ready = requests.get(gateway.url("/readyz"), timeout=10)
        assert not_ready.status_code == 503
        body = {"model": "akt1", "molecules": [{"id": "a", "smiles": "CCO"}, {"id": "b", "smiles": "c1ccncc1"},
                                               {"id": "c", "smiles": "not a smiles"}]}
        accepted = requests.post(gateway.url("/v1/predictions"), json=body, timeout=10)
        assert accepted.status_code == 202
        job_id = accepted.json()["job_id"]
        time.sleep(2)
        job = requests.get(gateway.url(f"/v1/jobs/{job_id}"), timeout=5).json()
        assert job["status"] == "queued"
        assert job["progress"] == {"done": 0, "total": 3}
    finally:
        workers.start()
    job = poll_job(gateway, job_id)
    assert job["status"] == "succeeded"
    assert [r["id"] for r in job["results"]] == ["a", "b", "c"]
    assert job["results"][2]["error"]["code"] == "invalid_smiles"
