"""What the gateway does behind its handlers: create jobs, enqueue task chains by name, read jobs back.

Tasks are enqueued by name, so this module never imports the services' code (nor RDKit, sklearn or DoWhy).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from flask import url_for

from services.audit.records import smiles_sha256
from services.gateway import auth, metrics, paging, scoping
from services.gateway.audit_api import note
from services.gateway.idempotency import job_options
from services.gateway.schemas import MAX_WAIT_SECONDS
from shared import watchdog
from shared.celery_app import EXPORT_SDF_TASK, PREDICTION_CHAIN
from shared.config import Settings
from shared.errors import BrokerUnavailable, CausalmolError, InvalidRequest, JobNotFound
from shared.export import export_provenance, results_to_csv
from shared.jobs import ACTIVE, FINISHED, PREDICTION, SUCCEEDED, JobStore, new_job_record
from shared.logging import current_request_id
from shared.messages import CHUNK_REQUEST_VERSION
from shared.model_store import ModelStore
from shared.publish import BULK_PRIORITY, publish
from shared.schemas import COMPACT

logger = logging.getLogger(__name__)

# A prediction of more molecules than this answers GET /v1/jobs/<id> without its results, with ``results_url`` (a
# first page of RESULTS_PAGE_SIZE) instead: its document stays small and the gateway never holds every result.
INLINE_RESULTS_MAX = 1_000
RESULTS_PAGE_SIZE = 1_000


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
    options = job_options()  # client_reference, callback_url, and the job id an Idempotency-Key holds
    job_id = options.pop("job_id", None) or uuid.uuid4().hex
    principal = auth.current_principal()  # the job belongs to the caller's project
    owner = {"project": principal.project, "key_id": principal.key_id} if principal else {}
    record = new_job_record(job_id, model, total or len(messages), len(messages), kind, current_request_id(),
                            {**owner, **options})
    # A big prediction's chunks yield to one-molecule requests at every hop (fair queueing).
    priority = BULK_PRIORITY if kind == PREDICTION and len(messages) > 1 else None
    chunks: list[dict[str, Any]] = [{"tasks": list(task_names), "message": {**m, "job_id": job_id},
                                     "priority": priority} for m in messages]
    # A prediction's chunk messages are kept for the watchdog, which publishes a lost chunk again.
    store.open_job(record, chunks if kind == PREDICTION else None)
    note(job_id=job_id, details={"kind": kind})
    try:
        for chunk in chunks:
            publish(task_names, chunk["message"], priority)
    except BrokerUnavailable:
        store.delete(job_id)
        raise
    metrics.count_submitted(kind)
    logger.info("job %s (%s) queued as %d chain(s) of %s", job_id, kind, len(messages), " -> ".join(task_names))
    return record  # as accepted: a fast worker may already have started it, which the status URL will show


def submit_prediction(
    request: dict[str, Any], settings: Settings, store: JobStore, models: ModelStore
) -> dict[str, Any]:
    """One featurize -> score chain per chunk of molecules; the job record."""
    manifest = scoping.resolve(models, request["model"])
    model_ref = {"name": manifest["name"], "version": manifest["version"]}
    molecules = [{**m, "id": m.get("id", str(i))} for i, m in enumerate(request["molecules"])]
    note(model=f"{manifest['name']}@{manifest['version']}", n_molecules=len(molecules),
         input_sha256=smiles_sha256([m.get("smiles") or m.get("molblock", "") for m in molecules]))
    message_model = {**model_ref, "featurizer": manifest["featurizer"]}
    messages = [
        {"schema_version": CHUNK_REQUEST_VERSION, "chunk": index, "model": message_model, "molecules": chunk,
         **({"response": COMPACT} if request.get("response") == COMPACT else {})}
        for index, chunk in enumerate(chunked(molecules, settings.chunk_size))
    ]
    return start_job(store, PREDICTION, messages, PREDICTION_CHAIN, model_ref, total=len(molecules))


def wait_for_job(store: JobStore, job_id: str, seconds: float, just_created: bool = False) -> dict[str, Any] | None:
    """The finished job (as ``job_document``) if it finishes within ``seconds`` (at most ``MAX_WAIT_SECONDS``),
    else None. ``just_created``: this request made the job (``JobStore.wait``)."""
    if not seconds > 0:  # also NaN, which no deadline would ever pass
        return None
    record = store.wait(job_id, min(seconds, MAX_WAIT_SECONDS), just_created)
    return job_document(store, job_id, record) if record and record["status"] in FINISHED else None


def is_paged(record: dict[str, Any]) -> bool:
    """A prediction of more than ``INLINE_RESULTS_MAX`` molecules: its job document links to its results."""
    return record.get("kind", PREDICTION) == PREDICTION and record["total"] > INLINE_RESULTS_MAX


def job_document(store: JobStore, job_id: str, record: dict[str, Any] | None = None) -> dict[str, Any]:
    """The job as ``GET /v1/jobs/<id>`` (and a finished ``wait``) answers it: ``get_job``, except that a big
    prediction (``is_paged``) carries ``results_url``, its first page of results, instead of every result."""
    return get_job(store, job_id, record, inline=False)


def get_job(store: JobStore, job_id: str, record: dict[str, Any] | None = None,
            inline: bool = True) -> dict[str, Any]:
    """The job as clients see it: predictions carry ``results``, the other kinds their one ``result``.

    ``record``: the job's state as just read (a finished job's is final), so that it is not read a second time.
    ``inline=False``: a big prediction's results are not read at all (see ``job_document``).
    """
    job = store.record(job_id) if record is None else record
    if job is None:
        raise JobNotFound(f"no job {job_id} (unknown, or its results expired)", {"job_id": job_id})
    scoping.check_job(job, job_id)
    if job["status"] in ACTIVE and watchdog.check_job(store, job) == "failed":  # a reader also finds lost chunks
        job = store.record(job_id) or job
    paged = not inline and is_paged(job)
    if paged:
        job["results_url"] = url_for("v1.read_results", job_id=job_id, limit=RESULTS_PAGE_SIZE, _external=True)
    else:
        job = store.with_results(job)
    if job.get("callback_url"):
        job["callbacks"] = store.callbacks(job_id)
    job["progress"] = {"done": job["done"], "total": job["total"]}
    # Every read of a job passes here; it counts each job once (a big one read chunk by chunk, that once).
    lazily = {**job, "results": (result for _, result in paging.iter_results(store, job, None))}
    metrics.count_results(store, lazily if paged else job)
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
    provenance = export_provenance(job)  # every row says which job and model version made it
    if file_format == "json":
        return json.dumps([{**r, **provenance} for r in job["results"]]), EXPORTS["json"]
    if file_format == "csv":
        return results_to_csv(job["results"], provenance), EXPORTS["csv"]
    sdf = rendered_attachments(store, job_id, ["sdf"], EXPORT_SDF_TASK, lambda _: {"job_id": job_id}, timeout)["sdf"]
    if sdf is None:
        raise ExportNotReady("the SDF is still being rendered; ask again shortly", {"job_id": job_id})
    return sdf, EXPORTS["sdf"]


def rendered_attachments(
    store: JobStore, job_id: str, names: list[str], task_name: str,
    message: Callable[[list[str]], dict[str, Any]], timeout: float,
) -> dict[str, str | None]:
    """The job's attachments ``names``. Those missing are rendered by one ``task_name`` task (on a worker: the
    gateway holds no RDKit) with ``message(missing names)``, awaited up to ``timeout`` s; still missing: None."""
    found = {name: store.attachment(job_id, name) for name in names}
    missing = [name for name, text in found.items() if text is None]
    if missing:
        publish((task_name,), {**message(missing), "job_id": job_id})
        deadline = time.monotonic() + timeout
        while missing and time.monotonic() < deadline:
            time.sleep(0.05)
            found.update({name: store.attachment(job_id, name) for name in missing})
            missing = [name for name in missing if found[name] is None]
    return found
