"""Causal Celery tasks, the offline work (profiles, effect questions; annotation is ``score.batch``): thin, JSON."""

from __future__ import annotations

from typing import Any

from services.causal.attach import attach_profile
from services.causal.effects import estimate_question
from shared.celery_app import EFFECT_TASK, PROFILE_TASK, PipelineTask, celery_app
from shared.config import get_settings
from shared.datasets import read_rows
from shared.jobs import get_job_store
from shared.model_store import ModelStore


@celery_app.task(name=PROFILE_TASK, base=PipelineTask)
def causal_profile(message: dict[str, Any]) -> dict[str, Any]:
    """Training step 3: the training job's result is the new version and its profile's status."""
    settings = get_settings()
    models = ModelStore(settings.models_dir)
    manifest = models.manifest(message["name"], message["version"])
    status = attach_profile(models, settings.datasets_dir, manifest)
    result = {"model": f"{manifest['name']}@{manifest['version']}", "name": manifest["name"],
              "version": manifest["version"], "causal_profile": {"status": status}}
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
