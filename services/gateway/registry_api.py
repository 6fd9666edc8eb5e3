"""Handlers for datasets, models and causal-effect questions: schema in, service call, JSON out."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from services.gateway import paging, service
from services.gateway import registry_service as registry
from services.gateway.api import job_answer, json_body, upload_form
from services.gateway.auth import current_project, requires
from services.gateway.context import gateway_context
from services.gateway.idempotency import idempotent
from services.gateway.registry_schemas import CausalEffectRequestSchema, RetireQuerySchema, TrainingRequestSchema
from shared.datasets import dataset_id_for

bp = Blueprint("registry", __name__, url_prefix="/v1")
_training = TrainingRequestSchema()
_effect = CausalEffectRequestSchema()
_page = paging.PageQuerySchema()
_retire = RetireQuerySchema()


@bp.post("/datasets")
@requires("train")
def create_dataset() -> tuple[Response, int]:
    upload, form = upload_form("the dataset")
    ext = gateway_context()
    content = upload.read()
    job: dict[str, Any] | None
    with idempotent("datasets", {**form, "sha256": hashlib.sha256(content).hexdigest()}) as claim:
        if claim.replay is not None:  # the same upload: its id is the hash of the same bytes and mapping
            dataset_id, job = dataset_id_for(content, form["mapping"], current_project()), claim.replay
        else:
            dataset_id, meta, job = registry.submit_dataset(
                content, form["format"], form["mapping"], upload.filename or "", ext.settings, ext.job_store,
            )
            if meta is not None:
                claim.release()  # no job was made: the dataset exists, and says so to every retry
                return jsonify(meta), 200
    assert job is not None
    finished = service.wait_for_job(ext.job_store, job["job_id"], form["wait"])
    if finished is not None and finished["status"] == "succeeded":
        return jsonify(registry.dataset_meta(ext.settings, dataset_id)), 201
    body = {"job_id": job["job_id"], "status": (finished or job)["status"], "dataset_id": dataset_id,
            "status_url": url_for("v1.read_job", job_id=job["job_id"], _external=True),
            "dataset_url": url_for("registry.read_dataset", dataset_id=dataset_id, _external=True)}
    if finished is not None:  # ingestion failed: say why right away
        body["error"] = finished["error"]
    return jsonify(body), 202


@bp.get("/datasets/<dataset_id>")
def read_dataset(dataset_id: str) -> tuple[Response, int]:
    return jsonify(registry.dataset_meta(gateway_context().settings, dataset_id)), 200


@bp.post("/models")
@requires("train")
def create_model() -> tuple[Response, int]:
    data = _training.load(json_body())
    ext = gateway_context()
    with idempotent("models", data) as claim:
        record = claim.replay or registry.submit_training(data, ext.settings, ext.job_store)
    return job_answer(record, data["wait"])


@bp.get("/models")
def list_models() -> tuple[Response, int]:
    query = _page.load(request.args)
    models, cursor = paging.page_sorted(registry.list_models(gateway_context().model_store), "name",
                                        query["cursor"], query["limit"])
    return jsonify({"models": models, "next_cursor": cursor}), 200


@bp.get("/models/<ref>")
def read_model(ref: str) -> tuple[Response, int]:
    return jsonify(registry.model_card(gateway_context().model_store, ref)), 200


@bp.delete("/models/<ref>")
@requires("train")
def retire_model(ref: str) -> tuple[Response, int]:
    reason = _retire.load(request.args)["reason"]
    return jsonify(registry.retire_model(gateway_context().model_store, ref, reason)), 200


@bp.get("/models/<ref>/causal")
def read_causal_profile(ref: str) -> tuple[Response, int]:
    return jsonify(registry.causal_profile(gateway_context().model_store, ref)), 200


@bp.post("/causal/effects")
@requires("train")
def create_causal_effect() -> tuple[Response, int]:
    data = _effect.load(json_body())
    ext = gateway_context()
    with idempotent("causal_effects", data) as claim:
        record = claim.replay or registry.submit_causal_effect(data, ext.settings, ext.job_store)
    return job_answer(record, data["wait"])
