"""Featurizer Celery tasks: thin, JSON in and out; the work is in plain functions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.featurizer.datasets import ingest_dataset
from services.featurizer.depict import depict_svg
from services.featurizer.export import results_to_sdf
from services.featurizer.logic import featurize_chunk, featurize_dataset
from shared.celery_app import (
    EXPORT_SDF_TASK,
    FEATURIZE_DATASET_TASK,
    FEATURIZE_TASK,
    INGEST_DATASET_TASK,
    PipelineTask,
    celery_app,
)
from shared.config import get_settings
from shared.depiction import DEPICT_TASK, attachment_name
from shared.export import export_provenance
from shared.jobs import get_job_store
from shared.messages import FeaturizedChunk, featurized_chunk, read_chunk_request


# Scoring ends a job; the job is marked running by the check before the task starts (PipelineTask.before_start).
@celery_app.task(name=FEATURIZE_TASK, base=PipelineTask, ends_job_on_success=False, marks_running=True)
def featurize_batch(message: dict[str, Any]) -> FeaturizedChunk:
    request = read_chunk_request(message)
    return featurized_chunk(request, featurize_chunk(request)["molecules"])


@celery_app.task(name=INGEST_DATASET_TASK, base=PipelineTask)
def ingest(message: dict[str, Any]) -> dict[str, Any]:
    """Validate and standardize an upload into an immutable dataset; the job's result is its report."""
    store = get_job_store()
    store.mark_running(message["job_id"])
    content = Path(message["upload"]).read_bytes()
    meta = ingest_dataset(content, message["format"], message["mapping"], get_settings().datasets_dir,
                          message.get("filename", ""), message.get("project"))
    store.complete(message["job_id"], meta)
    return {"job_id": message["job_id"], "dataset_id": meta["dataset_id"]}


@celery_app.task(name=FEATURIZE_DATASET_TASK, base=PipelineTask)
def featurize_training_set(message: dict[str, Any]) -> dict[str, Any]:
    """Training step 1: features land next to the dataset; the next step gets their key, not the matrix."""
    get_job_store().mark_running(message["job_id"])
    key = featurize_dataset(message["dataset_id"], get_settings().datasets_dir, message["featurizer"])
    return {**message, "features_key": key}


@celery_app.task(name=EXPORT_SDF_TASK, base=PipelineTask)
def export_sdf(message: dict[str, Any]) -> None:
    store = get_job_store()
    job = store.get(message["job_id"])
    if job is not None and store.attachment(message["job_id"], "sdf") is None:
        store.put_attachment(message["job_id"], "sdf", results_to_sdf(job["results"], export_provenance(job)))


@celery_app.task(name=DEPICT_TASK)  # not a PipelineTask: a drawing that fails must never fail the job it shows
def depict(message: dict[str, Any]) -> int:
    """Draw the listed results of a job (``shared.depiction.depiction_item``) as SVG attachments; how many drawn."""
    store = get_job_store()
    drawn = 0
    for item in message["items"]:
        name = attachment_name(int(item["index"]))
        if store.attachment(message["job_id"], name) is None:
            store.put_attachment(message["job_id"], name, depict_svg(item.get("smiles"), item.get("highlights") or []))
            drawn += 1
    return drawn
