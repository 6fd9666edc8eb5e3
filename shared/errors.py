"""Typed errors with a stable ``code`` and HTTP status; the gateway maps them to one error shape."""

from __future__ import annotations

from typing import Any


class CausalmolError(Exception):
    """Base of every error a client may see. ``code`` is part of the public API: never rename one."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidRequest(CausalmolError):
    status, code = 400, "validation_error"


class InvalidJson(CausalmolError):
    status, code = 400, "invalid_json"


class JobNotFound(CausalmolError):
    status, code = 404, "job_not_found"


class ModelNotFound(CausalmolError):
    status, code = 404, "model_not_found"


class ModelRetired(CausalmolError):
    status, code = 410, "model_retired"


class PayloadTooLarge(CausalmolError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(CausalmolError):
    status, code = 415, "unsupported_media_type"


class BrokerUnavailable(CausalmolError):
    status, code = 503, "broker_unavailable"


class ModelIntegrityError(CausalmolError):
    """An artifact's checksum does not match its manifest: the model is never served."""

    status, code = 500, "model_integrity_error"


# Per-molecule error codes, reported inside a batch result rather than raised.
INVALID_SMILES = "invalid_smiles"
INVALID_STRUCTURE = "invalid_structure"  # a molblock RDKit cannot read
