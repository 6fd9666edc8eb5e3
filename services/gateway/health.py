"""Liveness and readiness: ready means the broker answers and a live worker consumes every service's queue."""

from __future__ import annotations

import importlib
import logging

from flask import Blueprint, Response, jsonify

from services.gateway.context import gateway_context
from services.gateway.errors import error_response
from shared.celery_app import celery_app
from shared.config import QUEUES

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


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    return jsonify({"status": "ok"}), 200


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    ext = gateway_context()
    broker_ok = ext.job_store.ping()
    consumed = consumed_queues(ext.settings.embedded) if broker_ok else set()
    checks = {"broker": broker_ok, **{f"queue:{q}": q in consumed for q in QUEUES},
              "models": bool(ext.model_store.names())}
    if all(checks.values()):
        return jsonify({"status": "ready", "mode": "embedded" if ext.settings.embedded else "distributed",
                        "checks": checks}), 200
    failing = sorted(name for name, ok in checks.items() if not ok)
    return error_response(503, "not_ready", f"not ready: {', '.join(failing)}", {"checks": checks})
