"""The ``api_keys`` table (a key is stored as the sha256 of its secret, with a short prefix to recognise it) and
the ``webhook_secrets`` table (a project's callback signing secret)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the visible start of the token, for lists and logs
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    project: Mapped[str] = mapped_column(String(64), index=True)
    scopes: Mapped[str] = mapped_column(String(64))  # space-separated, e.g. "predict train"
    name: Mapped[str] = mapped_column(String(128), default="")
    rate_limit: Mapped[str | None] = mapped_column(String(32), nullable=True)  # e.g. "100/minute"; None: default
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class WebhookSecret(Base):
    """A project's own webhook signing secret (``causalmol keys webhook-secret rotate``); one per project."""

    __tablename__ = "webhook_secrets"

    project: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret: Mapped[str] = mapped_column(String(128))  # in clear: an HMAC is signed with the secret itself
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
