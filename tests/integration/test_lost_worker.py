"""A pool process killed mid-task (OOM, kill -9) loses nothing: the message is requeued and the job completes."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import requests

from tests.conftest import poll_job

pytestmark = pytest.mark.integration
LOST = "WorkerLostError"


def pool_children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def test_a_killed_pool_process_loses_no_molecule(gateway, workers) -> None:
    log = workers.logs / "featurizer.log"
    before = log.read_text().count(LOST)
    molecules = [{"id": f"m{i}", "smiles": "c1ccccc1" + "C" * (i % 9) + "O"} for i in range(600)]
    job_id = requests.post(gateway.url("/v1/predictions"), json={"model": "akt1", "molecules": molecules},
                           timeout=30).json()["job_id"]
    parent = workers.procs["featurizer"].pid
    deadline = time.monotonic() + 30
    # Kill the featurizer's pool process until one kill lands inside a task (the job is 300 chunks long).
    while log.read_text().count(LOST) == before and time.monotonic() < deadline:
        for child in pool_children(parent):
            os.kill(child, signal.SIGKILL)
        time.sleep(0.3)
    assert log.read_text().count(LOST) > before, "no kill landed inside a task"

    job = poll_job(gateway, job_id, timeout=120)
    assert job["status"] == "succeeded"
    assert job["progress"] == {"done": 600, "total": 600}
    assert [r["id"] for r in job["results"]] == [m["id"] for m in molecules]
    assert all(r["prediction"] is not None for r in job["results"])
