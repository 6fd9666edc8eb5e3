"""Create, list, revoke and check API keys. A token is shown once, at creation; only its sha256 is stored.

A token reads ``cm_<prefix>_<secret>``: the prefix (8 hex digits) names the key in lists and logs, the secret
(32 random bytes) is what a caller proves. A key belongs to one project and carries scopes: ``predict`` (send
predictions, read jobs), ``train`` (datasets, training, retirement, causal questions), ``admin`` (everything,
and the audit trail). Every key change is written to the audit trail in the same transaction.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select

from services.accounts.models import ApiKey
from services.audit.records import add_record
from shared.db import begin, session_scope
from shared.errors import InvalidRequest

logger = logging.getLogger(__name__)

SCOPES = ("predict", "train", "admin")
PROJECT_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
RATE_PATTERN = re.compile(r"[0-9]{1,6}\s*/\s*(second|minute|hour|day)")
TOKEN_PREFIX = "cm_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, its project and scopes (``admin`` implies the others)."""

    key_id: str
    project: str
    scopes: frozenset[str]
    rate_limit: str | None = None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def hash_secret(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_key_fields(project: str, scopes: list[str], rate_limit: str | None) -> None:
    problems: dict[str, list[str]] = {}
    if not PROJECT_PATTERN.fullmatch(project):
        problems["project"] = ["lower-case letters, digits, '_', '.', '-'; up to 64 characters"]
    if not scopes or set(scopes) - set(SCOPES):
        problems["scopes"] = [f"one or more of {', '.join(SCOPES)}"]
    if rate_limit is not None and not RATE_PATTERN.fullmatch(rate_limit):
        problems["rate_limit"] = ["like '100/minute' (per second, minute, hour or day)"]
    if problems:
        raise InvalidRequest("the key's fields are not valid", {"fields": problems})


def create_key(project: str, scopes: list[str], name: str = "", rate_limit: str | None = None,
               database_url: str | None = None) -> tuple[str, dict[str, Any]]:
    """A new key: (the token, shown this once; the key as ``list_keys`` describes it)."""
    check_key_fields(project, scopes, rate_limit)
    prefix = secrets.token_hex(4)
    token = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(id=f"key_{secrets.token_hex(6)}", prefix=f"{TOKEN_PREFIX}{prefix}", secret_sha256=hash_secret(token),
                 project=project, scopes=" ".join(s for s in SCOPES if s in scopes), name=name[:128],
                 rate_limit=rate_limit, created_at=datetime.now(UTC), revoked_at=None)
    with session_scope(database_url) as session:
        session.add(key)
        add_record(session, "key.created", key_id=key.id, project=project,
                   details={"scopes": key.scopes.split(), "name": key.name, "rate_limit": rate_limit})
    logger.info("key %s (%s) created in project %s", key.id, key.prefix, project)
    return token, describe(key)


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite gives back naive UTC times
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def describe(key: ApiKey) -> dict[str, Any]:
    return {"id": key.id, "prefix": key.prefix, "project": key.project, "scopes": key.scopes.split(),
            "name": key.name, "rate_limit": key.rate_limit, "created_at": iso(key.created_at),
            "revoked_at": iso(key.revoked_at)}


def list_keys(project: str | None = None, database_url: str | None = None) -> list[dict[str, Any]]:
    with session_scope(database_url) as session:
        query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
        if project:
            query = query.where(ApiKey.project == project)
        return [describe(k) for k in session.scalars(query)]


def revoke_key(key_id: str, reason: str = "", database_url: str | None = None) -> dict[str, Any] | None:
    """Revoke a key by its id or prefix; None when there is no such key. Revoking twice changes nothing."""
    with session_scope(database_url) as session:
        key = session.scalars(select(ApiKey).where((ApiKey.id == key_id) | (ApiKey.prefix == key_id))).first()
        if key is None:
            return None
        if key.revoked_at is None:
            key.revoked_at = datetime.now(UTC)
            add_record(session, "key.revoked", key_id=key.id, project=key.project, details={"reason": reason})
            logger.info("key %s revoked", key.id)
        return describe(key)


# Every request reads its key from the database, so a revocation holds at once in every process. No cache: one
# indexed Core SELECT costs about what a cache's own cross-process check (a revocation counter in Redis) would.
_BY_SECRET = select(ApiKey.id, ApiKey.project, ApiKey.scopes, ApiKey.rate_limit, ApiKey.revoked_at).where(
    ApiKey.secret_sha256 == bindparam("secret_sha256"))


def authenticate(token: str, database_url: str | None = None) -> Principal | None:
    """The principal a token stands for, or None for an unknown or revoked one."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        return None
    with begin(database_url) as connection:
        key = connection.execute(_BY_SECRET, {"secret_sha256": hash_secret(token)}).first()
    if key is None or key.revoked_at is not None:
        return None
    return Principal(key.id, key.project, frozenset(key.scopes.split()), key.rate_limit)


def has_keys(database_url: str | None = None) -> bool:
    with session_scope(database_url) as session:
        return session.scalars(select(ApiKey.id).where(ApiKey.revoked_at.is_(None)).limit(1)).first() is not None
