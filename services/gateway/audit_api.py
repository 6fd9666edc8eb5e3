"""The audit trail at the door: one record per write request (and per results download), and ``GET /v1/audit``.

Handlers and services add what they know to the request's record with ``note`` (the job id, the model and
version, the hash of the structures); the ``after_request`` hook writes it with the route, the status and the
caller. The ends of jobs are recorded by the workers (``services/audit/jobs.py``).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, Response, g, has_request_context, jsonify, request
from marshmallow import Schema, fields, validate

from services.audit import records
from services.gateway.auth import current_principal, requires
from shared.config import Settings

logger = logging.getLogger(__name__)
bp = Blueprint("audit", __name__, url_prefix="/v1")

# The action a route's record is filed under; other write routes use their endpoint's name.
ACTIONS = {
    "v1.create_prediction": "prediction.submitted",
    "v1.read_results": "results.exported",
    "registry.create_dataset": "dataset.submitted",
    "registry.create_model": "training.submitted",
    "registry.retire_model": "model.retired",
    "registry.create_causal_effect": "causal_effect.submitted",
}
AUDITED_READS = ("v1.read_results",)


class AuditQuerySchema(Schema):
    project = fields.String(validate=validate.Length(max=64))
    action = fields.String(validate=validate.Length(max=64))
    job_id = fields.String(validate=validate.Length(max=64))
    cursor = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=records.MAX_PAGE))


_query = AuditQuerySchema()


def note(details: dict[str, Any] | None = None, **fields_: Any) -> None:
    """Add to the current request's audit record (no-op outside a request)."""
    if not has_request_context():
        return
    audit = g.setdefault("audit", {"details": {}})
    audit["details"].update(details or {})
    audit.update({k: v for k, v in fields_.items() if v is not None})


@bp.get("/audit")
@requires("admin")
def read_audit() -> tuple[Response, int]:
    """Records oldest first; ``next_cursor`` pages on. Admin keys see every project's records."""
    args = _query.load(request.args)
    return jsonify(records.query(**args)), 200


def audited(endpoint: str | None) -> bool:
    return bool(endpoint) and (request.method not in ("GET", "HEAD", "OPTIONS") or endpoint in AUDITED_READS)


def init_app(app: Flask, settings: Settings) -> None:
    app.register_blueprint(bp)

    @app.after_request
    def _record(response: Response) -> Response:
        if not request.path.startswith("/v1/") or not audited(request.endpoint):
            return response
        audit = dict(g.get("audit") or {"details": {}})
        principal = current_principal()
        details = audit.pop("details")
        if response.status_code >= 400:
            details["error_code"] = _error_code(response)
        records.record(
            audit.pop("action", None) or ACTIONS.get(request.endpoint or "", request.endpoint or "request"),
            details, database_url=settings.database_url,
            key_id=principal.key_id if principal else None, project=principal.project if principal else None,
            route=f"{request.method} {request.path}"[:256], status=response.status_code,
            job_id=audit.pop("job_id", None) or (request.view_args or {}).get("job_id"), **audit,
        )
        return response


def _error_code(response: Response) -> str | None:
    body = response.get_json(silent=True) if response.is_json else None
    return (body or {}).get("error", {}).get("code") if isinstance(body, dict) else None
