"""What the gateway does behind its handlers: create jobs, enqueue task chains by name, read jobs back.

Tasks are enqueued by name, so this module never imports the services' code (nor RDKit, sklearn or DoWhy).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import redis
from celery import chain
from kombu.exceptions import OperationalError

from services.gateway import metrics
from services.gateway.schemas import MAX_WAIT_SECONDS
from shared.celery_app import EXPORT_SDF_TASK, PREDICTION_CHAIN, celery_app
from shared.config import Settings
from shared.errors import BrokerUnavailable, CausalmolError, InvalidRequest, JobNotFound
from shared.export import results_to_csv
from shared.jobs import FINISHED, PREDICTION, SUCCEEDED, JobStore, new_job_record
from shared.logging import current_request_id
from shared.messages import CHUNK_REQUEST_VERSION
from shared.model_store import ModelStore

logger = logging.getLogger(__name__)


def chunked(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def start_job(
    store: JobStore,
    kind: str,
    messages: list[dict[str, Any]],
    task_names: tuple[str, ...],
    model: dict[str, Any] | None = None,
    total: int | None = None,
) -> dict[str, Any]:
    """Create a job and publish one chain of ``task_names`` per message; each message gains the job id.

    If the broker fails part-way, the job is deleted so that no partial job is ever served as a whole one.
    """
    job_id = uuid.uuid4().hex
    record = new_job_record(job_id, model, total or len(messages), len(messages), kind, current_request_id())
    store.create(record)
    try:
        for message in messages:
            publish(task_names, {**message, "job_id": job_id})
    except BrokerUnavailable:
        store.delete(job_id)
        raise
    metrics.count_submitted(kind)
    logger.info("job %s (%s) queued as %d chain(s) of %s", job_id, kind, len(messages), " -> ".join(task_names))
    return record  # as accepted: a fast worker may already have started it, which the status URL will show


def publish(task_names: tuple[str, ...], message: dict[str, Any]) -> None:
    """Send one chain of tasks, by name, with ``message`` as the first task's argument."""
    first, *rest = task_names
    try:
        signatures = [celery_app.signature(first, args=(message,)), *(celery_app.signature(n) for n in rest)]
        chain(*signatures).apply_async()
    except (OperationalError, OSError, redis.RedisError) as exc:
        raise BrokerUnavailable("the message broker is unreachable; nothing was queued", {"reason": str(exc)}) from exc


def submit_prediction(
    request: dict[str, Any], settings: Settings, store: JobStore, models: ModelStore
) -> dict[str, Any]:
    """One featurize -> score chain per chunk of molecules; the job record."""
    manifest = models.resolve(request["model"])
    model_ref = {"name": manifest["name"], "version": manifest["version"]}
    molecules = [{**m, "id": m.get("id", str(i))} for i, m in enumerate(request["molecules"])]
    message_model = {**model_ref, "featurizer": manifest["featurizer"]}
    messages = [
        {"schema_version": CHUNK_REQUEST_VERSION, "chunk": index, "model": message_model, "molecules": chunk}
        for index, chunk in enumerate(chunked(molecules, settings.chunk_size))
    ]
    return start_job(store, PREDICTION, messages, PREDICTION_CHAIN, model_ref, total=len(molecules))


def wait_for_job(store: JobStore, job_id: str, seconds: float) -> dict[str, Any] | None:
    """The finished job if it finishes within ``seconds`` (at most ``MAX_WAIT_SECONDS``), else None."""
    if not seconds > 0:  # also NaN, which no deadline would ever pass
        return None
    record = store.wait(job_id, min(seconds, MAX_WAIT_SECONDS))
    return get_job(store, job_id) if record and record["status"] in FINISHED else None


def get_job(store: JobStore, job_id: str) -> dict[str, Any]:
    """The job as clients see it: predictions carry ``results``, the other kinds their one ``result``."""
    job = store.get(job_id)
    if job is None:
        raise JobNotFound(f"no job {job_id} (unknown, or its results expired)", {"job_id": job_id})
    job["progress"] = {"done": job["done"], "total": job["total"]}
    metrics.count_results(store, job)  # every read of a job passes here; it counts each job once
    if job.get("kind", PREDICTION) != PREDICTION:
        job["result"] = job.pop("results")[0] if job["results"] else None
    return job


EXPORTS = {"json": "application/json", "csv": "text/csv", "sdf": "chemical/x-mdl-sdfile"}


class JobNotFinished(CausalmolError):
    status, code = 409, "job_not_finished"


class ExportNotReady(CausalmolError):
    status, code = 503, "export_not_ready"


def export_results(store: JobStore, job_id: str, file_format: str, timeout: float = 60.0) -> tuple[str, str]:
    """A succeeded prediction job's results as JSON, CSV or SDF (rendered by the featurizer: it needs RDKit)."""
    if file_format not in EXPORTS:
        raise InvalidRequest(f"format must be one of {sorted(EXPORTS)}", {"fields": {"format": sorted(EXPORTS)}})
    job = get_job(store, job_id)
    if job.get("kind", PREDICTION) != PREDICTION:
        raise InvalidRequest("only prediction jobs have per-molecule results", {"kind": job["kind"]})
    if job["status"] != SUCCEEDED:
        raise JobNotFinished(f"job {job_id} is {job['status']}; results are exported once it has succeeded",
                             {"status": job["status"]})
    if file_format == "json":
        return json.dumps(job["results"]), EXPORTS["json"]
    if file_format == "csv":
        return results_to_csv(job["results"]), EXPORTS["csv"]
    if store.attachment(job_id, "sdf") is None:
        publish((EXPORT_SDF_TASK,), {"job_id": job_id})
        deadline = time.monotonic() + timeout
        while store.attachment(job_id, "sdf") is None and time.monotonic() < deadline:
            time.sleep(0.05)
    sdf = store.attachment(job_id, "sdf")
    if sdf is None:
        raise ExportNotReady("the SDF is still being rendered; ask again shortly", {"job_id": job_id})
    return sdf, EXPORTS["sdf"]
