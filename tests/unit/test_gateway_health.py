"""services/gateway/health.py: liveness, and readiness from the broker, the queues' consumers, the model store and
the service database."""

from __future__ import annotations

import pytest
from flask import Flask

from services.gateway import GatewayContext, health
from services.gateway.errors import register_error_handlers
from shared.config import QUEUES, load_settings
from shared.jobs import MemoryJobStore, RedisJobStore
from shared.model_store import ModelStore


def make_client(settings, store, tmp_path, with_model=True):
    models = ModelStore(tmp_path)
    if with_model:
        models.write_version("akt1", lambda folder: {})
    app = Flask("health-under-test")
    app.extensions["causalmol"] = GatewayContext(settings, store, models)
    register_error_handlers(app)
    app.register_blueprint(health.bp)
    return app.test_client()


@pytest.fixture
def embedded_client(tmp_path):
    return make_client(load_settings({"CAUSALMOL_HOME": str(tmp_path)}), MemoryJobStore(), tmp_path)


def test_healthz(embedded_client):
    response = embedded_client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_not_ready_without_consumers(embedded_client):
    # embedded mode, but no embedded worker was started in this process
    response = embedded_client.get("/readyz")
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "not_ready"
    assert error["details"]["checks"] == {"broker": True, **{f"queue:{q}": False for q in QUEUES}, "models": True,
                                          "database": True}
    assert error["message"] == "not ready: queue:causal, queue:featurizer, queue:predictor, queue:scoring"


def test_ready_when_every_queue_is_consumed(embedded_client, monkeypatch):
    monkeypatch.setattr(health, "consumed_queues", lambda embedded, timeout=1.0: set(QUEUES))
    response = embedded_client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "mode": "embedded",
                                   "checks": {"broker": True, **{f"queue:{q}": True for q in QUEUES}, "models": True,
                                              "database": True}}


def test_not_ready_without_any_model(tmp_path, monkeypatch):
    client = make_client(load_settings({"CAUSALMOL_HOME": str(tmp_path)}), MemoryJobStore(), tmp_path,
                         with_model=False)
    monkeypatch.setattr(health, "consumed_queues", lambda embedded, timeout=1.0: set(QUEUES))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["error"]["message"] == "not ready: models"


def test_one_missing_queue_is_not_ready(embedded_client, monkeypatch):
    monkeypatch.setattr(health, "consumed_queues", lambda embedded, timeout=1.0: {"featurizer", "predictor", "causal"})
    response = embedded_client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["error"]["message"] == "not ready: queue:scoring"  # the online path's second hop


def test_unreachable_broker_is_not_ready_and_skips_the_worker_check(tmp_path, monkeypatch):
    settings = load_settings({"CAUSALMOL_REDIS_URL": "redis://127.0.0.1:1/0", "CAUSALMOL_HOME": str(tmp_path)})
    client = make_client(settings, RedisJobStore(settings.redis_url, 60, timeout=0.5), tmp_path)
    monkeypatch.setattr(health, "consumed_queues", lambda *a, **k: pytest.fail("workers inspected without a broker"))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["error"]["details"]["checks"]["broker"] is False


def test_an_unreachable_database_is_not_ready_without_its_address_or_the_error(tmp_path, monkeypatch):
    url = "postgresql://causalmol:hunter2@127.0.0.1:1/causalmol"  # nothing listens on port 1
    client = make_client(load_settings({"CAUSALMOL_HOME": str(tmp_path), "CAUSALMOL_DATABASE_URL": url}),
                         MemoryJobStore(), tmp_path)
    monkeypatch.setattr(health, "consumed_queues", lambda embedded, timeout=1.0: set(QUEUES))
    response = client.get("/readyz")
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert (error["code"], error["message"], error["details"]["checks"]["database"]) == (
        "not_ready", "not ready: database", False)
    body = response.get_data(as_text=True)
    assert "hunter2" not in body and "127.0.0.1" not in body and "refused" not in body.lower()


def test_consumed_queues_embedded_without_a_worker():
    assert health.consumed_queues(embedded=True) == set()


def test_consumed_queues_distributed_failure_means_none(monkeypatch):
    class BrokenControl:
        def inspect(self, timeout):
            raise ConnectionRefusedError("no broker")

    monkeypatch.setattr(health.celery_app, "control", BrokenControl())
    assert health.consumed_queues(embedded=False) == set()


def test_consumed_queues_distributed_collects_every_worker(monkeypatch):
    class Inspect:
        def active_queues(self):
            return {"featurizer@h": [{"name": "featurizer"}], "p@h": [{"name": "predictor"}, {"name": "causal"}]}

    class Control:
        def inspect(self, timeout):
            return Inspect()

    monkeypatch.setattr(health.celery_app, "control", Control())
    assert health.consumed_queues(embedded=False) == {"featurizer", "predictor", "causal"}
