"""Listing and paging: jobs (filtered, newest first), a job's results (pages or NDJSON), models and datasets.

Every cursor is opaque to the caller: pass back the ``next_cursor`` of the last page; null means the end.

Paged results say which job and model version made them, as every export does (``shared.export``): a JSON page
carries ``job_id``, ``model`` and ``model_version`` beside ``results``; each NDJSON line is one result with the same
three fields added (as the rows of the JSON export are), so every line stands alone: a stream resumed at a cursor,
split or loaded line by line into a table loses nothing, and no line is of another shape.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

from marshmallow import Schema, fields, validate

from services.gateway import scoping
from services.gateway.auth import current_project
from services.gateway.schemas import JobSchema
from shared.config import Settings
from shared.datasets import META_FILE
from shared.errors import InvalidRequest, JobAlreadyFinished, JobNotFound
from shared.export import export_provenance
from shared.job_control import InvalidCursor, decode_cursor, encode_cursor
from shared.job_status import STATUSES, SUCCEEDED
from shared.jobs import PREDICTION, JobStore

logger = logging.getLogger(__name__)

RESULT_CURSOR = re.compile(r"(\d{1,9})\.(\d{1,9})")  # chunk.offset inside the chunk
_summary = JobSchema(exclude=("results", "result", "callbacks"))


def bad_cursor(cursor: str) -> InvalidRequest:
    return InvalidRequest("cursor is not one this server handed out", {"fields": {"cursor": ["unknown cursor"]}})


class PageQuerySchema(Schema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))
    cursor = fields.String(load_default=None, validate=validate.Length(min=1, max=1000))


class JobListQuerySchema(PageQuerySchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    status = fields.String(validate=validate.OneOf(STATUSES))
    kind = fields.String(validate=validate.OneOf(("prediction", "dataset", "training", "causal_effect")))
    model = fields.String(validate=validate.Length(min=1, max=100),
                          metadata={"description": "name (any version) or name@version"})
    client_reference = fields.String(validate=validate.Length(min=1, max=200))


class ResultsQuerySchema(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv", "sdf", "ndjson")))
    limit = fields.Integer(validate=validate.Range(min=1, max=10_000),
                           metadata={"description": "with format=json: one page of this many results"})
    cursor = fields.String(validate=validate.Regexp(RESULT_CURSOR.pattern + "$", error="unknown cursor"),
                           metadata={"description": "with format=json or ndjson: where the last page stopped"})


def _model_matches(record: dict[str, Any], wanted: str) -> bool:
    model = record.get("model") or {}
    return wanted in (model.get("name"), f"{model.get('name')}@{model.get('version')}")


def list_jobs(store: JobStore, query: dict[str, Any]) -> dict[str, Any]:
    """The caller's jobs, newest first, filtered by status, kind, model and client_reference."""
    def keep(record: dict[str, Any]) -> bool:
        return (scoping.readable(record.get("project"))
                and all(record.get(k) == query[k] for k in ("status", "kind", "client_reference") if k in query)
                and ("model" not in query or _model_matches(record, query["model"])))

    try:
        page, cursor = store.list_jobs(current_project(), keep, query["cursor"], query["limit"])
    except InvalidCursor:
        raise bad_cursor(query["cursor"]) from None
    for record in page:
        record["progress"] = {"done": record["done"], "total": record["total"]}
    return {"jobs": [_summary.dump(r) for r in page], "next_cursor": cursor}


def finished_prediction(store: JobStore, job_id: str) -> dict[str, Any]:
    """The record of a succeeded prediction job the caller may read (results are read chunk by chunk after)."""
    from services.gateway.service import JobNotFinished  # one definition of the 409

    record = store.record(job_id)
    if record is None:
        raise JobNotFound(f"no job {job_id} (unknown, or its results expired)", {"job_id": job_id})
    scoping.check_job(record, job_id)
    if record.get("kind", PREDICTION) != PREDICTION:
        raise InvalidRequest("only prediction jobs have per-molecule results", {"kind": record["kind"]})
    if record["status"] != SUCCEEDED:
        raise JobNotFinished(f"job {job_id} is {record['status']}; results are exported once it has succeeded",
                             {"status": record["status"]})
    return record


def _start(cursor: str | None) -> tuple[int, int]:
    match = RESULT_CURSOR.fullmatch(cursor or "0.0")
    if match is None:
        raise bad_cursor(cursor or "")
    return int(match[1]), int(match[2])


def iter_results(store: JobStore, record: dict[str, Any], cursor: str | None) -> Iterator[tuple[str, dict]]:
    """(cursor of the next result, result) from ``cursor`` on, one chunk read from the store at a time."""
    chunk, offset = _start(cursor)
    for index in range(chunk, record["n_chunks"]):
        results = store.chunk_results(record["job_id"], index) or []
        for position in range(offset if index == chunk else 0, len(results)):
            following = f"{index}.{position + 1}" if position + 1 < len(results) else f"{index + 1}.0"
            yield following, results[position]


def results_page(store: JobStore, job_id: str, cursor: str | None, limit: int) -> dict[str, Any]:
    record = finished_prediction(store, job_id)
    page: list[dict[str, Any]] = []
    next_cursor = None
    for position, result in iter_results(store, record, cursor):
        page.append(result)
        if len(page) == limit:
            next_cursor = None if position == f"{record['n_chunks']}.0" else position
            break
    return {**export_provenance(record), "results": page, "next_cursor": next_cursor}


def results_ndjson(store: JobStore, job_id: str, cursor: str | None) -> Iterator[str]:
    """One JSON result per line, with its provenance; the checks run before the first byte, the chunks are read as
    the body streams."""
    record = finished_prediction(store, job_id)
    provenance = export_provenance(record)

    def lines() -> Iterator[str]:
        for _, result in iter_results(store, record, cursor):
            yield json.dumps({**result, **provenance}) + "\n"

    return lines()


def page_sorted(items: list[dict[str, Any]], key: str, cursor: str | None, limit: int) -> tuple[list, str | None]:
    """A page of ``items`` sorted by ``key``, after the item the cursor names."""
    try:
        after = decode_cursor(cursor).partition("|")[2] if cursor else None
    except InvalidCursor:
        raise bad_cursor(cursor or "") from None
    rest = [item for item in items if after is None or item[key] > after]
    page = rest[:limit]
    return page, encode_cursor(f"after|{page[-1][key]}") if len(rest) > limit else None


def dataset_summaries(settings: Settings, readable: Callable[[str | None], bool]) -> list[dict[str, Any]]:
    """Every dataset the caller may read, by id: its metadata without the per-row validation report."""
    root = settings.datasets_dir
    summaries = []
    for meta_file in sorted(root.glob(f"ds_*/{META_FILE}")) if root.is_dir() else []:
        try:
            meta = json.loads(meta_file.read_text())
        except (OSError, ValueError):  # half-written or foreign: not a dataset
            logger.warning("unreadable dataset metadata %s", meta_file)
            continue
        if readable(meta.get("project")):
            report = meta.get("report") or {}
            summaries.append({**{k: v for k, v in meta.items() if k != "report"},
                              "report": {k: v for k, v in report.items() if not isinstance(v, list | dict)}})
    return sorted(summaries, key=lambda m: m["dataset_id"])


def cancel_job(store: JobStore, job_id: str) -> None:
    """Cancel a queued or running job of the caller's; its queued tasks are skipped when they come up."""
    record = store.record(job_id)
    if record is None:
        raise JobNotFound(f"no job {job_id} (unknown, or its results expired)", {"job_id": job_id})
    scoping.check_job(record, job_id)
    if not store.cancel(job_id):
        raise JobAlreadyFinished(f"job {job_id} is {record['status']}; only a queued or running job can be cancelled",
                                 {"status": record["status"]})
    logger.info("job %s cancelled", job_id)
