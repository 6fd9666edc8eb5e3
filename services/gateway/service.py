"""What the gateway does behind its handlers: resolve the model, cut the batch into chunks, enqueue, read back.

Tasks are enqueued by name, so this module never imports the services' code (nor RDKit, sklearn or DoWhy).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from celery import chain
from kombu.exceptions import OperationalError

from shared.celery_app import ANNOTATE_TASK, FEATURIZE_TASK, PREDICT_TASK, celery_app
from shared.config import Settings
from shared.errors import BrokerUnavailable, JobNotFound
from shared.jobs import FINISHED, JobStore, new_job_record
from shared.model_store import ModelStore

logger = logging.getLogger(__name__)


def chunked(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def submit_prediction(
    request: dict[str, Any], settings: Settings, store: JobStore, models: ModelStore
) -> dict[str, Any]:
    """Create a job and enqueue one featurize -> predict -> annotate chain per chunk; the job record."""
    manifest = models.resolve(request["model"])
    model_ref = {"name": manifest["name"], "version": manifest["version"]}
    molecules = [
        {"id": m.get("id", str(i)), "smiles": m["smiles"]} for i, m in enumerate(request["molecules"])
    ]
    chunks = chunked(molecules, settings.chunk_size)
    job_id = uuid.uuid4().hex
    store.create(new_job_record(job_id, model_ref, len(molecules), len(chunks)))
    message_model = {**model_ref, "featurizer": manifest["featurizer"]}
    try:
        for index, chunk in enumerate(chunks):
            message = {"job_id": job_id, "chunk": index, "model": message_model, "molecules": chunk}
            chain(
                celery_app.signature(FEATURIZE_TASK, args=(message,)),
                celery_app.signature(PREDICT_TASK),
                celery_app.signature(ANNOTATE_TASK),
            ).apply_async()
    except (OperationalError, OSError) as exc:
        # Not every chunk reached the broker: drop the job so no partial result is ever served as whole.
        store.delete(job_id)
        raise BrokerUnavailable("the message broker is unreachable; nothing was queued", {"reason": str(exc)}) from exc
    logger.info("job %s queued: model %s@%s, %d molecules in %d chunks",
                job_id, model_ref["name"], model_ref["version"], len(molecules), len(chunks))
    return store.record(job_id) or {}


def wait_for_job(store: JobStore, job_id: str, seconds: float) -> dict[str, Any] | None:
    """The finished job if it finishes within ``seconds``, else None."""
    if seconds <= 0:
        return None
    record = store.wait(job_id, seconds)
    return get_job(store, job_id) if record and record["status"] in FINISHED else None


def get_job(store: JobStore, job_id: str) -> dict[str, Any]:
    job = store.get(job_id)
    if job is None:
        raise JobNotFound(f"no job {job_id} (unknown, or its results expired)", {"job_id": job_id})
    job["progress"] = {"done": job["done"], "total": job["total"]}
    return job
