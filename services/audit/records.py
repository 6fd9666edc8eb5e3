"""Write and read audit records. Writing is append-only; reading is paged by record id (a cursor).

A record written on its own (``record``: one per write request, one per job's end) is one Core ``INSERT`` in a
transaction whose commit does not wait for the disk flush (``shared.db.begin(durable=False)``: what a crash can
lose is said there); records that go with a key change share its durable transaction (``add_record``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Insert, Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from services.audit.models import AuditRecord
from shared.db import begin, session_scope
from shared.errors import InvalidRequest

logger = logging.getLogger(__name__)

MAX_PAGE = 500
FIELDS = ("key_id", "project", "route", "status", "job_id", "model", "input_sha256", "n_molecules", "dedup_key")


def smiles_sha256(smiles: list[str]) -> str:
    """One hash of a request's structures, in order: enough to prove later which input a job was given."""
    digest = hashlib.sha256()
    for s in smiles:
        digest.update(s.encode("utf-8", "surrogatepass"))
        digest.update(b"\n")
    return digest.hexdigest()


def _values(action: str, details: dict[str, Any] | None, fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise TypeError(f"no audit field {sorted(unknown)}")
    return {"at": datetime.now(UTC), "action": action, "details": details or {}, **fields}


def add_record(session: Session, action: str, details: dict[str, Any] | None = None, **fields: Any) -> AuditRecord:
    """Add a record to ``session``'s transaction (a key change and its record commit together)."""
    record = AuditRecord(**_values(action, details, fields))
    session.add(record)
    return record


@lru_cache(maxsize=8)
def _insert(dialect_name: str, deduplicated: bool) -> Insert:
    """The INSERT, built once per dialect (its compiled form is then cached by SQLAlchemy).

    A record that may come twice (a job's end) is inserted only if its dedup_key is new: one statement, no read
    first, and no unique-violation error for PostgreSQL to log. RETURNING says whether a row was written.
    """
    dialect = {"postgresql": postgresql, "sqlite": sqlite}.get(dialect_name)
    table = cast(Table, AuditRecord.__table__)  # declarative types it FromClause; a mapped class has a Table
    if not deduplicated or dialect is None:
        return insert(table).returning(table.c.id)
    return dialect.insert(table).on_conflict_do_nothing(index_elements=["dedup_key"]).returning(table.c.id)


def record(action: str, details: dict[str, Any] | None = None, database_url: str | None = None,
           **fields: Any) -> bool:
    """Append one record in its own transaction; False when its ``dedup_key`` was already written.

    A database failure is logged, never raised: the request or the task it describes has already happened.
    """
    values = _values(action, details, fields)
    try:
        with begin(database_url, durable=False) as connection:
            statement = _insert(connection.dialect.name, bool(values.get("dedup_key")))
            return connection.execute(statement, values).first() is not None  # no row: a dedup_key written before
    except IntegrityError:  # a dedup_key already written, on a database without ON CONFLICT
        return False
    except SQLAlchemyError:
        logger.exception("audit record %s for job %s not written", action, fields.get("job_id"))
        return False


def exists(dedup_key: str, database_url: str | None = None) -> bool:
    with begin(database_url) as connection:
        query = select(AuditRecord.id).where(AuditRecord.dedup_key == dedup_key).limit(1)
        return connection.execute(query).first() is not None


def encode_cursor(record_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": record_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        after = json.loads(base64.urlsafe_b64decode(padded.encode()))["after"]
        if not isinstance(after, int) or after < 0:
            raise ValueError(after)
        return after
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidRequest("the cursor is not one this service gave out", {"fields": {"cursor": ["invalid"]}}) \
            from exc


def describe(rec: AuditRecord) -> dict[str, Any]:
    at = rec.at if rec.at.tzinfo else rec.at.replace(tzinfo=UTC)  # SQLite gives back naive UTC times
    return {"id": rec.id, "at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"), "action": rec.action,
            **{f: getattr(rec, f) for f in FIELDS if f != "dedup_key"}, "details": rec.details}


def query(project: str | None = None, action: str | None = None, job_id: str | None = None,
          cursor: str | None = None, limit: int = 100, database_url: str | None = None) -> dict[str, Any]:
    """Records oldest first, after ``cursor``: ``{"records": [...], "next_cursor": str | None}``.

    ``action`` matches exactly or, ending in ``.``, as a prefix (``key.`` gives every key change).
    """
    limit = max(1, min(limit, MAX_PAGE))
    statement = select(AuditRecord).order_by(AuditRecord.id).limit(limit + 1)
    if cursor:
        statement = statement.where(AuditRecord.id > decode_cursor(cursor))
    if project:
        statement = statement.where(AuditRecord.project == project)
    if action:
        statement = statement.where(AuditRecord.action.startswith(action, autoescape=True) if action.endswith(".")
                                    else AuditRecord.action == action)
    if job_id:
        statement = statement.where(AuditRecord.job_id == job_id)
    with session_scope(database_url) as session:
        rows = list(session.scalars(statement))
    page = rows[:limit]
    return {"records": [describe(r) for r in page],
            "next_cursor": encode_cursor(page[-1].id) if len(rows) > limit else None}
