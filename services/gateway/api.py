"""API v1 handlers for predictions and jobs: parse with a schema, call the service, shape the answer."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, stream_with_context, url_for
from werkzeug.datastructures import FileStorage

from services.gateway import paging, service
from services.gateway.auth import requires
from services.gateway.context import gateway_context
from services.gateway.idempotency import idempotent
from services.gateway.schemas import (
    MAX_JSON_DEPTH,
    JobAcceptedSchema,
    JobSchema,
    PredictionRequestSchema,
    UploadFormSchema,
    nesting_depth,
)
from services.gateway.uploads import molecules_from_upload, upload_format
from shared.errors import InvalidJson, InvalidRequest, UnsupportedMediaType

bp = Blueprint("v1", __name__, url_prefix="/v1")
_prediction_request = PredictionRequestSchema()
_job = JobSchema()
_accepted = JobAcceptedSchema()
_upload_form = UploadFormSchema()
_results_query = paging.ResultsQuerySchema()


def json_body() -> dict:
    if not request.is_json:
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    too_deep = InvalidJson(f"the body nests deeper than {MAX_JSON_DEPTH} levels", {"max_depth": MAX_JSON_DEPTH})
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # the decoder's own limit: far fewer brackets than the body size allows
        raise too_deep from None
    if not isinstance(body, dict):
        raise InvalidJson("the body is not a JSON object")
    if nesting_depth(body) > MAX_JSON_DEPTH:
        raise too_deep
    return body


def upload_form(what: str) -> tuple[FileStorage, dict[str, Any]]:
    """The multipart ``file`` and the form fields beside it, loaded through ``UploadFormSchema``."""
    upload = request.files.get("file")
    if upload is None:
        raise InvalidRequest(f"send {what} as a multipart 'file' field", {"fields": {"file": ["required"]}})
    form = _upload_form.load(request.form)
    return upload, {**form, "format": upload_format(upload, form["format"])}


def prediction_body() -> dict[str, Any]:
    """The JSON body, or the same request built from a multipart CSV/SDF upload and its form fields."""
    if request.mimetype != "multipart/form-data":
        return json_body()
    upload, form = upload_form("the molecules")
    molecules = molecules_from_upload(upload.read(), form["format"], form["mapping"])
    options: dict[str, Any] = {k: form[k] for k in ("client_reference", "callback_url") if k in form}
    return {"model": form["model"], "wait": form["wait"], "molecules": molecules, **options}


def job_answer(record: dict[str, Any], wait: float, just_created: bool = False) -> tuple[Response, int]:
    """200 with the whole job if it finished within ``wait`` seconds, else 202 with where to look."""
    store = gateway_context().job_store
    finished = service.wait_for_job(store, record["job_id"], wait, just_created)
    if finished is not None:
        return jsonify(_job.dump(finished)), 200
    status_url = url_for("v1.read_job", job_id=record["job_id"], _external=True)
    return jsonify(_accepted.dump({"job_id": record["job_id"], "status": record["status"],
                                   "status_url": status_url})), 202


@bp.post("/predictions")
@requires("predict")
def create_prediction() -> tuple[Response, int]:
    data = _prediction_request.load(prediction_body())
    ext = gateway_context()
    with idempotent("predictions", data) as claim:
        record = claim.replay or service.submit_prediction(data, ext.settings, ext.job_store, ext.model_store)
    return job_answer(record, data["wait"], just_created=claim.replay is None)


@bp.get("/jobs/<job_id>")
def read_job(job_id: str) -> tuple[Response, int]:
    job = service.job_document(gateway_context().job_store, job_id)
    return jsonify(_job.dump(job)), 200


@bp.get("/jobs/<job_id>/results")
def read_results(job_id: str) -> Response:
    query = _results_query.load(request.args)
    file_format, store = query["format"], gateway_context().job_store
    if file_format == "ndjson":  # streamed: one chunk of results in memory at a time
        lines = paging.results_ndjson(store, job_id, query.get("cursor"))
        response = Response(stream_with_context(lines), mimetype="application/x-ndjson")
    elif file_format == "json" and ("limit" in query or "cursor" in query):
        return jsonify(paging.results_page(store, job_id, query.get("cursor"), query.get("limit", 1000)))
    else:
        body, mimetype = service.export_results(store, job_id, file_format)
        response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{job_id}.{file_format}"'
    return response
