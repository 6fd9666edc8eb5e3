"""Gateway: the Flask app factory. It validates, enqueues by task name and reads results; nothing heavier."""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import PackageNotFoundError, version

from flask import Flask, Response, jsonify

from services.gateway.context import EXTENSION, GatewayContext
from shared.celery_app import configure_celery
from shared.config import get_settings
from shared.jobs import get_job_store
from shared.model_store import ModelStore

logger = logging.getLogger(__name__)


def package_version() -> str:
    try:
        return version("causalmol")
    except PackageNotFoundError:
        return "0.0.0"


def create_app() -> Flask:
    """The gateway app, configured from ``CAUSALMOL_*`` environment variables."""
    from services.gateway import api, errors, health, registry_api
    from services.gateway.openapi import build_spec

    settings = get_settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    app.json.sort_keys = False
    configure_celery(settings)
    app.extensions[EXTENSION] = GatewayContext(settings, get_job_store(), ModelStore(settings.models_dir))
    errors.register_error_handlers(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(registry_api.bp)
    app.register_blueprint(health.bp)
    spec = build_spec(package_version())

    @app.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(spec)

    if settings.embedded:
        # Imported by name: only embedded mode pulls the services (and RDKit) into this process.
        importlib.import_module("services.embedded").start_embedded_worker()
    return app
