"""Idempotency-Key, job options, listing, cancel and paged results: the v1 handlers on a test app with a memory
job store and a recording chain (no worker: chunks are stored by the test as a worker would)."""

from __future__ import annotations

import io
import json

import pytest
from flask import Flask

import shared.publish
from services.gateway import GatewayContext, api, jobs_api, registry_api
from services.gateway.errors import register_error_handlers
from shared.config import Settings
from shared.jobs import MemoryJobStore
from shared.model_store import ModelStore

PUBLISHED: list[dict] = []


class RecordingChain:
    def __init__(self, *signatures):
        self.signatures = signatures

    def apply_async(self):
        PUBLISHED.append({"message": self.signatures[0].args[0], "options": self.signatures[0].options})


@pytest.fixture
def ctx(tmp_path, monkeypatch, settings_env):
    settings_env()
    PUBLISHED.clear()
    monkeypatch.setattr(shared.publish, "chain", RecordingChain)
    models = ModelStore(tmp_path / "models")
    for name in ("akt1", "beta", "gamma"):
        models.write_version(name, lambda folder: {"featurizer": {"name": "morgan_counts", "params": {}},
                                                   "estimator": {"name": "random_forest", "params": {}}})
    settings = Settings(chunk_size=2, webhook_secret="s3cret", datasets_dir=tmp_path / "datasets")
    return GatewayContext(settings, MemoryJobStore(), models)


@pytest.fixture
def client(ctx):
    app = Flask("gateway-under-test")
    app.extensions["causalmol"] = ctx
    register_error_handlers(app)
    for blueprint in (api.bp, registry_api.bp, jobs_api.bp):
        app.register_blueprint(blueprint)
    return app.test_client()


def predict(client, molecules=1, key=None, **body):
    headers = {"Idempotency-Key": key} if key else {}
    return client.post("/v1/predictions", headers=headers,
                       json={"model": "akt1", "molecules": [{"smiles": "CCO"}] * molecules, **body})


def finish(ctx, job_id: str) -> None:
    """Store every chunk as the scoring worker would."""
    record = ctx.job_store.record(job_id)
    for index, chunk in ctx.job_store.chunk_messages(job_id).items():
        molecules = chunk["message"]["molecules"]
        ctx.job_store.save_chunk(job_id, index, [{"id": m["id"], "chunk": index} for m in molecules])
    assert ctx.job_store.record(job_id)["chunks_done"] == record["n_chunks"]


def test_the_same_key_and_body_answer_the_same_job(client, ctx):
    first = predict(client, 3, key="eln-1")
    again = predict(client, 3, key="eln-1", wait=0)  # wait is not part of the request's identity
    assert first.status_code == again.status_code == 202
    assert first.get_json()["job_id"] == again.get_json()["job_id"]
    assert len(PUBLISHED) == 2  # one job of two chunks, published once
    finish(ctx, first.get_json()["job_id"])
    done = predict(client, 3, key="eln-1", wait=1)
    assert done.status_code == 200 and done.get_json()["job_id"] == first.get_json()["job_id"]


def test_the_same_key_with_another_body_is_409(client):
    job_id = predict(client, 1, key="eln-2").get_json()["job_id"]
    response = predict(client, 2, key="eln-2")
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert (error["code"], error["details"]) == ("idempotency_key_reused", {"job_id": job_id})


def test_a_key_taken_by_a_failed_submission_can_be_used_again(client):
    assert predict(client, 1, key="eln-3", model="no-such-model").status_code == 404
    assert predict(client, 1, key="eln-3").status_code == 202


def test_a_malformed_key_is_400(client):
    response = predict(client, 1, key="has spaces")
    assert response.status_code == 400
    assert set(response.get_json()["error"]["details"]["fields"]) == {"Idempotency-Key"}


def test_client_reference_and_callback_url_are_kept_on_the_job(client, ctx):
    job_id = predict(client, 1, client_reference="ELN-7", callback_url="http://127.0.0.1:9/hook").get_json()["job_id"]
    job = client.get(f"/v1/jobs/{job_id}").get_json()
    assert (job["client_reference"], job["callback_url"], job["callbacks"]) == ("ELN-7", "http://127.0.0.1:9/hook", [])


@pytest.mark.parametrize("body", [{"callback_url": "ftp://x/y"}, {"callback_url": "not a url"},
                                  {"client_reference": "x" * 201}, {"client_reference": "a\nb"}])
def test_bad_job_options_are_400(client, body):
    response = predict(client, 1, **body)
    assert response.status_code == 400
    assert set(response.get_json()["error"]["details"]["fields"]) == set(body)


def test_a_callback_needs_a_configured_secret(client, ctx, monkeypatch):
    client.application.extensions["causalmol"] = GatewayContext(Settings(), ctx.job_store, ctx.model_store)
    response = predict(client, 1, callback_url="http://127.0.0.1:9/hook")
    assert response.status_code == 400
    assert "CAUSALMOL_WEBHOOK_SECRET" in response.get_json()["error"]["message"]


def test_a_projects_own_secret_is_enough_for_a_callback_without_the_global_one(client, ctx, tmp_path):
    from flask import g

    from services.accounts.keys import Principal
    from services.accounts.webhook_secrets import rotate_secret

    database = f"sqlite:///{tmp_path / 'causalmol.db'}"
    rotate_secret("lab-a", database)
    client.application.extensions["causalmol"] = GatewayContext(Settings(database_url=database), ctx.job_store,
                                                                ctx.model_store)
    project = {"name": "lab-a"}
    client.application.before_request(lambda: setattr(g, "principal", Principal("k", project["name"],
                                                                                frozenset({"predict"}))))
    assert predict(client, 1, callback_url="http://127.0.0.1:9/hook").status_code == 202
    project["name"] = "lab-b"  # no secret of its own, and no fallback
    response = predict(client, 1, callback_url="http://127.0.0.1:9/hook")
    assert response.status_code == 400 and "webhook-secret rotate" in response.get_json()["error"]["message"]


def test_a_big_job_yields_to_small_ones_at_the_broker(client):
    predict(client, 1)
    predict(client, 3)
    assert [p["options"].get("priority") for p in PUBLISHED] == [None, 9, 9]


def test_list_jobs_filters_and_pages(client):
    ids = [predict(client, 1, client_reference=f"ref-{i % 2}").get_json()["job_id"] for i in range(5)]
    page = client.get("/v1/jobs?limit=2").get_json()
    assert [j["job_id"] for j in page["jobs"]] == ids[::-1][:2]
    rest = client.get(f"/v1/jobs?limit=10&cursor={page['next_cursor']}").get_json()
    assert [j["job_id"] for j in rest["jobs"]] == ids[::-1][2:] and rest["next_cursor"] is None
    assert "results" not in page["jobs"][0] and page["jobs"][0]["progress"] == {"done": 0, "total": 1}
    ref0 = client.get("/v1/jobs?client_reference=ref-0&model=akt1@1&status=queued").get_json()
    assert [j["job_id"] for j in ref0["jobs"]] == [ids[4], ids[2], ids[0]]
    assert client.get("/v1/jobs?model=beta").get_json()["jobs"] == []


@pytest.mark.parametrize("query", ["status=done", "limit=0", "limit=x", "cursor=%21%21", "kind=other"])
def test_bad_list_queries_are_400(client, query):
    assert client.get(f"/v1/jobs?{query}").status_code == 400


def test_cancel_a_queued_job_then_a_second_time_is_409(client):
    job_id = predict(client, 3).get_json()["job_id"]
    response = client.delete(f"/v1/jobs/{job_id}")
    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled" and response.get_json()["finished_at"]
    again = client.delete(f"/v1/jobs/{job_id}")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "job_already_finished"
    assert client.delete("/v1/jobs/unknown").status_code == 404


def test_results_in_pages_and_as_ndjson(client, ctx):
    job_id = predict(client, 5).get_json()["job_id"]  # chunks of 2, 2 and 1
    assert client.get(f"/v1/jobs/{job_id}/results?limit=2").status_code == 409  # not finished yet
    finish(ctx, job_id)
    ids, cursor, pages = [], None, 0
    while True:
        query = f"limit=2&cursor={cursor}" if cursor else "limit=2"
        page = client.get(f"/v1/jobs/{job_id}/results?{query}").get_json()
        ids += [r["chunk"] for r in page["results"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert (ids, pages) == ([0, 0, 1, 1, 2], 3)
    odd = client.get(f"/v1/jobs/{job_id}/results?limit=3&cursor=0.1").get_json()
    assert [r["chunk"] for r in odd["results"]] == [0, 1, 1] and odd["next_cursor"] == "2.0"
    streamed = client.get(f"/v1/jobs/{job_id}/results?format=ndjson")
    assert streamed.mimetype == "application/x-ndjson" and streamed.is_streamed
    lines = streamed.get_data(as_text=True).splitlines()
    assert [json.loads(line)["chunk"] for line in lines] == [0, 0, 1, 1, 2]
    whole = client.get(f"/v1/jobs/{job_id}/results").get_json()  # the default is unchanged: one array
    assert [r["chunk"] for r in whole] == [0, 0, 1, 1, 2]
    assert client.get(f"/v1/jobs/{job_id}/results?cursor=x").status_code == 400


def test_pages_and_ndjson_lines_say_which_job_and_model_version_made_them(client, ctx):
    job_id = predict(client, 3).get_json()["job_id"]
    finish(ctx, job_id)
    provenance = {"job_id": job_id, "model": "akt1", "model_version": 1}
    for query in ("limit=2", "limit=2&cursor=1.0"):
        page = client.get(f"/v1/jobs/{job_id}/results?{query}").get_json()
        assert {k: page[k] for k in provenance} == provenance
        assert not set(provenance) & set(page["results"][0])  # the envelope says it once, not each result
    for query in ("", "&cursor=0.1"):  # a resumed stream's lines stand alone too
        lines = client.get(f"/v1/jobs/{job_id}/results?format=ndjson{query}").get_data(as_text=True).splitlines()
        assert lines and all({k: json.loads(line)[k] for k in provenance} == provenance for line in lines)
        assert all("chunk" in json.loads(line) for line in lines)  # every line is a result: no header line


def test_models_are_listed_in_pages(client):
    first = client.get("/v1/models?limit=2").get_json()
    assert [m["name"] for m in first["models"]] == ["akt1", "beta"]
    rest = client.get(f"/v1/models?limit=2&cursor={first['next_cursor']}").get_json()
    assert [m["name"] for m in rest["models"]] == ["gamma"] and rest["next_cursor"] is None
    assert [m["name"] for m in client.get("/v1/models").get_json()["models"]] == ["akt1", "beta", "gamma"]


def test_datasets_are_listed_without_their_row_reports(client, ctx):
    for n in range(3):
        folder = ctx.settings.datasets_dir / f"ds_{n:024d}"
        folder.mkdir(parents=True)
        (folder / "dataset.json").write_text(json.dumps({"dataset_id": folder.name, "report": {
            "rows_read": 10, "rejected": [{"row": 7, "reason": "x"}]}}))
    page = client.get("/v1/datasets?limit=2").get_json()
    assert [d["dataset_id"] for d in page["datasets"]] == ["ds_" + "0" * 24, "ds_" + "0" * 23 + "1"]
    assert page["datasets"][0]["report"] == {"rows_read": 10}
    rest = client.get(f"/v1/datasets?cursor={page['next_cursor']}").get_json()
    assert len(rest["datasets"]) == 1 and rest["next_cursor"] is None


def test_an_upload_carries_job_options_and_an_idempotency_key(client):
    def send():
        return client.post("/v1/predictions", headers={"Idempotency-Key": "up-1"}, data={
            "file": (io.BytesIO(b"smiles\nCCO\nCCC\n"), "batch.csv"), "model": "akt1", "client_reference": "u1"})

    first, again = send(), send()
    assert first.status_code == again.status_code == 202
    assert first.get_json()["job_id"] == again.get_json()["job_id"]
    assert client.get(f"/v1/jobs/{first.get_json()['job_id']}").get_json()["client_reference"] == "u1"


def test_a_big_prediction_links_to_its_paged_results_and_a_small_one_stays_inline(client, ctx, monkeypatch):
    from prometheus_client import REGISTRY

    from services.gateway import service

    monkeypatch.setattr(service, "INLINE_RESULTS_MAX", 2)
    small, big = (predict(client, n).get_json()["job_id"] for n in (2, 3))
    running = client.get(f"/v1/jobs/{big}").get_json()
    assert "results" not in running and running["results_url"].endswith(f"/v1/jobs/{big}/results?limit=1000")
    finish(ctx, small)
    for index, chunk in ctx.job_store.chunk_messages(big).items():  # as the scoring worker stores them
        ctx.job_store.save_chunk(big, index, [{"id": m["id"], "chunk": index, "prediction": {"value": 6.0}}
                                              for m in chunk["message"]["molecules"]])
    assert [r["id"] for r in client.get(f"/v1/jobs/{small}").get_json()["results"]] == ["0", "1"]
    counted = REGISTRY.get_sample_value("causalmol_molecules_predicted_total", {"model": "akt1@1"}) or 0.0
    with monkeypatch.context() as patch:
        patch.setattr(ctx.job_store, "results", lambda *a: pytest.fail("a big job's results were read whole"))
        job = client.get(f"/v1/jobs/{big}").get_json()
        assert "results" not in job and job["status"] == "succeeded" and job["progress"] == {"done": 3, "total": 3}
        page = client.get(job["results_url"]).get_json()  # the link is the first page of the paged endpoint
        assert ([r["chunk"] for r in page["results"]], page["next_cursor"], page["job_id"]) == ([0, 0, 1], None, big)
        with client.application.test_request_context():  # a POST's finished wait answers the same document
            assert "results" not in service.wait_for_job(ctx.job_store, big, 1)
    # Its molecules were still counted, once, chunk by chunk, at its first read as a finished job.
    assert REGISTRY.get_sample_value("causalmol_molecules_predicted_total", {"model": "akt1@1"}) == counted + 3
    assert len(service.get_job(ctx.job_store, big)["results"]) == 3  # inside the gateway (exports, pages): whole
