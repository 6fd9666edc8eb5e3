"""services/gateway/api.py: the v1 handlers, on a test app with a memory job store and a recording chain."""

from __future__ import annotations

import io

import pytest
from flask import Flask

import shared.publish
from services.gateway import GatewayContext, api, registry_api
from services.gateway.errors import register_error_handlers
from shared.config import Settings
from shared.jobs import MemoryJobStore, new_job_record
from shared.model_store import CAUSAL_PROFILE_FILE, ModelStore
from shared.verdicts import verdict_rules


class RecordingChain:
    def __init__(self, *signatures):
        self.signatures = signatures

    def apply_async(self):
        pass


@pytest.fixture
def ctx(tmp_path, monkeypatch, settings_env):
    settings_env()  # default batch limit
    monkeypatch.setattr(shared.publish, "chain", RecordingChain)
    models = ModelStore(tmp_path)
    models.write_version("akt1", lambda folder: {"featurizer": {"name": "morgan_counts", "params": {}}})
    return GatewayContext(Settings(chunk_size=2), MemoryJobStore(), models)


@pytest.fixture
def client(ctx):
    app = Flask("gateway-under-test")
    app.extensions["causalmol"] = ctx
    register_error_handlers(app)
    app.register_blueprint(api.bp)
    return app.test_client()


def error_of(response):
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def test_post_queues_a_job(client, ctx):
    response = client.post("/v1/predictions", json={"model": "akt1", "molecules": [{"smiles": "CCO"}] * 3})
    assert response.status_code == 202
    body = response.get_json()
    assert set(body) == {"job_id", "status", "status_url"}
    assert body["status"] == "queued"
    assert body["status_url"] == f"http://localhost/v1/jobs/{body['job_id']}"
    assert ctx.job_store.record(body["job_id"])["n_chunks"] == 2


def test_post_with_wait_answers_202_when_not_finished_in_time(client):
    response = client.post("/v1/predictions", json={"model": "akt1", "molecules": [{"smiles": "C"}], "wait": 0.05})
    assert response.status_code == 202


def test_get_job(client, ctx):
    ctx.job_store.create(new_job_record("j1", {"name": "akt1", "version": 1}, total=1, n_chunks=1))
    result = {"id": "0", "input_smiles": "C", "canonical_smiles": "C", "prediction": None, "causal_validity": None,
              "error": None}
    ctx.job_store.save_chunk("j1", 0, [result])
    response = client.get("/v1/jobs/j1")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "succeeded"
    assert body["progress"] == {"done": 1, "total": 1}
    assert body["results"] == [result]
    assert "n_chunks" not in body and "chunks_done" not in body  # internal bookkeeping stays internal


def test_get_unknown_job_is_404(client):
    response = client.get("/v1/jobs/nope")
    assert response.status_code == 404
    assert error_of(response)["code"] == "job_not_found"


def test_non_json_body_is_415(client):
    response = client.post("/v1/predictions", data="model=akt1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


@pytest.mark.parametrize("raw", ["[1, 2]", "{not json", '"text"', "null"])
def test_json_that_is_not_an_object_is_400_invalid_json(client, raw):
    response = client.post("/v1/predictions", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"


@pytest.mark.parametrize("depth", [40, 100_000])  # past our limit; past the JSON decoder's recursion limit
def test_deeply_nested_json_is_400_invalid_json(client, depth):
    raw = '{"model": "akt1", "molecules": ' + "[" * depth + "]" * depth + "}"
    response = client.post("/v1/predictions", data=raw, content_type="application/json")
    assert response.status_code == 400  # 100,000 levels used to be a RecursionError: a 500
    error = error_of(response)
    assert error["code"] == "invalid_json"
    assert error["details"] == {"max_depth": 32}


def upload(client, content, **form):
    return client.post("/v1/predictions", data={"file": (io.BytesIO(content), "batch.csv"), "model": "akt1", **form})


def test_csv_upload_with_bare_cr_line_endings_is_read(client, ctx):
    response = upload(client, b"smiles,name\rCCO,a\rCCC,b\rCCCC,c\r", mapping='{"id": "name"}')
    assert response.status_code == 202, response.get_json()  # used to be a 500 (csv.Error)
    assert ctx.job_store.record(response.get_json()["job_id"])["total"] == 3


def test_csv_upload_with_a_field_over_the_csv_limit_is_400(client):
    response = upload(client, b"smiles\n" + b"C" * 200_000 + b"\n")
    assert response.status_code == 400  # used to be a 500 (csv.Error)
    assert error_of(response)["details"]["line"] == 2


CSV, SDF = b"smiles\nCCO\n", b"x\n\n\nM  END\n> <id>\na\n$$$$\n"


@pytest.mark.parametrize(("content", "form", "field"), [
    (CSV, {"wait": "abc"}, "wait"),
    (CSV, {"wait": "nan"}, "wait"),
    (CSV, {"mapping": "[1]"}, "mapping"),
    (CSV, {"format": "xlsx"}, "format"),
    (SDF, {"mapping": '{"id": {"a": 1}}', "format": "sdf"}, "mapping"),  # used to be a 500
])
def test_upload_form_fields_go_through_the_schema(client, content, form, field):
    response = upload(client, content, **form)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert set(error["details"]["fields"]) == {field}


def test_schema_violation_is_400_with_field_messages(client):
    response = client.post("/v1/predictions", json={"model": "akt1", "molecules": [], "wait": 31})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert set(error["details"]["fields"]) == {"wait"}  # field errors first; the batch-size check runs after


def test_unknown_model_is_404(client):
    response = client.post("/v1/predictions", json={"model": "egfr", "molecules": [{"smiles": "C"}]})
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "model_not_found"
    assert error["details"]["known"] == ["akt1"]


def test_retired_model_is_410(client, ctx):
    ctx.model_store.retire("akt1", 1)
    response = client.post("/v1/predictions", json={"model": "akt1@1", "molecules": [{"smiles": "C"}]})
    assert response.status_code == 410
    assert error_of(response)["code"] == "model_retired"


def test_bad_model_reference_is_400(client):
    response = client.post("/v1/predictions", json={"model": "AKT1@x", "molecules": [{"smiles": "C"}]})
    assert response.status_code == 400
    assert error_of(response)["code"] == "validation_error"


def test_get_on_predictions_is_405(client):
    response = client.get("/v1/predictions")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


def test_a_profile_is_read_with_the_verdict_rule_served_now(ctx):
    """A profile built under an earlier verdict rule is read with the one its verdicts are now judged by."""
    app = Flask("profile-under-test")
    app.extensions["causalmol"] = ctx
    register_error_handlers(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(registry_api.bp)
    stale = {"status": "ready", "rules": {"verdict": {"verdicts": {"supported": "an older rule"}},
                                          "coverage": "kept as built"}}
    ctx.model_store.write_sidecar("akt1", 1, CAUSAL_PROFILE_FILE, stale)
    profile = app.test_client().get("/v1/models/akt1@1/causal").get_json()
    assert profile["rules"]["verdict"] == verdict_rules()
    assert profile["rules"]["coverage"] == "kept as built"  # the build's other rules are the build's
    assert ctx.model_store.read_sidecar("akt1", 1, CAUSAL_PROFILE_FILE) == stale  # the stored file is left alone


def test_a_new_prediction_waits_without_reading_its_just_made_job_first(client, ctx, monkeypatch):
    waits = []
    real = ctx.job_store.wait
    monkeypatch.setattr(ctx.job_store, "wait", lambda job_id, seconds, just_created=False: waits.append(
        just_created) or real(job_id, seconds, just_created))
    client.post("/v1/predictions", json={"model": "akt1", "molecules": [{"smiles": "C"}], "wait": 0.05})
    assert waits == [True]
