"""The record of a job's end, written by the worker whose task finished it (any kind of job, succeeded or failed).

A prediction's record carries its verdict counts; a training's the version it made; a failure its error code.
Several chunks may finish together, and tasks of a finished job (a redelivered chunk, an export) end it again: the
record's ``dedup_key`` makes the database keep only one, skipping the insert of a second itself. A job of one
chunk (every one-molecule request) goes straight to that insert; a bigger one is first looked up. The verdict
counts come from the tallies each chunk was stored with (``JobStore.save_chunk``), so a job's end never reads its
results back (a 100,000-molecule job's would be ~400 MB of JSON); only a job with a chunk stored without one, by
an older worker, is counted from its results.
"""

from __future__ import annotations

import logging
from typing import Any

from services.audit import records
from shared.jobs import FINISHED, PREDICTION, SUCCEEDED, JobStore, full_tally
from shared.verdicts import verdict_counts

logger = logging.getLogger(__name__)


def model_label(model: dict[str, Any] | None) -> str | None:
    if not model or not model.get("name"):
        return None
    return f"{model['name']}@{model['version']}" if model.get("version") is not None else model["name"]


def audit_job_end(store: JobStore, job_id: str, record: dict[str, Any] | None = None) -> bool:
    """Write the job's end record if the job has finished and none was written; True when written now.
    ``record``: the job's state as the caller just read it (else it is read here)."""
    job = store.record(job_id) if record is None else record
    if job is None or job["status"] not in FINISHED:
        return False
    dedup_key = f"{job_id}:end"
    if job["n_chunks"] > 1 and records.exists(dedup_key):
        return False
    kind = job.get("kind", PREDICTION)
    details: dict[str, Any] = {"kind": kind, "status": job["status"]}
    model = model_label(job.get("model"))
    if job["status"] != SUCCEEDED:
        details["error_code"] = (job.get("error") or {}).get("code")
    elif kind == PREDICTION:
        # Counted as each chunk was stored; read back only for a job stored without counts (an older worker's).
        tally = full_tally(job)
        details["verdicts"] = tally if tally is not None else verdict_counts(store.results(job_id, job["n_chunks"]))
    else:
        result = (store.results(job_id, 1) or [{}])[0]
        model = result.get("model") if kind == "training" else model
        if kind == "dataset":
            details["dataset_id"] = result.get("dataset_id")
    return records.record(f"{kind}.{job['status']}", details, dedup_key=dedup_key, job_id=job_id,
                          project=job.get("project"), key_id=job.get("key_id"), model=model,
                          n_molecules=job.get("total") if kind == PREDICTION else None)
