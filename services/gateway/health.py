"""Liveness and readiness: ready means the broker answers, a live worker consumes every service's queue, the model
store holds a model and the service database (keys, audit trail) answers a trivial query."""

from __future__ import annotations

import importlib
import logging

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from services.gateway.context import gateway_context
from services.gateway.errors import error_response
from shared.celery_app import celery_app
from shared.config import QUEUES
from shared.db import get_engine

logger = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


def consumed_queues(embedded: bool, timeout: float = 1.0) -> set[str]:
    if embedded:
        return importlib.import_module("services.embedded").embedded_queues()
    try:
        replies = celery_app.control.inspect(timeout=timeout).active_queues() or {}
    except Exception as exc:  # any broker failure simply means "not ready"
        logger.warning("worker inspection failed: %r", exc)
        return set()
    return {queue["name"] for queues in replies.values() for queue in queues}


def database_answers(url: str) -> bool:
    """``SELECT 1`` on the service database's pooled engine (the pool's pre-ping replaces a dead connection)."""
    try:
        with get_engine(url).connect() as connection:
            if connection.dialect.name == "postgresql":  # a server stuck behind locks must not hold the probe
                connection.exec_driver_sql("SET LOCAL statement_timeout = 2000")
            connection.execute(text("SELECT 1")).scalar_one()
            connection.rollback()
    except Exception as exc:  # not ready; the class only: the driver's message names the server's address
        logger.warning("database check failed: %s", type(exc).__name__)
        return False
    return True


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    return jsonify({"status": "ok"}), 200


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    ext = gateway_context()
    broker_ok = ext.job_store.ping()
    consumed = consumed_queues(ext.settings.embedded) if broker_ok else set()
    checks = {"broker": broker_ok, **{f"queue:{q}": q in consumed for q in QUEUES},
              "models": bool(ext.model_store.names()), "database": database_answers(ext.settings.database_url)}
    if all(checks.values()):
        return jsonify({"status": "ready", "mode": "embedded" if ext.settings.embedded else "distributed",
                        "checks": checks}), 200
    failing = sorted(name for name, ok in checks.items() if not ok)
    return error_response(503, "not_ready", f"not ready: {', '.join(failing)}", {"checks": checks})
