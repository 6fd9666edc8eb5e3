"""Per-project webhook secrets: made or rotated by an admin on the server (``causalmol keys webhook-secret``),
shown once, read back by the webhooks worker by project id when it signs a delivery.

A project with its own secret has every callback signed with it; a project without one falls back to
``CAUSALMOL_WEBHOOK_SECRET`` (``secret_for``). A rotation holds from the next delivery on, retries
of an earlier callback included: a receiver switching over should accept both secrets for a while. Every change is
written to the audit trail (never the secret) in the same transaction.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select

from services.accounts.keys import PROJECT_PATTERN, iso
from services.accounts.models import WebhookSecret
from services.audit.records import add_record
from shared.config import Settings
from shared.db import begin, session_scope
from shared.errors import InvalidRequest
from shared.job_control import NO_PROJECT

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
_BY_PROJECT = select(WebhookSecret.secret).where(WebhookSecret.project == bindparam("project"))


def _check_project(project: str) -> None:
    if not PROJECT_PATTERN.fullmatch(project):
        raise InvalidRequest("the project is not valid", {"fields": {"project": [
            "lower-case letters, digits, '_', '.', '-'; up to 64 characters"]}})


def rotate_secret(project: str, database_url: str | None = None) -> tuple[str, dict[str, Any]]:
    """A new secret for ``project`` (replacing its old one): (the secret, shown this once; its description)."""
    _check_project(project)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with session_scope(database_url) as session:
        row = session.get(WebhookSecret, project)
        replaced = row is not None
        if row is None:
            session.add(WebhookSecret(project=project, secret=secret, created_at=now))
        else:
            row.secret, row.created_at = secret, now
        add_record(session, "webhook_secret.rotated" if replaced else "webhook_secret.created", project=project)
    logger.info("webhook secret of project %s %s", project, "rotated" if replaced else "created")
    return secret, {"project": project, "created_at": iso(now), "replaced": replaced}


def remove_secret(project: str, database_url: str | None = None) -> bool:
    """Forget the project's secret (its callbacks fall back to the configured one); False if it had none."""
    with session_scope(database_url) as session:
        row = session.get(WebhookSecret, project)
        if row is None:
            return False
        session.delete(row)
        add_record(session, "webhook_secret.removed", project=project)
    logger.info("webhook secret of project %s removed", project)
    return True


def list_secrets(database_url: str | None = None) -> list[dict[str, Any]]:
    """The projects that have a secret, and since when (never the secrets)."""
    with session_scope(database_url) as session:
        rows = session.scalars(select(WebhookSecret).order_by(WebhookSecret.project))
        return [{"project": row.project, "created_at": iso(row.created_at)} for row in rows]


def project_secret(project: str, database_url: str | None = None) -> str | None:
    """The project's own secret, or None (one indexed Core SELECT, like a key lookup)."""
    with begin(database_url) as connection:
        return connection.execute(_BY_PROJECT, {"project": project}).scalar_one_or_none()


def secret_for(settings: Settings, project: str | None) -> str | None:
    """The key a job's callbacks are signed with: its project's own secret, else the configured fallback.

    Read from the database by project id where it is needed (the gateway's check of a ``callback_url``, the
    webhooks worker), so a secret never travels in a broker message or sits in a job record. A database error
    propagates: a callback is never signed with the fallback because the project's secret could not be read.
    """
    if project and project != NO_PROJECT:
        own = project_secret(project, settings.database_url)
        if own:
            return own
    return settings.webhook_secret
