"""The OpenAPI part of job control: listing, cancel, paged and streamed results, paged lists, Idempotency-Key,
job options and callbacks. ``services/gateway/openapi.py`` calls ``add_job_control`` on its paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.gateway.idempotency import HEADER as IDEMPOTENCY_HEADER
from services.gateway.paging import JobListQuerySchema, PageQuerySchema
from services.gateway.service import INLINE_RESULTS_MAX, RESULTS_PAGE_SIZE

CONFLICTS = ("idempotency_key_reused: this Idempotency-Key came with another body in the last 24 h; "
             "idempotency_key_in_progress: its first request is still being accepted")
IDEMPOTENCY_KEY = {
    "name": IDEMPOTENCY_HEADER, "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[\x21-\x7e]+$"},
    "description": "Retry safely: the same key and body within 24 h answer the first request's job",
}
JOB_CREATING = (("/v1/predictions", "post"), ("/v1/datasets", "post"), ("/v1/models", "post"),
                ("/v1/causal/effects", "post"))
UPLOAD_OPTIONS = {
    "client_reference": {"type": "string", "minLength": 1, "maxLength": 200},
    "callback_url": {"type": "string", "format": "uri", "maxLength": 2000},
}
RESULTS_QUERY = [
    {"name": "format", "in": "query",
     "schema": {"type": "string", "enum": ["json", "csv", "sdf", "ndjson"], "default": "json"},
     "description": "ndjson streams one result per line, read from the store chunk by chunk; every line is one "
                    "result object with job_id, model and model_version added (no header line), so a stream "
                    "resumed at a cursor or read line by line needs nothing else"},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10_000},
     "description": "with json: answer one page {results, next_cursor} of this many"},
    {"name": "cursor", "in": "query", "schema": {"type": "string", "pattern": r"^\d{1,9}\.\d{1,9}$"},
     "description": "the next_cursor of the previous page (json or ndjson)"},
]
PAGE_OF: dict[str, Any] = {"type": "object", "properties": {"next_cursor": {"type": "string", "nullable": True}}}
PROVENANCE = {"job_id": {"type": "string"}, "model": {"type": "string", "nullable": True},
              "model_version": {"type": "integer", "nullable": True}}
RESULTS_PAGE = {"type": "object", "required": ["job_id", "results", "next_cursor"], "properties": {
    **PAGE_OF["properties"], **PROVENANCE, "results": {"type": "array", "items": {"type": "object"}}}}
RESULTS_DESCRIPTION = (
    "With limit or cursor, format=json answers one page {job_id, model, model_version, results, next_cursor}; "
    "without either, the whole array (each row with job_id, model and model_version). format=ndjson: one result "
    "per line, each with job_id, model and model_version added; no header line. CSV and SDF carry the same "
    "three on every row or record.")


INLINE_LIMIT = (
    f"A prediction of at most {INLINE_RESULTS_MAX:,} molecules carries its results inline once it has succeeded. "
    f"One of more carries no results but results_url, the first page ({RESULTS_PAGE_SIZE:,} results) of "
    "GET /v1/jobs/{job_id}/results: follow next_cursor, or ask format=ndjson to stream them. The same holds for "
    "the finished job a POST with wait answers.")


def _page(items: str, schema: dict[str, Any] | str) -> dict[str, Any]:
    item = {"$ref": f"#/components/schemas/{schema}"} if isinstance(schema, str) else schema
    return {"description": f"A page of {items}, then where the next one starts (null at the end)",
            "content": {"application/json": {"schema": {**PAGE_OF, "properties": {
                **PAGE_OF["properties"], items: {"type": "array", "items": item}}}}}}


def add_job_control(paths: dict[str, dict[str, Any]], json_response: Callable[[str, str], dict[str, Any]],
                    errors: Callable[..., dict[str, Any]]) -> None:
    """Add the job-control operations and the Idempotency-Key to ``paths`` (in place)."""
    for path, method in JOB_CREATING:
        operation = paths[path][method]
        operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
        operation["responses"].update(errors("400", "409"))
        contents = operation["requestBody"]["content"]
        for media, content in contents.items():
            schema = content["schema"]
            if isinstance(schema, dict) and "properties" in schema:  # the forms (JSON bodies have their schemas)
                contents[media] = {**content, "schema": {**schema, "properties": {**schema["properties"],
                                                                                  **UPLOAD_OPTIONS}}}
    paths["/v1/jobs"] = {"get": {
        "operationId": "list_jobs", "summary": "The caller's jobs, newest first, filtered and paged",
        "parameters": [{"in": "query", "schema": JobListQuerySchema}],
        "responses": {"200": _page("jobs", "Job"), **errors("400", "503")}}}
    read = paths["/v1/jobs/{job_id}"]["get"]
    read["description"] = INLINE_LIMIT
    read["x-inline-results-max"] = INLINE_RESULTS_MAX
    paths["/v1/predictions"]["post"]["description"] = INLINE_LIMIT
    paths["/v1/jobs/{job_id}"]["delete"] = {
        "operationId": "cancel_job", "summary": "Cancel a queued or running job; its queued chunks are skipped",
        "parameters": [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": json_response("Job", "The cancelled job"), **errors("404", "409", "503")}}
    results = paths["/v1/jobs/{job_id}/results"]["get"]
    results["parameters"] = [p for p in results["parameters"] if p.get("name") != "format"] + RESULTS_QUERY
    results["responses"]["200"] = {"description": RESULTS_DESCRIPTION, "content": {
        "application/json": {"schema": {"oneOf": [RESULTS_PAGE, {"type": "array", "items": {"type": "object"}}]}},
        "text/csv": {"schema": {"type": "string"}}, "chemical/x-mdl-sdfile": {"schema": {"type": "string"}},
        "application/x-ndjson": {"schema": {"type": "string"}}}}
    models = paths["/v1/models"]["get"]
    models["parameters"] = [{"in": "query", "schema": PageQuerySchema}]
    models["responses"] = {"200": _page("models", {"type": "object"}), **errors("400"), **{
        k: v for k, v in models["responses"].items() if k != "200"}}
    paths["/v1/datasets"]["get"] = {
        "operationId": "list_datasets", "summary": "The caller's datasets by id, without their per-row reports",
        "parameters": [{"in": "query", "schema": PageQuerySchema}],
        "responses": {"200": _page("datasets", {"type": "object"}), **errors("400")}}
