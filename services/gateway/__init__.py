"""Gateway: the Flask app factory. It validates, enqueues by task name and reads results; nothing heavier."""

from __future__ import annotations

import importlib
import logging
import re
import uuid
from importlib.metadata import PackageNotFoundError, version
from typing import cast

from flask import Flask, Response, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.middleware.proxy_fix import ProxyFix

from services.gateway.context import EXTENSION, GatewayContext
from shared.celery_app import configure_celery
from shared.config import get_settings
from shared.db import migrate
from shared.jobs import get_job_store
from shared.logging import bind_request_id, reset_request_id
from shared.model_store import ModelStore

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is kept only if it is short and plain: it goes into every log line and into job records.
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def package_version() -> str:
    try:
        return version("causalmol")
    except PackageNotFoundError:
        return "0.0.0"


def register_request_id(app: Flask) -> None:
    """Every request gets an id (the caller's ``X-Request-ID`` or a new one): on ``g``, in its logs, echoed back."""

    @app.before_request
    def _bind() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if VALID_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        g.request_id_token = bind_request_id(g.request_id)

    @app.after_request
    def _echo(response: Response) -> Response:
        if "request_id" in g:
            response.headers[REQUEST_ID_HEADER] = g.request_id
        return response

    @app.teardown_request
    def _unbind(_exc: BaseException | None) -> None:
        if "request_id_token" in g:
            reset_request_id(g.pop("request_id_token"))


def create_app() -> Flask:
    """The gateway app, configured from ``CAUSALMOL_*`` environment variables."""
    from services.gateway import api, audit_api, auth, docs, errors, health, jobs_api, metrics, registry_api
    from services.gateway.openapi import build_spec

    settings = get_settings()
    app = Flask(__name__)
    if settings.proxy_fix:  # behind an ingress: status_url and /docs follow its host, scheme and path prefix
        n = settings.proxy_fix
        # Flask's documented way to add WSGI middleware; mypy sees wsgi_app as a method.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=n)  # type: ignore[method-assign]
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    cast(DefaultJSONProvider, app.json).sort_keys = False  # Flask's default provider; keys keep the code's order
    configure_celery(settings)
    app.extensions[EXTENSION] = GatewayContext(settings, get_job_store(), ModelStore(settings.models_dir))
    register_request_id(app)  # first, so that every later hook and handler logs the id
    migrate(settings.database_url)  # keys and the audit trail: the schema is at head before the first request
    auth.init_app(app, settings)  # before the handlers: every request but the open ones names its key
    audit_api.init_app(app, settings)
    metrics.init_app(app, settings)
    errors.register_error_handlers(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(registry_api.bp)
    app.register_blueprint(jobs_api.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(importlib.import_module("services.gateway.pages").bp)  # HTML: card, results, depictions
    docs.init_app(app)
    spec = build_spec(package_version(), settings.max_molecules)

    @app.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(spec)

    if settings.embedded:
        # Imported by name: only embedded mode pulls the services (and RDKit) into this process.
        importlib.import_module("services.embedded").start_embedded_worker()
    return app
