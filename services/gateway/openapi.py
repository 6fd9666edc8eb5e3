"""The OpenAPI document, generated from the marshmallow schemas the handlers use."""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from services.gateway.openapi_auth import add_audit, secure
from services.gateway.registry_schemas import CausalEffectRequestSchema, JobLinkSchema, TrainingRequestSchema
from services.gateway.registry_service import MAX_SMARTS_COMPONENTS, MAX_SMARTS_LENGTH
from services.gateway.schemas import MAX_JSON_DEPTH, ErrorSchema, JobAcceptedSchema, JobSchema, PredictionRequestSchema
from shared.schemas import CausalEffectSchema

ERROR_CODES = {
    "400": ("validation_error or invalid_json: the request does not match the schema (field messages in details), "
            f"or nests deeper than {MAX_JSON_DEPTH} levels; smarts_too_complex: a treatment SMARTS over "
            f"{MAX_SMARTS_LENGTH} characters or {MAX_SMARTS_COMPONENTS} dot-separated components"),
    "404": "job_not_found, model_not_found, dataset_not_found or profile_not_found",
    "409": ("model_name_taken: another project holds the model name; job_not_finished; "
            "job_already_finished (cancel); idempotency_key_reused: the Idempotency-Key came with "
            "another body; idempotency_key_in_progress"),
    "410": "model_retired",
    "413": "payload_too_large",
    "415": "unsupported_media_type: the body is not JSON",
    "503": "broker_unavailable: nothing was queued (or export_not_ready)",
}
SCHEMAS = {
    "PredictionRequest": PredictionRequestSchema, "Job": JobSchema, "JobAccepted": JobAcceptedSchema,
    "Error": ErrorSchema, "TrainingRequest": TrainingRequestSchema, "CausalEffectRequest": CausalEffectRequestSchema,
    "CausalEffect": CausalEffectSchema, "DatasetJob": JobLinkSchema,
}
UPLOAD_FORM = {"multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
    "file": {"type": "string", "format": "binary", "description": "*.csv or *.sdf"},
    "mapping": {"type": "string", "description": "JSON column mapping (see the README)"},
    "format": {"type": "string", "enum": ["csv", "sdf"]},
    "model": {"type": "string"},
    "wait": {"type": "number", "minimum": 0, "maximum": 30},
}}}}
DOCUMENT = {"description": "A JSON document (see the README)", "content": {"application/json": {"schema": {
    "type": "object"}}}}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: str) -> dict[str, Any]:
    return {s: _json("Error", ERROR_CODES[s]) for s in statuses}


def _path_param(name: str) -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}]


def _job_started(operation_id: str, summary: str, request: dict[str, Any], *errors: str) -> dict[str, Any]:
    return {"operationId": operation_id, "summary": summary,
            "requestBody": {"required": True, "content": request},
            "responses": {"200": _json("Job", "Finished within `wait`"), "202": _json("JobAccepted", "Queued"),
                          **_errors(*errors)}}


def build_spec(version: str, max_molecules: int = 100_000) -> dict[str, Any]:
    """The document; each operationId is the name of the Flask view that serves it."""
    spec = APISpec(title="causalmol", version=version, openapi_version="3.0.3", plugins=[MarshmallowPlugin()])
    for name, schema in SCHEMAS.items():
        spec.components.schema(name, schema=schema)
    paths: dict[str, dict[str, Any]] = {
        "/v1/predictions": {"post": _job_started(
            "create_prediction",
            "Predict activity with causal-validity annotations (an async job); JSON, or a CSV/SDF upload",
            {"application/json": {"schema": "PredictionRequest"}, **UPLOAD_FORM},
            "400", "404", "410", "413", "415", "503")},
        "/v1/jobs/{job_id}": {"get": {
            "operationId": "read_job",
            "summary": "A job's status, progress and (once succeeded) its results in input order",
            "parameters": _path_param("job_id"),
            "responses": {"200": _json("Job", "The job"), **_errors("404", "503")}}},
        "/v1/jobs/{job_id}/results": {"get": {
            "operationId": "read_results",
            "summary": "A succeeded prediction job's results as json, csv or sdf, caller ids preserved",
            "parameters": [*_path_param("job_id"), {"name": "format", "in": "query",
                                                    "schema": {"type": "string", "enum": ["json", "csv", "sdf"]}}],
            "responses": {"200": {"description": "The results file"}, **_errors("400", "404", "409", "503")}}},
        "/v1/datasets": {"post": {
            "operationId": "create_dataset",
            "summary": "Upload a CSV or SDF with a column mapping: validated, standardized, immutable",
            "requestBody": {"required": True, "content": UPLOAD_FORM},
            "responses": {"200": DOCUMENT, "201": DOCUMENT, "202": _json("DatasetJob", "Ingesting"),
                          **_errors("400", "413", "503")}}},
        "/v1/datasets/{dataset_id}": {"get": {
            "operationId": "read_dataset",
            "summary": "A dataset's metadata and validation report",
            "parameters": _path_param("dataset_id"),
            "responses": {"200": DOCUMENT, **_errors("404")}}},
        "/v1/models": {
            "get": {"operationId": "list_models", "summary": "Models and their versions",
                    "responses": {"200": DOCUMENT}},
            "post": _job_started("create_model", "Train a new version of a model on a dataset",
                                 {"application/json": {"schema": "TrainingRequest"}}, "400", "404", "415", "503"),
        },
        "/v1/models/{ref}": {
            "get": {"operationId": "read_model", "summary": "The model card of name (newest) or name@version",
                    "parameters": _path_param("ref"), "responses": {"200": DOCUMENT, **_errors("400", "404")}},
            "delete": {"operationId": "retire_model",
                       "summary": "Retire name@version: it stays listed, predicting with it answers 410",
                       "parameters": _path_param("ref"), "responses": {"200": DOCUMENT, **_errors("400", "404")}},
        },
        "/v1/models/{ref}/causal": {"get": {
            "operationId": "read_causal_profile",
            "summary": "The version's causal profile",
            "parameters": _path_param("ref"),
            "responses": {"200": DOCUMENT, **_errors("400", "404")}}},
        "/v1/causal/effects": {"post": _job_started(
            "create_causal_effect", "Ask a causal-effect question of a dataset; the job's result is a CausalEffect",
            {"application/json": {"schema": "CausalEffectRequest"}}, "400", "404", "415", "503")},
        "/healthz": {"get": {"operationId": "healthz", "summary": "Liveness",
                             "responses": {"200": {"description": "ok"}}}},
        "/readyz": {"get": {"operationId": "readyz",
                            "summary": "Readiness: broker, a live worker on each queue, a model, the database",
                            "responses": {"200": {"description": "ready"},
                                          "503": _json("Error", "not_ready; details.checks: broker, queue:<name>, "
                                                       "models, database, each true or false")}}},
    }
    from services.gateway.openapi_jobs import add_job_control  # imports the paging schemas

    add_job_control(paths, _json, _errors)
    from services.gateway.openapi_pages import add_pages

    add_pages(paths, _json)
    add_audit(paths, _json, _errors)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    secure(document)  # security schemes, and the 401/403/429 of every /v1 route
    # The batch limit is a setting (CAUSALMOL_MAX_MOLECULES), checked by the schema's validator: state it here.
    molecules = document["components"]["schemas"]["PredictionRequest"]["properties"]["molecules"]
    molecules.update(minItems=1, maxItems=max_molecules,
                     description=f"1 to {max_molecules:,} molecules; larger batches are cut into chunks server-side")
    return document
