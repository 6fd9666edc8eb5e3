"""On the real stack (redis-server, one Celery worker process per queue, gunicorn gateway): a request's id reaches
the workers' log lines of its tasks, task durations from the workers reach the gateway's /metrics, and a compact
prediction stores results without evidence under a short TTL."""

from __future__ import annotations

import json
import re
import uuid

import pytest
import redis
import requests

from tests.conftest import wait_until

pytestmark = pytest.mark.integration

MOLECULES = [{"id": "a", "smiles": "Nc1ncnc2[nH]ccc12"}, {"id": "b", "smiles": "CCOc1ccccc1"},
             {"id": "c", "smiles": "C1CC"}]


def predict(gateway, **extra) -> dict:
    answer = requests.post(gateway.url("/v1/predictions"), timeout=60, headers=extra.pop("headers", None),
                           json={"model": "akt1", "molecules": MOLECULES, "wait": 30, **extra})
    assert answer.status_code == 200, answer.text
    return answer.json()


def log_lines(workers, service: str) -> list[dict]:
    lines = []
    for line in (workers.logs / f"{service}.log").read_text().splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue  # Celery's banner is not JSON
    return lines


def test_the_request_id_reaches_the_worker_log_lines_of_its_tasks(gateway, workers) -> None:
    request_id = f"pytest-{uuid.uuid4().hex[:12]}"
    job = predict(gateway, headers={"X-Request-ID": request_id})
    assert job["status"] == "succeeded"

    def tagged(service: str) -> list[dict]:
        return [line for line in log_lines(workers, service) if line.get("request_id") == request_id]

    # Both hops of every chunk's chain (the second published by the featurizer worker) run under the id.
    featurized = wait_until(lambda: tagged("featurizer"), 10, "featurizer log lines with the request id")
    scored = wait_until(lambda: tagged("scoring"), 10, "scoring log lines with the request id")
    assert any("featurize.batch" in line["message"] and "succeeded" in line["message"] for line in featurized)
    assert any("score.batch" in line["message"] and "succeeded" in line["message"] for line in scored)
    assert {line["role"] for line in scored} == {"worker"}
    # A request without the header gets an id of its own, and its tasks log that one (the worker's binding of
    # the first id ended with its tasks).
    other = requests.post(gateway.url("/v1/predictions"), timeout=60,
                          json={"model": "akt1", "molecules": MOLECULES, "wait": 30})
    generated = other.headers["X-Request-ID"]
    assert generated != request_id
    wait_until(lambda: [line for line in log_lines(workers, "scoring") if line.get("request_id") == generated], 10,
               "scoring log lines with the generated request id")


def sample(metrics: str, name: str, **labels: str) -> float | None:
    for line in metrics.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            return float(match.group(2))
    return None


def test_metrics_show_task_durations_from_the_workers(gateway, workers) -> None:
    def score_count() -> float:
        text = requests.get(gateway.url("/metrics"), timeout=10).text
        return sample(text, "causalmol_task_duration_seconds_count", task="score.batch", state="success") or 0.0

    before = score_count()
    job = predict(gateway)
    n_chunks = -(-len(MOLECULES) // 2)  # CAUSALMOL_CHUNK_SIZE=2 on the test stack
    assert job["status"] == "succeeded"
    wait_until(lambda: score_count() >= before + n_chunks, 10, "score.batch durations in /metrics")
    text = requests.get(gateway.url("/metrics"), timeout=10).text
    assert sample(text, "causalmol_task_duration_seconds_sum", task="featurize.batch", state="success") > 0
    assert sample(text, "causalmol_task_duration_seconds_bucket", task="score.batch", state="success", le="+Inf") > 0
    for queue in ("featurizer", "scoring", "predictor", "causal"):
        assert sample(text, "causalmol_queue_depth", queue=queue) is not None


def test_a_compact_prediction_stores_no_evidence_and_expires_soon(gateway, redis_url) -> None:
    full, compact = predict(gateway), predict(gateway, response="compact")
    assert [r["prediction"] for r in compact["results"]] == [r["prediction"] for r in full["results"]]
    for small, big in zip(compact["results"], full["results"], strict=True):
        if big["causal_validity"] is None:
            assert small["causal_validity"] is None and small["error"] == big["error"]
            continue
        assert small["causal_validity"]["verdict"] == big["causal_validity"]["verdict"]
        assert small["causal_validity"]["applicability_domain"]["in_domain"] == \
            big["causal_validity"]["applicability_domain"]["in_domain"]
        assert "evidence" in big["causal_validity"] and "neighbours" in big["causal_validity"]["applicability_domain"]
        assert {"evidence", "attribution"}.isdisjoint(small["causal_validity"])
        assert "neighbours" not in small["causal_validity"]["applicability_domain"]
    assert len(json.dumps(compact["results"])) < len(json.dumps(full["results"]))
    client = redis.Redis.from_url(redis_url)
    key = f"causalmol:job:{compact['job_id']}"
    assert 0 < client.ttl(key) <= 3600 and 0 < client.ttl(f"{key}:chunk:0") <= 3600
    assert client.ttl(f"causalmol:job:{full['job_id']}") > 3600
    bad = requests.post(gateway.url("/v1/predictions"), timeout=10,
                        json={"model": "akt1", "molecules": MOLECULES, "response": "tiny"})
    assert bad.status_code == 400 and "response" in bad.json()["error"]["details"]["fields"]
