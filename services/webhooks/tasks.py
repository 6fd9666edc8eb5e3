"""The webhook Celery task: thin, JSON in; retried with exponential backoff (Celery autoretry) on a failure."""

from __future__ import annotations

from typing import Any

from celery import Task

from services.webhooks.logic import DeliveryFailed, deliver
from shared.celery_app import celery_app
from shared.config import get_settings
from shared.jobs import get_job_store
from shared.webhooks import WEBHOOK_TASK


@celery_app.task(name=WEBHOOK_TASK, bind=True, autoretry_for=(DeliveryFailed,), retry_backoff=True,
                 retry_backoff_max=600, retry_jitter=False, max_retries=get_settings().webhook_max_retries)
def deliver_callback(self: Task, message: dict[str, Any]) -> int | None:
    """Attempt ``retries + 1``: waits 1, 2, 4, ... seconds (at most 10 minutes) between attempts."""
    return deliver(get_job_store(), get_settings(), message["job_id"], message["event"], self.request.retries + 1)
