"""Causal Celery task: thin, JSON in and out."""

from __future__ import annotations

from typing import Any

from services.causal.logic import annotate_chunk
from shared.celery_app import ANNOTATE_TASK, PipelineTask, celery_app


@celery_app.task(name=ANNOTATE_TASK, base=PipelineTask)
def causal_annotate(message: dict[str, Any]) -> dict[str, Any]:
    return annotate_chunk(message)
