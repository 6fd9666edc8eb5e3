"""Typed errors with a stable ``code`` and HTTP status; the gateway maps them to one error shape."""

from __future__ import annotations

from typing import Any


class CausalmolError(Exception):
    """Base of every error a client may see. ``code`` is part of the public API: never rename one."""

    status: int = 500
    code: str = "internal_error"
    # Detail keys that go to the log but never to the client (a broker's error names its host and port).
    private_details: tuple[str, ...] = ()

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    @property
    def public_details(self) -> dict[str, Any]:
        return {k: v for k, v in self.details.items() if k not in self.private_details}

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.public_details}}


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


class SmartsTooComplex(CausalmolError):
    """A SMARTS over the size limits: matching cost grows steeply with each disconnected component."""

    status, code = 400, "smarts_too_complex"


class AuthenticationRequired(CausalmolError):
    """No API key, an unknown one or a revoked one: the caller is not told which."""

    status, code = 401, "authentication_required"


class InsufficientScope(CausalmolError):
    status, code = 403, "insufficient_scope"


class RateLimited(CausalmolError):
    status, code = 429, "rate_limited"


class ModelNameTaken(CausalmolError):
    """Model names are one namespace: another project (or a reference model) already holds this one."""

    status, code = 409, "model_name_taken"


class IdempotencyKeyReused(CausalmolError):
    """The same Idempotency-Key came with another body: the first request's job is not what this one asks."""

    status, code = 409, "idempotency_key_reused"


class IdempotencyKeyInProgress(CausalmolError):
    """The first request with this Idempotency-Key is still being accepted: retry in a moment."""

    status, code = 409, "idempotency_key_in_progress"


class JobAlreadyFinished(CausalmolError):
    """Only a queued or running job can be cancelled."""

    status, code = 409, "job_already_finished"


class BrokerUnavailable(CausalmolError):
    status, code = 503, "broker_unavailable"
    private_details = ("reason",)


class ModelIntegrityError(CausalmolError):
    """An artifact's checksum does not match its manifest: the model is never served."""

    status, code = 500, "model_integrity_error"


# A job's error when a task fails on something other than a typed error: the exception itself is only logged.
TASK_FAILED = "task_failed"


def job_error(step: str, exc: BaseException) -> dict[str, str]:
    """The ``{code, message}`` a failed job shows: a typed error's own code and message, else a stable text."""
    if isinstance(exc, CausalmolError):
        return {"code": exc.code, "message": f"{step}: {exc.message}"}
    return {"code": TASK_FAILED, "message": f"{step}: the step failed unexpectedly; the error is in the service log"}


# Per-molecule error codes, reported inside a batch result rather than raised.
INVALID_SMILES = "invalid_smiles"
INVALID_STRUCTURE = "invalid_structure"  # a molblock RDKit cannot read
