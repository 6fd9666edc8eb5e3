"""API v1 handlers: parse with a schema, call the service, shape the answer. Nothing else lives here."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from services.gateway import service
from services.gateway.schemas import JobAcceptedSchema, JobSchema, PredictionRequestSchema
from shared.errors import InvalidJson, UnsupportedMediaType

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


@bp.post("/predictions")
def create_prediction() -> tuple[Response, int]:
    data = _prediction_request.load(json_body())
    ext = current_app.extensions["causalmol"]
    record = service.submit_prediction(data, ext.settings, ext.job_store, ext.model_store)
    finished = service.wait_for_job(ext.job_store, record["job_id"], data["wait"])
    if finished is not None:
        return jsonify(_job.dump(finished)), 200
    status_url = url_for("v1.read_job", job_id=record["job_id"], _external=True)
    body = _accepted.dump({"job_id": record["job_id"], "status": record["status"], "status_url": status_url})
    return jsonify(body), 202


@bp.get("/jobs/<job_id>")
def read_job(job_id: str) -> tuple[Response, int]:
    job = service.get_job(current_app.extensions["causalmol"].job_store, job_id)
    return jsonify(_job.dump(job)), 200
