"""The one place where exceptions become HTTP answers, all in the shape ``{"error": {code, message, details}}``."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from shared.errors import CausalmolError

logger = logging.getLogger(__name__)

# Stable codes for the HTTP-level errors werkzeug raises before a handler runs.
HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(status: int, code: str, message: str, details: dict | None = None) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message, "details": details or {}}}), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CausalmolError)
    def _causalmol(exc: CausalmolError) -> tuple[Response, int]:
        if exc.status >= 500:
            logger.error("%s: %s %s", exc.code, exc.message, exc.details)  # private details too
        return error_response(exc.status, exc.code, exc.message, exc.public_details)

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError) -> tuple[Response, int]:
        return error_response(400, "validation_error", "the request body is not valid", {"fields": exc.messages})

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        return error_response(status, HTTP_CODES.get(status, "http_error"), exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        logger.exception("unhandled error")  # the traceback goes to the log, never to the client
        return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")
