"""Every documented error code, through the real gunicorn gateway; one error shape, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests

from tests.conftest import REPO, free_port

pytestmark = pytest.mark.integration


def assert_error(response: requests.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert "Traceback" not in response.text
    return body["error"]


def test_validation_errors_name_the_fields(gateway) -> None:
    response = requests.post(gateway.url("/v1/predictions"), json={"molecules": [{"id": "a"}], "wait": 99}, timeout=5)
    error = assert_error(response, 400, "validation_error")
    fields = error["details"]["fields"]
    assert "model" in fields and "wait" in fields and "molecules" in fields


def test_empty_batch_is_rejected(gateway) -> None:
    response = requests.post(gateway.url("/v1/predictions"), json={"model": "akt1", "molecules": []}, timeout=5)
    assert_error(response, 400, "validation_error")


def test_malformed_json_is_a_400(gateway) -> None:
    response = requests.post(gateway.url("/v1/predictions"), data="{not json",
                             headers={"Content-Type": "application/json"}, timeout=5)
    assert_error(response, 400, "invalid_json")


def test_not_json_is_a_415(gateway) -> None:
    response = requests.post(gateway.url("/v1/predictions"), data="model=akt1", timeout=5,
                             headers={"Content-Type": "text/plain"})
    assert_error(response, 415, "unsupported_media_type")


def test_body_too_large_is_a_413(gateway) -> None:
    molecules = [{"id": str(i), "smiles": "C" * 100} for i in range(30_000)]  # ~3.5 MB > the 2 MB test limit
    response = requests.post(gateway.url("/v1/predictions"), json={"model": "akt1", "molecules": molecules}, timeout=30)
    assert_error(response, 413, "payload_too_large")


def test_unknown_job_is_a_404(gateway) -> None:
    assert_error(requests.get(gateway.url("/v1/jobs/nope"), timeout=5), 404, "job_not_found")


def test_unknown_model_and_version_are_404(gateway) -> None:
    for model in ("no-such-model", "akt1@99"):
        body = {"model": model, "molecules": [{"smiles": "CCO"}]}
        assert_error(requests.post(gateway.url("/v1/predictions"), json=body, timeout=5), 404, "model_not_found")


def test_bad_model_reference_is_a_400(gateway) -> None:
    body = {"model": "akt1@latest", "molecules": [{"smiles": "CCO"}]}
    assert_error(requests.post(gateway.url("/v1/predictions"), json=body, timeout=5), 400, "validation_error")


def test_unknown_route_and_method(gateway) -> None:
    assert_error(requests.get(gateway.url("/v2/anything"), timeout=5), 404, "not_found")
    assert_error(requests.delete(gateway.url("/v1/predictions"), timeout=5), 405, "method_not_allowed")


UNREACHABLE_BROKER_PROBE = """
import json, sys
from services.gateway import create_app
client = create_app().test_client()
post = client.post("/v1/predictions", json={"model": "akt1", "molecules": [{"smiles": "CCO"}]})
ready = client.get("/readyz")
print(json.dumps({"post": [post.status_code, post.get_json()], "ready": [ready.status_code, ready.get_json()]}))
"""


def test_unreachable_broker_is_a_503_quickly(stack_env, models_dir) -> None:
    env = {**stack_env, "CAUSALMOL_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "CAUSALMOL_BROKER_TIMEOUT": "1"}
    out = subprocess.run([sys.executable, "-c", UNREACHABLE_BROKER_PROBE], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=60, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    status, body = result["post"]
    assert status == 503 and body["error"]["code"] == "broker_unavailable"
    status, body = result["ready"]
    assert status == 503 and body["error"]["code"] == "not_ready"
    assert body["error"]["details"]["checks"]["broker"] is False
