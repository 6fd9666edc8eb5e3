"""Swagger UI at ``/docs/``, from the swagger-ui dist files that flask-swagger-ui installs: no CDN on-prem."""

from __future__ import annotations

from flask import Flask
from flask_swagger_ui import get_swaggerui_blueprint

DOCS_URL = "/docs"  # werkzeug redirects a bare /docs to /docs/
SPEC_URL = "/openapi.json"
UI_CONFIG = {
    "app_name": "causalmol API",
    # Swagger UI would otherwise fetch a validity badge from validator.swagger.io, which on-prem cannot reach.
    "validatorUrl": None,
    "displayOperationId": True,
}


def init_app(app: Flask) -> None:
    app.register_blueprint(get_swaggerui_blueprint(DOCS_URL, SPEC_URL, config=UI_CONFIG, blueprint_name="docs"))
