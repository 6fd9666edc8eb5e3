"""The OpenAPI part of keys and the audit: security schemes, the 401/403/429 of every ``/v1`` route, ``/v1/audit``.

``services/gateway/openapi.py`` calls ``add_audit`` on its paths and ``secure`` on the finished document.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.audit.records import MAX_PAGE
from services.gateway.auth import OPEN_PATHS, OPEN_PREFIXES

AUTH_ERRORS = {
    "401": "authentication_required: no API key, or an unknown or revoked one",
    "403": "insufficient_scope: the key lacks the route's scope (predict, train or admin)",
    "429": "rate_limited: over the key's rate; Retry-After says when to try again",
}
# What each write route needs; any valid key reads (``services/gateway/auth.py`` ``@requires`` on the views).
SCOPES = {("/v1/predictions", "post"): "predict", ("/v1/datasets", "post"): "train", ("/v1/models", "post"): "train",
          ("/v1/models/{ref}", "delete"): "train", ("/v1/causal/effects", "post"): "train",
          ("/v1/audit", "get"): "admin"}
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <key>"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}
AUDIT_PARAMETERS = [
    {"name": "project", "in": "query", "schema": {"type": "string", "maxLength": 64}},
    {"name": "action", "in": "query", "schema": {"type": "string", "maxLength": 64},
     "description": "an action (prediction.submitted) or, ending in '.', a prefix (key.)"},
    {"name": "job_id", "in": "query", "schema": {"type": "string", "maxLength": 64}},
    {"name": "cursor", "in": "query", "schema": {"type": "string", "maxLength": 200}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 100}},
]
AUDIT_PAGE = {"type": "object", "properties": {
    "records": {"type": "array", "items": {"type": "object"}},
    "next_cursor": {"type": "string", "nullable": True}}}


def add_audit(paths: dict[str, Any], _json: Callable[..., dict[str, Any]],
              _errors: Callable[..., dict[str, Any]]) -> None:
    paths["/v1/audit"] = {"get": {
        "operationId": "read_audit",
        "summary": "Audit records, oldest first, paged by cursor (admin keys; every project)",
        "parameters": AUDIT_PARAMETERS,
        "responses": {"200": {"description": "A page of records",
                              "content": {"application/json": {"schema": AUDIT_PAGE}}}, **_errors("400")}}}


def secure(document: dict[str, Any]) -> None:
    """Keys everywhere but the open routes; each ``/v1`` operation documents the answers of the key checks."""
    document.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    document["security"] = [{"bearer": []}, {"apiKey": []}]
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for path, operations in document["paths"].items():
        open_path = path in OPEN_PATHS or any(path == p or path.startswith(p + "/") for p in OPEN_PREFIXES)
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            if open_path or not path.startswith("/v1/"):
                operation["security"] = []
                continue
            statuses = ("401", "403", "429") if (path, method) in SCOPES else ("401", "429")
            for status in statuses:
                operation["responses"].setdefault(status, {"description": AUTH_ERRORS[status], **error})
            if (path, method) in SCOPES:
                operation["description"] = (operation.get("description", "") +
                                            f" Needs the '{SCOPES[(path, method)]}' scope.").strip()
