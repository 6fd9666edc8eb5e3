"""Embedded mode: no Redis at all, the same tasks run on a worker thread inside the gunicorn gateway."""

from __future__ import annotations

import os

import pytest
import requests

from tests.conftest import poll_job, start_gateway, stop_process

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def embedded_gateway(models_dir, tmp_path_factory):
    env = {k: v for k, v in os.environ.items() if k != "CAUSALMOL_REDIS_URL"}
    env.update(CAUSALMOL_MODELS_DIR=str(models_dir), CAUSALMOL_CHUNK_SIZE="2",
               CAUSALMOL_HOME=str(tmp_path_factory.mktemp("embedded-home")))  # its SQLite database of keys
    gw = start_gateway(env, tmp_path_factory.mktemp("embedded") / "gateway.log")
    yield gw
    stop_process(gw.proc)


def test_embedded_mode_is_ready_and_serves_async_jobs(embedded_gateway) -> None:
    ready = requests.get(embedded_gateway.url("/readyz"), timeout=10)
    assert ready.status_code == 200 and ready.json()["mode"] == "embedded"

    body = {"model": "akt1", "molecules": [{"id": "a", "smiles": "Nc1ncnc2[nH]ccc12"}, {"id": "b", "smiles": "C1CC"},
                                           {"id": "c", "smiles": "CCO"}]}
    accepted = requests.post(embedded_gateway.url("/v1/predictions"), json=body, timeout=10)
    assert accepted.status_code == 202
    job = poll_job(embedded_gateway, accepted.json()["job_id"])
    assert job["status"] == "succeeded"
    assert [r["error"]["code"] if r["error"] else None for r in job["results"]] == [None, "invalid_smiles", None]

    waited = requests.post(embedded_gateway.url("/v1/predictions"), json={**body, "wait": 20}, timeout=30)
    assert waited.status_code == 200 and waited.json()["progress"] == {"done": 3, "total": 3}
