"""Scoring Celery task: thin, JSON in and out; the work is in ``services.scoring.logic``."""

from __future__ import annotations

from typing import Any

import services.webhooks.tasks  # noqa: F401  (scoring workers also deliver the callbacks)
from services.scoring.logic import score_chunk
from shared.celery_app import SCORE_TASK, PipelineTask, celery_app
from shared.messages import ChunkReceipt, read_featurized_chunk
from shared.watchdog import install_watchdog

install_watchdog(celery_app)  # scoring workers (and the embedded one) look for lost chunks


@celery_app.task(name=SCORE_TASK, base=PipelineTask)
def score_batch(message: dict[str, Any]) -> ChunkReceipt:
    return score_chunk(read_featurized_chunk(message))
