"""services/gateway/openapi_auth.py: the document says how to authenticate and what each route answers without."""

from __future__ import annotations

from services.gateway.auth import is_open
from services.gateway.openapi import build_spec


def test_security_schemes_and_the_open_routes():
    spec = build_spec("1.0")
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "Authorization: Bearer <key>"}
    assert spec["components"]["securitySchemes"]["apiKey"]["name"] == "X-API-Key"
    assert spec["security"] == [{"bearer": []}, {"apiKey": []}]
    for path in ("/healthz", "/readyz"):
        assert spec["paths"][path]["get"]["security"] == []
        assert "401" not in spec["paths"][path]["get"]["responses"]
    # The sign-in form is open (it checks the key it is given); its 401 is the form's own, never a 429.
    for method, operation in spec["paths"]["/v1/session"].items():
        assert operation["security"] == [] and "429" not in operation["responses"], method


def test_every_v1_operation_documents_401_and_429_and_the_scoped_ones_403():
    spec = build_spec("1.0")
    for path, operations in spec["paths"].items():
        if not path.startswith("/v1/") or is_open(path):
            continue
        for method, operation in operations.items():
            assert {"401", "429"} <= set(operation["responses"]), (path, method)
    assert "403" in spec["paths"]["/v1/models/{ref}"]["delete"]["responses"]
    assert "'train' scope" in spec["paths"]["/v1/models/{ref}"]["delete"]["description"]
    assert "403" not in spec["paths"]["/v1/models/{ref}"]["get"]["responses"]
    audit = spec["paths"]["/v1/audit"]["get"]
    assert {p["name"] for p in audit["parameters"]} == {"project", "action", "job_id", "cursor", "limit"}
    assert "'admin' scope" in audit["description"]
