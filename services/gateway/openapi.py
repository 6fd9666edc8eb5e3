"""The OpenAPI document, generated from the marshmallow schemas the handlers use."""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from services.gateway.schemas import ErrorSchema, JobAcceptedSchema, JobSchema, PredictionRequestSchema

ERROR_CODES = {
    "400": "validation_error or invalid_json: the body does not match the schema (field messages in details)",
    "404": "job_not_found or model_not_found",
    "410": "model_retired",
    "413": "payload_too_large",
    "415": "unsupported_media_type: the body is not JSON",
    "503": "broker_unavailable: nothing was queued",
}


def _errors(*statuses: str) -> dict[str, Any]:
    return {s: {"description": ERROR_CODES[s], "content": {"application/json": {"schema": "Error"}}}
            for s in statuses}


def build_spec(version: str) -> dict[str, Any]:
    spec = APISpec(title="causalmol", version=version, openapi_version="3.0.3", plugins=[MarshmallowPlugin()])
    for name, schema in [("PredictionRequest", PredictionRequestSchema), ("Job", JobSchema),
                         ("JobAccepted", JobAcceptedSchema), ("Error", ErrorSchema)]:
        spec.components.schema(name, schema=schema)
    spec.path(path="/v1/predictions", operations={"post": {
        "summary": "Predict activity with causal-validity annotations (an async job)",
        "requestBody": {"required": True, "content": {"application/json": {"schema": "PredictionRequest"}}},
        "responses": {
            "200": {"description": "Finished within `wait`", "content": {"application/json": {"schema": "Job"}}},
            "202": {"description": "Queued", "content": {"application/json": {"schema": "JobAccepted"}}},
            **_errors("400", "404", "410", "413", "415", "503"),
        },
    }})
    spec.path(path="/v1/jobs/{job_id}", operations={"get": {
        "summary": "A job's status, progress and (once succeeded) its results in input order",
        "parameters": [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "The job", "content": {"application/json": {"schema": "Job"}}},
                      **_errors("404", "503")},
    }})
    spec.path(path="/healthz", operations={"get": {"summary": "Liveness", "responses": {"200": {"description": "ok"}}}})
    spec.path(path="/readyz", operations={"get": {
        "summary": "Readiness: broker reachable and a live worker on each queue",
        "responses": {"200": {"description": "ready"}, "503": {"description": "not_ready, with the failing checks"}},
    }})
    return spec.to_dict()
