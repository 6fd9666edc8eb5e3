"""services/gateway/metrics.py: request, job, molecule and verdict counters, queue depths, and gunicorn's workers.

Counters are process-wide, so every in-process test compares a sample before and after its requests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import requests
from flask import Flask
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from services.gateway import GatewayContext, api, metrics, register_request_id
from services.gateway.errors import register_error_handlers
from shared.config import QUEUES, Settings
from shared.jobs import RedisJobStore, new_job_record
from tests.conftest import DEFAULT_KEYS, create_test_key, stop_process
from tests.unit.test_gateway_api import ctx  # noqa: F401  (the fixture: a memory job store and a recording chain)
from tests.unit.test_jobs_redis import _free_port, redis_server_url  # noqa: F401  (the fixture: a real Redis)

REPO = Path(__file__).resolve().parents[2]
JOB_ROUTE = "/v1/jobs/<job_id>"
MODEL = {"name": "akt1", "version": 1}


def make_app(context: GatewayContext) -> Flask:
    app = Flask("gateway-under-test")
    app.extensions["causalmol"] = context
    register_request_id(app)
    metrics.init_app(app, context.settings)
    register_error_handlers(app)
    app.register_blueprint(api.bp)
    return app


@pytest.fixture
def client(ctx):  # noqa: F811
    return make_app(ctx).test_client()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def requests_seen(route: str, status: str, method: str = "GET") -> float:
    return sample("causalmol_http_request_duration_seconds_count", method=method, route=route, status=status)


def results(model_ok: int = 2) -> list[dict]:
    """``model_ok`` predicted molecules (one supported, the rest caution) and one that did not parse."""
    predicted = [{"id": str(i), "input_smiles": "C", "canonical_smiles": "C",
                  "prediction": {"value": 6.0, "unit": "pActivity"},
                  "causal_validity": {"verdict": "supported" if i == 0 else "caution", "reasons": []},
                  "error": None} for i in range(model_ok)]
    failed = {"id": "bad", "input_smiles": "C1CC", "canonical_smiles": None, "prediction": None,
              "causal_validity": None, "error": {"code": "invalid_smiles", "message": "no"}}
    return [*predicted, failed]


def finished_job(store, job_id: str, n_ok: int = 2) -> None:
    chunk = results(n_ok)
    store.create(new_job_record(job_id, MODEL, total=len(chunk), n_chunks=1))
    store.save_chunk(job_id, 0, chunk)


def test_requests_are_timed_by_route_template_and_status(client):
    before_404, before_unmatched = requests_seen(JOB_ROUTE, "404"), requests_seen("unmatched", "404")
    client.get("/v1/jobs/one")
    client.get("/v1/jobs/two")
    client.get("/no/such/page")
    assert requests_seen(JOB_ROUTE, "404") == before_404 + 2  # one series for every job id
    assert requests_seen("unmatched", "404") == before_unmatched + 1


def test_submitted_jobs_are_counted_by_kind(client):
    before = sample("causalmol_jobs_submitted_total", kind="prediction")
    assert client.post("/v1/predictions", json={"model": "akt1", "molecules": [{"smiles": "C"}]}).status_code == 202
    assert sample("causalmol_jobs_submitted_total", kind="prediction") == before + 1


def test_a_refused_request_queues_and_counts_no_job(client):
    before = sample("causalmol_jobs_submitted_total", kind="prediction")
    assert client.post("/v1/predictions", json={"model": "nope", "molecules": [{"smiles": "C"}]}).status_code == 404
    assert sample("causalmol_jobs_submitted_total", kind="prediction") == before


def test_a_finished_jobs_molecules_and_verdicts_are_counted_once(client, ctx):  # noqa: F811
    finished_job(ctx.job_store, "done1", n_ok=3)
    model = "akt1@1"
    before = {"predicted": sample("causalmol_molecules_predicted_total", model=model),
              "supported": sample("causalmol_verdicts_total", model=model, verdict="supported"),
              "caution": sample("causalmol_verdicts_total", model=model, verdict="caution"),
              "failed": sample("causalmol_molecules_failed_total", model=model, code="invalid_smiles")}
    for _ in range(3):  # polling again, and downloading, count nothing more
        assert client.get("/v1/jobs/done1").status_code == 200
    assert client.get("/v1/jobs/done1/results?format=csv").status_code == 200
    # Another gateway process reading the same store (a second gunicorn worker) finds the job counted too.
    make_app(ctx).test_client().get("/v1/jobs/done1")
    assert sample("causalmol_molecules_predicted_total", model=model) == before["predicted"] + 3
    assert sample("causalmol_verdicts_total", model=model, verdict="supported") == before["supported"] + 1
    assert sample("causalmol_verdicts_total", model=model, verdict="caution") == before["caution"] + 2
    assert sample("causalmol_molecules_failed_total", model=model, code="invalid_smiles") == before["failed"] + 1


def test_an_unfinished_job_is_counted_once_it_has_succeeded(client, ctx):  # noqa: F811
    store = ctx.job_store
    store.create(new_job_record("later", MODEL, total=3, n_chunks=1))
    before = sample("causalmol_molecules_predicted_total", model="akt1@1")
    client.get("/v1/jobs/later")
    assert sample("causalmol_molecules_predicted_total", model="akt1@1") == before
    store.save_chunk("later", 0, results(2))
    client.get("/v1/jobs/later")
    client.get("/v1/jobs/later")
    assert sample("causalmol_molecules_predicted_total", model="akt1@1") == before + 2


def test_a_store_failure_while_counting_still_answers(client, ctx, monkeypatch):  # noqa: F811
    finished_job(ctx.job_store, "flaky")

    def broken(*_args):
        raise redis.ConnectionError("gone")

    monkeypatch.setattr(ctx.job_store, "put_attachment_if_absent", broken)  # the mark count_results sets
    before = sample("causalmol_molecules_predicted_total", model="akt1@1")
    assert client.get("/v1/jobs/flaky").status_code == 200
    assert sample("causalmol_molecules_predicted_total", model="akt1@1") == before  # a lost sample, not a 5xx


def test_the_exposition_parses(client):
    client.get("/v1/jobs/parse-me")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {family.name: family for family in text_string_to_metric_families(response.get_data(as_text=True))}
    assert {"causalmol_http_request_duration_seconds", "causalmol_jobs_submitted", "causalmol_molecules_predicted",
            "causalmol_verdicts"} <= set(families)
    assert families["causalmol_http_request_duration_seconds"].type == "histogram"
    assert "causalmol_queue_depth" not in families  # embedded mode: no Redis queues to read


class FakePipeline:
    def __init__(self, lengths: dict[str, int], fail: bool) -> None:
        self.lengths, self.fail, self.keys = lengths, fail, []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def llen(self, key: str) -> None:
        self.keys.append(key)

    def execute(self) -> list[int]:
        if self.fail:
            raise redis.ConnectionError("broker down")
        return [self.lengths.get(key, 0) for key in self.keys]


class FakeRedis:
    def __init__(self, lengths: dict[str, int], fail: bool = False) -> None:
        self.lengths, self.fail = lengths, fail

    def pipeline(self, transaction: bool = True) -> FakePipeline:
        return FakePipeline(self.lengths, self.fail)


def test_queue_depth_sums_every_priority_of_each_queue():
    collector = metrics.QueueDepthCollector(FakeRedis({"predictor": 4, "predictor\x06\x169": 1, "causal": 2}))
    (family,) = collector.collect()
    assert family.name == "causalmol_queue_depth"
    assert {s.labels["queue"]: s.value for s in family.samples} == {**dict.fromkeys(QUEUES, 0), "predictor": 5,
                                                                    "causal": 2}


def test_queue_depth_is_absent_when_the_broker_does_not_answer():
    assert list(metrics.QueueDepthCollector(FakeRedis({}, fail=True)).collect()) == []


def test_distributed_mode_scrapes_the_queues():
    sources = metrics.scrape_sources(Settings(redis_url="redis://127.0.0.1:1/0"))
    assert isinstance(sources[-1], metrics.QueueDepthCollector)
    assert len(metrics.scrape_sources(Settings())) == 1


def wait_until_up(url: str, proc: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or a worker still booting
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"gunicorn did not start:\n{log.read_text()}")
        time.sleep(0.1)


@pytest.fixture
def gunicorn_gateway(redis_server_url, tmp_path):  # noqa: F811
    """The real app under gunicorn, two worker processes, distributed mode on the test Redis."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAUSALMOL_", "PROMETHEUS_"))}
    env.update(CAUSALMOL_REDIS_URL=redis_server_url, CAUSALMOL_HOME=str(tmp_path / "home"))
    log = tmp_path / "gunicorn.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(REPO / "services/gateway/gunicorn_conf.py"),
             "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "2", "services.gateway:create_app()"],
            cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, proc, log)
        DEFAULT_KEYS[url] = create_test_key(env)  # distributed mode requires keys; test requests send this one
        yield url, log
    finally:
        stop_process(proc, 20)


def test_gunicorn_workers_share_their_metrics(gunicorn_gateway, redis_server_url):  # noqa: F811
    url, log = gunicorn_gateway
    store = RedisJobStore(redis_server_url, ttl_seconds=60)
    finished_job(store, "gj1", n_ok=2)
    broker = redis.Redis.from_url(redis_server_url)
    broker.delete("featurizer", "predictor", "causal")
    broker.lpush("predictor", "m1", "m2", "m3")
    n_reads = 12
    for _ in range(n_reads):  # a new connection each time: both workers take their share
        response = requests.get(f"{url}/v1/jobs/gj1", headers={"Connection": "close"}, timeout=5)
        assert response.status_code == 200
    for _ in range(4):  # whichever worker answers the scrape reports every worker's samples
        text = requests.get(f"{url}/metrics", headers={"Connection": "close"}, timeout=5).text
        values = {(s.name, tuple(sorted(s.labels.items()))): s.value
                  for family in text_string_to_metric_families(text) for s in family.samples}
        count = ("causalmol_http_request_duration_seconds_count",
                 (("method", "GET"), ("route", JOB_ROUTE), ("status", "200")))
        assert values[count] == n_reads
        assert values[("causalmol_molecules_predicted_total", (("model", "akt1@1"),))] == 2  # once, not 12 times
        assert values[("causalmol_verdicts_total", (("model", "akt1@1"), ("verdict", "caution")))] == 1
        assert values[("causalmol_queue_depth", (("queue", "predictor"),))] == 3
        assert values[("causalmol_queue_depth", (("queue", "featurizer"),))] == 0
    lines = [json.loads(line) for line in log.read_text().splitlines()]  # gunicorn's own lines are JSON too
    assert {line["logger"] for line in lines} >= {"gunicorn.error", "services.gateway.metrics"}
    access = [line for line in lines if line.get("route") == JOB_ROUTE]
    assert len(access) == n_reads and all(len(line["request_id"]) == 32 for line in access)
