"""services/gateway/auth.py, scoping.py and audit_api.py on a test app: real keys in a real SQLite database, the
memory rate limiter, the v1 handlers with a memory job store (chains recorded, not sent)."""

from __future__ import annotations

import dataclasses

import pytest
from flask import Flask

import shared.publish
from services.accounts.keys import create_key
from services.audit.records import query
from services.gateway import GatewayContext, api, audit_api, auth
from services.gateway.errors import register_error_handlers
from shared.config import Settings, load_settings
from shared.jobs import MemoryJobStore
from shared.model_store import ModelStore
from tests.unit.test_gateway_api import RecordingChain


@pytest.fixture
def settings(tmp_path) -> Settings:
    return dataclasses.replace(Settings(chunk_size=2), auth_required=True, rate_limit="100/minute",
                               database_url=f"sqlite:///{tmp_path / 'keys.db'}")


@pytest.fixture
def app(settings, tmp_path, monkeypatch, settings_env):
    settings_env()
    monkeypatch.setattr(shared.publish, "chain", RecordingChain)
    models = ModelStore(tmp_path / "models")
    models.write_version("akt1", lambda folder: {"featurizer": {"name": "morgan_counts", "params": {}}})
    app = Flask("auth-under-test")
    app.extensions["causalmol"] = GatewayContext(settings, MemoryJobStore(), models)
    register_error_handlers(app)
    auth.init_app(app, settings)
    audit_api.init_app(app, settings)
    app.register_blueprint(api.bp)
    app.add_url_rule("/healthz", "healthz", lambda: "ok")
    return app


def key(settings, project="lab-a", scopes=("predict",), rate_limit=None) -> dict[str, str]:
    token, _ = create_key(project, list(scopes), "unit", rate_limit, database_url=settings.database_url)
    return {"Authorization": f"Bearer {token}"}


def predict(client, headers):
    return client.post("/v1/predictions", json={"model": "akt1", "molecules": [{"smiles": "CCO"}]}, headers=headers)


def test_no_key_or_a_wrong_one_is_401_with_a_challenge_and_open_routes_need_none(app, settings):
    client = app.test_client()
    for headers in ({}, {"Authorization": "Bearer cm_1234_wrong"}, {"X-API-Key": "nonsense"}):
        response = predict(client, headers)
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "authentication_required"
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="causalmol"'
    assert client.get("/healthz").status_code == 200


def test_bearer_and_x_api_key_both_work_and_a_missing_scope_is_403(app, settings):
    client = app.test_client()
    headers = key(settings)
    assert predict(client, headers).status_code == 202
    assert predict(client, {"X-API-Key": headers["Authorization"].split()[1]}).status_code == 202
    refused = client.get("/v1/audit", headers=headers)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["details"] == {"required_scope": "admin", "scopes": ["predict"]}
    assert client.get("/v1/audit", headers=key(settings, "ops", ("admin",))).status_code == 200


def test_a_key_over_its_rate_is_429_with_retry_after_and_other_keys_go_on(app, settings):
    client = app.test_client()
    slow = key(settings, rate_limit="2/minute")
    answers = [client.get("/v1/jobs/x", headers=slow) for _ in range(3)]
    assert [a.status_code for a in answers] == [404, 404, 429]
    assert answers[2].get_json()["error"]["code"] == "rate_limited"
    assert 0 < int(answers[2].headers["Retry-After"]) <= 60
    assert "Retry-After" not in answers[0].headers and answers[0].headers["X-RateLimit-Limit"] == "2"
    assert client.get("/v1/jobs/x", headers=key(settings)).status_code == 404


def test_a_job_is_its_projects_alone_and_its_exports_name_job_and_model(app, settings):
    client = app.test_client()
    mine, theirs = key(settings, "lab-a"), key(settings, "lab-b")
    job_id = predict(client, mine).get_json()["job_id"]
    store = app.extensions["causalmol"].job_store
    assert store.record(job_id)["project"] == "lab-a"
    store.save_chunk(job_id, 0, [{"id": "0", "input_smiles": "CCO", "prediction": None, "causal_validity": None,
                                  "error": {"code": "invalid_smiles", "message": "x"}}])
    assert client.get(f"/v1/jobs/{job_id}", headers=mine).get_json()["project"] == "lab-a"
    for path in (f"/v1/jobs/{job_id}", f"/v1/jobs/{job_id}/results?format=csv"):
        response = client.get(path, headers=theirs)
        assert (response.status_code, response.get_json()["error"]["code"]) == (404, "job_not_found")
    exported = client.get(f"/v1/jobs/{job_id}/results?format=json", headers=mine).get_json()
    assert [(r["job_id"], r["model"], r["model_version"]) for r in exported] == [(job_id, "akt1", 1)]
    csv_text = client.get(f"/v1/jobs/{job_id}/results?format=csv", headers=mine).get_data(as_text=True)
    assert csv_text.splitlines()[0].endswith("job_id,model,model_version")
    assert csv_text.splitlines()[1].endswith(f"{job_id},akt1,1")


def test_each_write_request_leaves_an_audit_record_with_the_caller(app, settings):
    client = app.test_client()
    job_id = predict(client, key(settings, "lab-a")).get_json()["job_id"]
    predict(client, {})  # refused before any key: recorded without one
    records = query(action="prediction.submitted", database_url=settings.database_url)["records"]
    sent, refused = records
    assert (sent["project"], sent["job_id"], sent["status"], sent["model"], sent["n_molecules"]) == (
        "lab-a", job_id, 202, "akt1@1", 1)
    assert (refused["key_id"], refused["status"], refused["details"]["error_code"]) == (
        None, 401, "authentication_required")


def test_with_auth_disabled_there_is_no_principal_and_everything_is_visible(app, settings):
    open_settings = dataclasses.replace(settings, auth_required=False)
    open_app = Flask("open")
    open_app.extensions["causalmol"] = app.extensions["causalmol"]
    register_error_handlers(open_app)
    auth.init_app(open_app, open_settings)
    open_app.register_blueprint(api.bp)
    response = predict(open_app.test_client(), {})
    assert response.status_code == 202
    assert "project" not in open_app.extensions["causalmol"].job_store.record(response.get_json()["job_id"])


@pytest.mark.parametrize(("env", "problem"), [
    ({"CAUSALMOL_AUTH": "disabled", "CAUSALMOL_REDIS_URL": "redis://x:1/0"}, "embedded mode only"),
    ({"CAUSALMOL_AUTH": "maybe"}, "must be 'required' or 'disabled'"),
])
def test_keys_cannot_be_turned_off_in_distributed_mode(env, problem):
    with pytest.raises(ValueError, match=problem):
        load_settings(env)
    assert load_settings({"CAUSALMOL_REDIS_URL": "redis://x:1/0"}).auth_required is True
    assert load_settings({}).auth_required is True  # embedded too, unless told
