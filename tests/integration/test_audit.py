"""The audit trail on the distributed stack: every action leaves a record in PostgreSQL, written by the gateway
(requests) or by the worker that finished the job (verdict counts, the version trained), read back through
``GET /v1/audit`` (admin, paged, filtered), and still there once the jobs are gone from Redis."""

from __future__ import annotations

import json
import shutil

import pytest
import redis
import requests

from services.audit.records import smiles_sha256
from tests.conftest import TEST_PROJECT, create_test_key, poll_job, wait_until

pytestmark = pytest.mark.integration
MOLECULES = [{"id": "a", "smiles": "Nc1ncnc2[nH]ccc12"}, {"id": "b", "smiles": "C1CC"}, {"id": "c", "smiles": "CCO"}]


@pytest.fixture(scope="module")
def admin(stack_env) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_test_key(stack_env, project='operators', scopes=('admin',))}"}


def audit(gateway, admin, **params) -> list[dict]:
    """Every record matching ``params``, following the cursor to the end."""
    records, cursor = [], None
    while True:
        page = requests.get(gateway.url("/v1/audit"), headers=admin, timeout=10,
                            params={**params, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        records += body["records"]
        cursor = body["next_cursor"]
        if cursor is None:
            return records


def one(records: list[dict], **match) -> dict:
    found = [r for r in records if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, records)
    return found[0]


@pytest.fixture(scope="module")
def prediction(gateway) -> dict:
    body = {"model": "akt1", "wait": 30, "molecules": MOLECULES}
    job = requests.post(gateway.url("/v1/predictions"), json=body, timeout=60).json()
    assert job["status"] == "succeeded"
    assert requests.get(gateway.url(f"/v1/jobs/{job['job_id']}/results?format=csv"), timeout=30).status_code == 200
    return job


def test_a_prediction_is_recorded_when_sent_and_when_finished_with_its_verdict_counts(gateway, admin, prediction):
    job_id = prediction["job_id"]
    records = audit(gateway, admin, job_id=job_id)
    sent = one(records, action="prediction.submitted")
    assert sent["project"] == TEST_PROJECT and sent["key_id"].startswith("key_")
    assert (sent["route"], sent["status"], sent["model"]) == ("POST /v1/predictions", 200, "akt1@1")
    assert sent["input_sha256"] == smiles_sha256([m["smiles"] for m in MOLECULES])
    assert sent["n_molecules"] == 3
    finished = wait_until(lambda: [r for r in audit(gateway, admin, job_id=job_id)
                                   if r["action"] == "prediction.succeeded"], 20, "the job's end record")[0]
    expected = {}
    for result in prediction["results"]:
        verdict = (result["causal_validity"] or {}).get("verdict") or "error"
        expected[verdict] = expected.get(verdict, 0) + 1
    assert finished["details"]["verdicts"] == expected and expected["error"] == 1
    assert (finished["project"], finished["model"], finished["key_id"]) == (TEST_PROJECT, "akt1@1", sent["key_id"])
    exported = one(records, action="results.exported")
    assert exported["route"] == f"GET /v1/jobs/{job_id}/results" and exported["status"] == 200


def test_records_outlive_the_jobs_in_redis(gateway, admin, prediction, redis_url):
    job_id = prediction["job_id"]
    store = redis.Redis.from_url(redis_url)
    keys = list(store.scan_iter(f"causalmol:job:{job_id}*"))
    assert keys
    store.delete(*keys)  # what the result TTL does a week later
    assert requests.get(gateway.url(f"/v1/jobs/{job_id}"), timeout=10).status_code == 404
    assert {r["action"] for r in audit(gateway, admin, job_id=job_id)} >= {
        "prediction.submitted", "prediction.succeeded", "results.exported"}


def test_training_datasets_and_causal_questions_are_recorded(gateway, admin, profiled_model):
    dataset_id = profiled_model["dataset"]["dataset_id"]
    # The worker writes a job's end record just after the job turns succeeded: give it a moment.
    trained = one(wait_until(lambda: audit(gateway, admin, action="training.succeeded", project=TEST_PROJECT), 120,
                             "the training's end record"), model=profiled_model["model"])
    asked = one(audit(gateway, admin, action="training.submitted"), job_id=trained["job_id"])
    assert asked["details"]["dataset_id"] == dataset_id and asked["status"] == 202
    uploads = [r for r in audit(gateway, admin, action="dataset.submitted", project=TEST_PROJECT)
               if r["details"].get("dataset_id") == dataset_id]
    assert uploads and uploads[0]["details"]["sha256"] == profiled_model["dataset"]["sha256"]
    body = {"dataset_id": dataset_id, "treatment": {"smarts": "CO"}, "confounders": ["assay_chembl_id"],
            "estimators": ["linear"], "refuters": [], "wait": 30}
    job = requests.post(gateway.url("/v1/causal/effects"), json=body, timeout=60).json()
    job = poll_job(gateway, job["job_id"], 120)  # under load the 30 s wait may answer 202 first
    assert job["status"] == "succeeded", job
    records = wait_until(lambda: (r := audit(gateway, admin, job_id=job["job_id"])) and len(r) == 2 and r, 120,
                         "the question's two records")
    # In either order: the request's record is written as its answer goes out, after the 30 s wait saw the job end,
    # so the worker's end record may well commit first.
    assert sorted(r["action"] for r in records) == ["causal_effect.submitted", "causal_effect.succeeded"]


def test_a_retirement_is_recorded_with_its_reason(gateway, admin, models_dir):
    # A copy of the reference version owned by the test project, so retiring it spares every other test's akt1.
    target = models_dir / "audit-probe" / "1"
    shutil.copytree(models_dir / "akt1" / "1", target)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest.update(name="audit-probe", provenance={**manifest.get("provenance", {}), "project": TEST_PROJECT})
    (target / "manifest.json").write_text(json.dumps(manifest))
    response = requests.delete(gateway.url("/v1/models/audit-probe@1"), params={"reason": "superseded by v2"},
                               timeout=10)
    assert response.status_code == 200 and response.json()["retired"] is True
    record = one(audit(gateway, admin, action="model.retired"), model="audit-probe@1")
    assert (record["details"]["reason"], record["project"], record["status"]) == ("superseded by v2",
                                                                                  TEST_PROJECT, 200)


def test_key_changes_and_refused_requests_are_recorded(gateway, admin, stack_env):
    from services.accounts.keys import revoke_key

    token = create_test_key(stack_env, project="audited", scopes=("predict",))
    refused = requests.post(gateway.url("/v1/models"), json={"name": "x", "dataset_id": "ds_0"},
                            headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert refused.status_code == 403
    prefix = "_".join(token.split("_")[:2])
    revoke_key(prefix, "left the lab", stack_env["CAUSALMOL_DATABASE_URL"])
    records = audit(gateway, admin, project="audited")
    assert [r["action"] for r in records] == ["key.created", "training.submitted", "key.revoked"]
    assert records[1]["status"] == 403 and records[1]["details"]["error_code"] == "insufficient_scope"
    assert records[2]["details"] == {"reason": "left the lab"}
    assert len({r["key_id"] for r in records}) == 1
    assert [r["action"] for r in audit(gateway, admin, action="key.", project="audited")] == ["key.created",
                                                                                            "key.revoked"]


def test_the_audit_is_paged_by_cursor_oldest_first(gateway, admin):
    everything = audit(gateway, admin)
    first = requests.get(gateway.url("/v1/audit"), headers=admin, params={"limit": 2}, timeout=10).json()
    second = requests.get(gateway.url("/v1/audit"), headers=admin, timeout=10,
                          params={"limit": 2, "cursor": first["next_cursor"]}).json()
    ids = [r["id"] for r in first["records"] + second["records"]]
    assert ids == [r["id"] for r in everything[:4]] and ids == sorted(set(ids))
    bad = requests.get(gateway.url("/v1/audit"), headers=admin, params={"cursor": "not-a-cursor"}, timeout=10)
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "validation_error")
