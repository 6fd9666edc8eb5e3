"""Causal Celery tasks: thin, JSON in and out; the work is in plain functions."""

from __future__ import annotations

import logging
from typing import Any

from services.causal.effects import estimate_question
from services.causal.logic import annotate_chunk
from services.causal.profile import PROFILE_FILE, build_profile
from shared.celery_app import ANNOTATE_TASK, EFFECT_TASK, PROFILE_TASK, PipelineTask, celery_app
from shared.config import get_settings
from shared.datasets import MECHANISM_COLUMN, read_meta, read_rows
from shared.jobs import get_job_store
from shared.model_store import ModelStore

logger = logging.getLogger(__name__)


@celery_app.task(name=ANNOTATE_TASK, base=PipelineTask)
def causal_annotate(message: dict[str, Any]) -> dict[str, Any]:
    return annotate_chunk(message)


def profile_version(message: dict[str, Any]) -> dict[str, Any]:
    """Build and attach a version's causal profile. A failure is recorded in the profile, not raised: the version
    is already written and serves, with verdict ``unknown`` until a profile exists."""
    settings = get_settings()
    models = ModelStore(settings.models_dir)
    name, version = message["name"], message["version"]
    existing = models.read_sidecar(name, version, PROFILE_FILE)
    if existing is None or existing.get("status") == "failed":
        meta = read_meta(settings.datasets_dir, message["dataset_id"])
        try:
            profile = build_profile(
                read_rows(settings.datasets_dir, message["dataset_id"]), meta.get("context_columns") or [],
                MECHANISM_COLUMN if meta.get("mechanism_column") else None,
                {"featurizer": message["featurizer"], "estimator": message["estimator"], "seed": message["seed"]},
                message["seed"],
            )
        except Exception as exc:  # the profile is an annotation of the model, never a reason to lose the model
            logger.exception("causal profile of %s@%s failed", name, version)
            profile = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
        models.write_sidecar(name, version, PROFILE_FILE, profile)
        existing = profile
    return {"model": f"{name}@{version}", "name": name, "version": version,
            "causal_profile": {"status": existing.get("status", "ready")}}


@celery_app.task(name=PROFILE_TASK, base=PipelineTask)
def causal_profile(message: dict[str, Any]) -> dict[str, Any]:
    """Training step 3: the training job's result is the new version and its profile's status."""
    result = profile_version(message)
    get_job_store().complete(message["job_id"], result)
    return result


@celery_app.task(name=EFFECT_TASK, base=PipelineTask)
def causal_effect(message: dict[str, Any]) -> dict[str, Any]:
    store = get_job_store()
    store.mark_running(message["job_id"])
    rows = read_rows(get_settings().datasets_dir, message["dataset_id"])
    result = estimate_question(rows, message["question"])
    store.complete(message["job_id"], result)
    return {"job_id": message["job_id"], "verdict": result["verdict"]}
