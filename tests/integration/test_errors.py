"""Every documented error code, through the real gunicorn gateway; one error shape, never a traceback."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time

import pytest
import requests

from tests.conftest import REPO, free_port, poll_job
from tests.integration.lab_data import upload

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
import json, os, sys
from services.gateway import create_app
client = create_app().test_client()
post = client.post("/v1/predictions", json={"model": "akt1", "molecules": [{"smiles": "CCO"}]},
                   headers={"Authorization": "Bearer " + os.environ["CAUSALMOL_API_KEY"]})
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
    port = env["CAUSALMOL_REDIS_URL"].rsplit(":", 1)[1].split("/")[0]
    assert port not in json.dumps(body) and "127.0.0.1" not in json.dumps(body)  # the broker's address stays in the log
    status, body = result["ready"]
    assert status == 503 and body["error"]["code"] == "not_ready"
    assert body["error"]["details"]["checks"]["broker"] is False


# ---- requests that used to answer 500 (issue 11's attack run) ----------------------------------------------------

TINY_MAPPING = {"structure": "smiles", "activity": "pactivity", "id": "name"}
TINY_ROWS = [("ethanol", "CCO", "5.1"), ("propanol", "CCCO", "5.4"), ("benzene", "c1ccccc1", "6.0"),
             ("toluene", "Cc1ccccc1", "6.2"), ("phenol", "Oc1ccccc1", "6.5"), ("aniline", "Nc1ccccc1", "6.1")]


@pytest.fixture(scope="module")
def cr_dataset(gateway) -> str:
    """A tiny dataset written with bare CR line endings (old Mac style): its upload used to be a 500."""
    content = "\r".join(["name,smiles,pactivity", *(",".join(row) for row in TINY_ROWS), ""]).encode()
    response = upload(gateway, content, TINY_MAPPING)
    assert response.status_code in (200, 201), response.text
    assert response.json()["report"]["rows_accepted"] == len(TINY_ROWS)
    return response.json()["dataset_id"]


def test_deeply_nested_json_is_a_400(gateway) -> None:
    raw = '{"model": "akt1", "molecules": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = requests.post(gateway.url("/v1/predictions"), data=raw, timeout=10,
                             headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_json")


def test_a_dataset_id_too_long_for_a_file_name_is_a_404_everywhere(gateway) -> None:
    long_id = "ds_" + "a" * 300
    assert_error(requests.get(gateway.url(f"/v1/datasets/{long_id}"), timeout=5), 404, "dataset_not_found")
    response = requests.post(gateway.url("/v1/models"), json={"name": "x", "dataset_id": long_id}, timeout=5)
    assert_error(response, 404, "dataset_not_found")
    response = requests.post(gateway.url("/v1/causal/effects"), timeout=5,
                             json={"dataset_id": long_id, "treatment": {"smarts": "[#6]"}})
    assert_error(response, 404, "dataset_not_found")


def test_a_csv_field_over_the_csv_limit_is_a_400(gateway) -> None:
    content = b"smiles,pactivity\n" + b"C" * (csv.field_size_limit() + 1) + b",5\n"
    response = upload(gateway, content, {"activity": "pactivity"})
    assert "line 2" in assert_error(response, 400, "validation_error")["message"]
    response = requests.post(gateway.url("/v1/predictions"), data={"model": "akt1"}, timeout=10,
                             files={"file": ("batch.csv", content, "text/csv")})
    assert_error(response, 400, "validation_error")


def test_a_prediction_upload_with_bare_cr_line_endings_is_predicted(gateway) -> None:
    content = b"name,smiles\rethanol,CCO\rbenzene,c1ccccc1\r"
    response = requests.post(gateway.url("/v1/predictions"), data={"model": "akt1", "mapping": '{"id": "name"}',
                             "wait": "30"}, files={"file": ("batch.csv", content, "text/csv")}, timeout=60)
    assert response.status_code == 200, response.text
    assert [r["id"] for r in response.json()["results"]] == ["ethanol", "benzene"]


@pytest.mark.parametrize("wait", ["abc", "nan", "inf", "31"])
def test_a_dataset_upload_wait_that_is_not_0_to_30_seconds_is_a_400(gateway, wait) -> None:
    started = time.monotonic()
    response = upload(gateway, b"smiles,pactivity\nCCO,5\n", {"activity": "pactivity"}, wait=wait)
    assert set(assert_error(response, 400, "validation_error")["details"]["fields"]) == {"wait"}
    assert time.monotonic() - started < 5  # nan used to hold the request for as long as the job ran


def test_a_lone_surrogate_in_a_smiles_fails_only_that_molecule_and_the_exports_work(gateway) -> None:
    body = {"model": "akt1", "wait": 30, "molecules": [{"id": "ok", "smiles": "CCO"},
                                                       {"id": "bad", "smiles": "C\ud800"}]}
    response = requests.post(gateway.url("/v1/predictions"), json=body, timeout=60)
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "succeeded"  # used to be failed, the valid molecule with it
    ok, bad = job["results"]
    assert ok["prediction"] is not None and ok["error"] is None
    assert bad["error"]["code"] == "invalid_smiles" and bad["prediction"] is None
    exported = requests.get(gateway.url(f"/v1/jobs/{job['job_id']}/results"), params={"format": "csv"}, timeout=10)
    assert exported.status_code == 200, exported.text
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["id"], r["input_smiles"]) for r in rows] == [("ok", "CCO"), ("bad", "C\ufffd")]
    sdf = requests.get(gateway.url(f"/v1/jobs/{job['job_id']}/results"), params={"format": "sdf"}, timeout=90)
    assert sdf.status_code == 200, sdf.text
    assert sdf.text.count("$$$$") == 2


def test_a_lone_surrogate_in_a_molecule_id_is_a_400(gateway) -> None:
    body = {"model": "akt1", "molecules": [{"id": "a\ud800", "smiles": "CCO"}]}
    error = assert_error(requests.post(gateway.url("/v1/predictions"), json=body, timeout=10), 400,
                         "validation_error")
    assert "id" in error["details"]["fields"]["molecules"]["0"]


@pytest.mark.parametrize(("spec", "field"), [
    ({"featurizer": {"name": "morgan_counts", "params": {"n_bits": 2**40}}}, "featurizer.params.n_bits"),
    ({"estimator": {"name": "random_forest", "params": {"n_estimators": 0}}}, "estimator.params.n_estimators"),
])
def test_training_parameters_out_of_bounds_are_a_400(gateway, cr_dataset, spec, field) -> None:
    body = {"name": "tiny", "dataset_id": cr_dataset, **spec}
    error = assert_error(requests.post(gateway.url("/v1/models"), json=body, timeout=10), 400, "validation_error")
    assert set(error["details"]["fields"]) == {field}  # used to be a failed job


def test_a_treatment_smarts_too_complex_is_a_400(gateway, cr_dataset) -> None:
    started = time.monotonic()
    for smarts in ("[#6].[#6].[#6].[#6].[#6].[U]", "C" * 201):
        body = {"dataset_id": cr_dataset, "treatment": {"smarts": smarts}}
        response = requests.post(gateway.url("/v1/causal/effects"), json=body, timeout=10)
        assert assert_error(response, 400, "smarts_too_complex")["details"]["max_components"] == 3
    assert time.monotonic() - started < 5  # refused at the door: no worker held


def test_a_failed_job_shows_a_stable_message_not_the_exception(gateway, stack_env) -> None:
    from shared.celery_app import FEATURIZE_TASK, celery_app, configure_celery
    from shared.config import load_settings
    from shared.jobs import RedisJobStore, new_job_record

    configure_celery(load_settings(stack_env))
    store = RedisJobStore(stack_env["CAUSALMOL_REDIS_URL"], 3600)
    job_id = "errors-untyped-failure"
    store.create(new_job_record(job_id, None, total=1, n_chunks=1))
    # a featurizer spec that is not even a dict: the worker raises AttributeError, an untyped exception
    celery_app.send_task(FEATURIZE_TASK, args=[{"job_id": job_id, "chunk": 0, "molecules": [],
                                                "model": {"featurizer": "not-a-spec"}}])
    job = poll_job(gateway, job_id)
    assert job["status"] == "failed"
    assert job["error"]["code"] == "task_failed"
    assert job["error"]["message"] == "featurize.batch: the step failed unexpectedly; the error is in the service log"
