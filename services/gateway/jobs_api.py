"""Handlers for listing and cancelling jobs and listing datasets: a query schema in, a service call, JSON out."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from services.gateway import paging, scoping, service
from services.gateway.context import gateway_context
from services.gateway.schemas import JobSchema

bp = Blueprint("jobs", __name__, url_prefix="/v1")
_job_list = paging.JobListQuerySchema()
_page = paging.PageQuerySchema()
_job = JobSchema()


@bp.get("/jobs")
def list_jobs() -> tuple[Response, int]:
    return jsonify(paging.list_jobs(gateway_context().job_store, _job_list.load(request.args))), 200


@bp.delete("/jobs/<job_id>")
def cancel_job(job_id: str) -> tuple[Response, int]:
    store = gateway_context().job_store
    paging.cancel_job(store, job_id)
    return jsonify(_job.dump(service.get_job(store, job_id))), 200


@bp.get("/datasets")
def list_datasets() -> tuple[Response, int]:
    query = _page.load(request.args)
    summaries = paging.dataset_summaries(gateway_context().settings, scoping.readable)
    page, cursor = paging.page_sorted(summaries, "dataset_id", query["cursor"], query["limit"])
    return jsonify({"datasets": page, "next_cursor": cursor}), 200
