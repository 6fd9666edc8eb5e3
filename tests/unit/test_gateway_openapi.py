"""services/gateway/openapi.py: the generated OpenAPI document."""

from __future__ import annotations

import json

import pytest

from services.gateway.openapi import ERROR_CODES, build_spec


@pytest.fixture(scope="module")
def spec():
    return build_spec("9.8.7")


def test_header(spec):
    assert spec["openapi"] == "3.0.3"
    assert spec["info"] == {"title": "causalmol", "version": "9.8.7"}


def test_every_route_and_method_is_documented(spec):
    import re

    from flask import Flask

    from services.gateway import api, audit_api, health, jobs_api, pages, registry_api

    app = Flask(__name__)
    for blueprint in (api.bp, registry_api.bp, jobs_api.bp, health.bp, pages.bp, audit_api.bp):
        app.register_blueprint(blueprint)
    routes = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static":
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
            routes.setdefault(path, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    assert set(spec["paths"]) == set(routes)
    for path, methods in routes.items():
        assert set(spec["paths"][path]) == methods, path


def test_component_schemas(spec):
    schemas = spec["components"]["schemas"]
    assert {"PredictionRequest", "Job", "JobAccepted", "Error", "MoleculeResult", "Prediction", "CausalValidity",
            "ApplicabilityDomain", "ErrorDetail"} <= set(schemas)
    request = schemas["PredictionRequest"]
    assert set(request["required"]) == {"model", "molecules"}
    assert request["properties"]["wait"]["maximum"] == 30
    assert request["properties"]["wait"]["default"] == 0.0
    verdict = schemas["CausalValidity"]["properties"]["verdict"]
    assert verdict["enum"] == ["supported", "caution", "unsupported", "unknown"]


def test_prediction_responses(spec):
    responses = spec["paths"]["/v1/predictions"]["post"]["responses"]
    assert set(responses) == {"200", "202", "400", "401", "403", "404", "409", "410", "413", "415", "429", "503"}
    assert responses["202"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/JobAccepted"}
    assert responses["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Job"}
    for status in ("400", "404", "410", "413", "415", "503"):
        assert responses[status]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        assert responses[status]["description"] == ERROR_CODES[status]
    body = spec["paths"]["/v1/predictions"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/PredictionRequest"}


def test_job_path(spec):
    operation = spec["paths"]["/v1/jobs/{job_id}"]["get"]
    assert operation["parameters"][0]["name"] == "job_id"
    assert set(operation["responses"]) == {"200", "401", "404", "429", "503"}


def test_job_control_is_documented(spec):
    paths = spec["paths"]
    for path in ("/v1/predictions", "/v1/datasets", "/v1/models", "/v1/causal/effects"):
        operation = paths[path]["post"]
        assert "Idempotency-Key" in [p["name"] for p in operation["parameters"]]
        assert "idempotency_key_reused" in operation["responses"]["409"]["description"]
    assert {p["name"] for p in paths["/v1/jobs"]["get"]["parameters"]} == {
        "status", "kind", "model", "client_reference", "limit", "cursor"}
    assert set(paths["/v1/jobs/{job_id}"]["delete"]["responses"]) == {"200", "401", "404", "409", "429", "503"}
    results = paths["/v1/jobs/{job_id}/results"]["get"]
    assert {p["name"] for p in results["parameters"]} == {"job_id", "format", "limit", "cursor"}
    assert "application/x-ndjson" in results["responses"]["200"]["content"]
    for listing in ("/v1/models", "/v1/datasets"):
        assert {p["name"] for p in paths[listing]["get"]["parameters"]} == {"limit", "cursor"}
    job = spec["components"]["schemas"]["Job"]["properties"]
    assert {"client_reference", "callback_url", "callbacks"} <= set(job)
    assert "cancelled" in job["status"]["enum"]
    form = paths["/v1/datasets"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert {"client_reference", "callback_url"} <= set(form)


def test_error_code_descriptions_name_the_stable_codes():
    assert "model_retired" in ERROR_CODES["410"]
    assert "broker_unavailable" in ERROR_CODES["503"]
    assert "job_not_found" in ERROR_CODES["404"] and "model_not_found" in ERROR_CODES["404"]
    assert "smarts_too_complex" in ERROR_CODES["400"] and "200 characters" in ERROR_CODES["400"]


def test_every_reference_resolves(spec):
    refs = []

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    assert refs
    names = {ref.rsplit("/", 1)[1] for ref in refs}
    assert names <= set(spec["components"]["schemas"])


def test_spec_is_json_serialisable(spec):
    assert json.loads(json.dumps(spec)) == spec
