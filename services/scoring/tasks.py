"""Scoring Celery task: thin, JSON in and out; the work is in ``services.scoring.logic``."""

from __future__ import annotations

from typing import Any

from services.scoring.logic import score_chunk
from shared.celery_app import SCORE_TASK, PipelineTask, celery_app
from shared.messages import ChunkReceipt, read_featurized_chunk


@celery_app.task(name=SCORE_TASK, base=PipelineTask)
def score_batch(message: dict[str, Any]) -> ChunkReceipt:
    return score_chunk(read_featurized_chunk(message))
