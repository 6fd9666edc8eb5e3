"""Featurizer Celery task: thin, JSON in and out."""

from __future__ import annotations

from typing import Any

from services.featurizer.logic import featurize_chunk
from shared.celery_app import FEATURIZE_TASK, PipelineTask, celery_app
from shared.jobs import get_job_store


@celery_app.task(name=FEATURIZE_TASK, base=PipelineTask)
def featurize_batch(message: dict[str, Any]) -> dict[str, Any]:
    get_job_store().mark_running(message["job_id"])
    return featurize_chunk(message)
