"""The issue's acceptance run, literally: ``deploy/local/stack.sh`` brings up the distributed topology, serves a
three-molecule job with one invalid SMILES, and keeps a job queued while its workers are down."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
import requests

from tests.conftest import DEFAULT_KEYS, REPO, Gateway, create_test_key, free_port, poll_job

pytestmark = pytest.mark.integration
STACK = REPO / "deploy/local/stack.sh"


@pytest.fixture(scope="module")
def stack(models_dir, tmp_path_factory):
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CAUSALMOL_")},
           "CAUSALMOL_STACK_DIR": str(tmp_path_factory.mktemp("stack")), "CAUSALMOL_STACK_PORT": str(port),
           "CAUSALMOL_STACK_REDIS_PORT": str(free_port()), "CAUSALMOL_MODELS_DIR": str(models_dir),
           "CAUSALMOL_STACK_STOP_TIMEOUT": "15"}

    def run(command: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(STACK), command], env=env, capture_output=True, text=True, timeout=180)

    up = run("up")
    assert up.returncode == 0, up.stdout + up.stderr
    # The stack's database is the SQLite file under its home (the state dir): the test key goes there.
    DEFAULT_KEYS[f"http://127.0.0.1:{port}"] = create_test_key({"CAUSALMOL_HOME": env["CAUSALMOL_STACK_DIR"]})
    yield run, f"http://127.0.0.1:{port}"
    down = run("down")
    assert down.returncode == 0, down.stdout + down.stderr


def test_stack_serves_three_molecules_one_invalid(stack) -> None:
    _, url = stack
    body = {"model": "akt1", "molecules": [{"id": "a", "smiles": "Nc1ncnc2[nH]ccc12"},
                                           {"id": "b", "smiles": "C1CC"}, {"id": "c", "smiles": "CCO"}]}
    accepted = requests.post(f"{url}/v1/predictions", json=body, timeout=10)
    assert accepted.status_code == 202
    job = poll_job(Gateway(url, proc=None), accepted.json()["job_id"])
    assert job["status"] == "succeeded"
    assert sum(r["prediction"] is not None for r in job["results"]) == 2
    assert [r["error"]["code"] for r in job["results"] if r["error"]] == ["invalid_smiles"]


def test_stack_keeps_jobs_while_workers_are_stopped(stack) -> None:
    run, url = stack
    assert run("stop-workers").returncode == 0
    accepted = requests.post(f"{url}/v1/predictions", timeout=10,
                             json={"model": "akt1", "molecules": [{"id": "x", "smiles": "c1ccncc1"}]})
    job_url = f"{url}/v1/jobs/{accepted.json()['job_id']}"
    time.sleep(2)
    assert requests.get(job_url, timeout=5).json()["status"] == "queued"
    started = run("start-workers")
    assert started.returncode == 0, started.stdout + started.stderr
    deadline = time.monotonic() + 60
    while requests.get(job_url, timeout=5).json()["status"] != "succeeded" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert requests.get(job_url, timeout=5).json()["status"] == "succeeded"


def test_stack_gateway_has_browser_sign_in(stack) -> None:
    """stack.sh gives its gateway a session secret (made once in the state dir): the sign-in form is served, not
    the 404 sign_in_disabled of a distributed gateway without one."""
    _, url = stack
    form = requests.get(f"{url}/v1/session", headers={"Authorization": None}, timeout=10)
    assert form.status_code == 200 and 'name="api_key"' in form.text
