"""API v1 handlers for predictions and jobs: parse with a schema, call the service, shape the answer."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from services.gateway import service
from services.gateway.context import gateway_context
from services.gateway.schemas import JobAcceptedSchema, JobSchema, PredictionRequestSchema
from services.gateway.uploads import mapping_field, molecules_from_upload, upload_format
from shared.errors import InvalidJson, InvalidRequest, UnsupportedMediaType

bp = Blueprint("v1", __name__, url_prefix="/v1")
_prediction_request = PredictionRequestSchema()
_job = JobSchema()
_accepted = JobAcceptedSchema()


def json_body() -> dict:
    if not request.is_json:
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidJson("the body is not a JSON object")
    return body


def prediction_body() -> dict[str, Any]:
    """The JSON body, or the same request built from a multipart CSV/SDF upload and its form fields."""
    if request.mimetype != "multipart/form-data":
        return json_body()
    upload = request.files.get("file")
    if upload is None:
        raise InvalidRequest("send the molecules as a multipart 'file' field", {"fields": {"file": ["required"]}})
    mapping = mapping_field(request.form.get("mapping"))
    molecules = molecules_from_upload(upload.read(), upload_format(upload, request.form.get("format")), mapping)
    return {"model": request.form.get("model"), "wait": request.form.get("wait", 0), "molecules": molecules}


def job_answer(record: dict[str, Any], wait: float) -> tuple[Response, int]:
    """200 with the whole job if it finished within ``wait`` seconds, else 202 with where to look."""
    store = gateway_context().job_store
    finished = service.wait_for_job(store, record["job_id"], wait)
    if finished is not None:
        return jsonify(_job.dump(finished)), 200
    status_url = url_for("v1.read_job", job_id=record["job_id"], _external=True)
    return jsonify(_accepted.dump({"job_id": record["job_id"], "status": record["status"],
                                   "status_url": status_url})), 202


@bp.post("/predictions")
def create_prediction() -> tuple[Response, int]:
    data = _prediction_request.load(prediction_body())
    ext = gateway_context()
    return job_answer(service.submit_prediction(data, ext.settings, ext.job_store, ext.model_store), data["wait"])


@bp.get("/jobs/<job_id>")
def read_job(job_id: str) -> tuple[Response, int]:
    job = service.get_job(gateway_context().job_store, job_id)
    return jsonify(_job.dump(job)), 200


@bp.get("/jobs/<job_id>/results")
def read_results(job_id: str) -> Response:
    file_format = request.args.get("format", "json")
    body, mimetype = service.export_results(gateway_context().job_store, job_id, file_format)
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{job_id}.{file_format}"'
    return response
