"""Predictor Celery task: thin, JSON in and out."""

from __future__ import annotations

from typing import Any

from services.predictor.logic import predict_chunk
from shared.celery_app import PREDICT_TASK, PipelineTask, celery_app


@celery_app.task(name=PREDICT_TASK, base=PipelineTask)
def predict_batch(message: dict[str, Any]) -> dict[str, Any]:
    return predict_chunk(message)
