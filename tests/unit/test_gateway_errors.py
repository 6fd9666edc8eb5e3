"""services/gateway/errors.py: every failure leaves the gateway as ``{"error": {code, message, details}}``."""

from __future__ import annotations

import pytest
from flask import Flask, request
from marshmallow import Schema, fields

from services.gateway.errors import HTTP_CODES, error_response, register_error_handlers
from shared.errors import BrokerUnavailable, ModelIntegrityError, ModelRetired


class _Body(Schema):
    n = fields.Integer(required=True)


@pytest.fixture
def client():
    app = Flask("errors-under-test")
    app.config["MAX_CONTENT_LENGTH"] = 100
    register_error_handlers(app)

    @app.get("/retired")
    def retired():
        raise ModelRetired("model akt1@1 is retired", {"model": "akt1@1"})

    @app.get("/broker")
    def broker():
        raise BrokerUnavailable("the message broker is unreachable; nothing was queued",
                                {"reason": "Error 111 connecting to 10.9.8.7:6379. Connection refused."})

    @app.get("/integrity")
    def integrity():
        raise ModelIntegrityError("artifact estimator.joblib of akt1@1 is missing or corrupt", {"file": "x"})

    @app.post("/schema")
    def schema():
        _Body().load(request.get_json())
        return "ok"

    @app.post("/upload")
    def upload():
        return str(len(request.get_data()))

    @app.get("/crash")
    def crash():
        raise RuntimeError("secret connection string redis://:hunter2@db")

    return app.test_client()


def body_of(response):
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def test_causalmol_error(client):
    response = client.get("/retired")
    assert response.status_code == 410
    assert body_of(response) == {"code": "model_retired", "message": "model akt1@1 is retired",
                                 "details": {"model": "akt1@1"}}


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/broker", 503, "broker_unavailable"),
    ("/integrity", 500, "model_integrity_error"),
])
def test_status_comes_from_the_error(client, path, status, code):
    response = client.get(path)
    assert response.status_code == status
    assert body_of(response)["code"] == code


def test_a_503_does_not_carry_the_brokers_address_but_logs_it(client, caplog):
    response = client.get("/broker")
    assert response.status_code == 503
    assert body_of(response)["details"] == {}
    assert "10.9.8.7" not in response.get_data(as_text=True)
    assert any("10.9.8.7" in r.getMessage() for r in caplog.records)


def test_marshmallow_validation_error(client):
    response = client.post("/schema", json={"n": "many"})
    assert response.status_code == 400
    error = body_of(response)
    assert error["code"] == "validation_error"
    assert error["details"] == {"fields": {"n": ["Not a valid integer."]}}


def test_payload_too_large(client):
    response = client.post("/upload", data=b"x" * 101, content_type="application/octet-stream")
    assert response.status_code == 413
    assert body_of(response)["code"] == "payload_too_large"


def test_not_found_route(client):
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert body_of(response)["code"] == "not_found"


def test_unexpected_exception_is_a_500_without_internals(client, caplog):
    response = client.get("/crash")
    assert response.status_code == 500
    error = body_of(response)
    assert error["code"] == "internal_error"
    assert "hunter2" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert any("unhandled error" in r.getMessage() for r in caplog.records)  # ... but it is logged


def test_http_codes_are_stable():
    assert HTTP_CODES == {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
                          413: "payload_too_large", 415: "unsupported_media_type"}


def test_error_response_defaults_details():
    app = Flask("x")
    with app.app_context():
        response, status = error_response(418, "teapot", "short and stout")
    assert status == 418
    assert response.get_json() == {"error": {"code": "teapot", "message": "short and stout", "details": {}}}
