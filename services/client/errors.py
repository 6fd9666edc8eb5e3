"""Typed errors of the client: each carries the API's stable error code, so callers branch on ``code``."""

from __future__ import annotations

import logging
from typing import Any

import requests

from shared.errors import CausalmolError as _ServerError

logger = logging.getLogger(__name__)

CONNECTION_ERROR = "connection_error"  # the service could not be reached (no HTTP answer at all)
TIMEOUT = "timeout"  # the service did not answer one request in time
WAIT_TIMEOUT = "wait_timeout"  # a job did not finish within the time the caller allowed


class CausalmolError(_ServerError):
    """An error the service answered (``status`` is its HTTP status) or a transport failure (``status`` None).

    It is the server's own error type with the code and status per instance, so ``to_dict()`` gives back the
    API's error shape.
    """

    # Wider than the server's ``int``: a transport failure has no HTTP answer at all.
    status: int | None  # type: ignore[assignment]

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None,
                 status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, details)
        self.code, self.status, self.retry_after = code, status, retry_after

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" + (f" (HTTP {self.status})" if self.status else "")


class JobFailed(CausalmolError):
    """A job ended ``failed``; ``code`` is the job's error code (``task_failed`` or a typed one)."""


def retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:  # an HTTP date: rare from a gateway, the backoff covers it
        return None


def error_from_response(response: requests.Response) -> CausalmolError:
    """The API's ``{"error": {code, message, details}}`` as a typed error; a bare answer (a proxy's) is
    ``http_<status>``."""
    try:
        body = response.json()
        error = body["error"]
        code, message, details = str(error["code"]), str(error.get("message", "")), error.get("details") or {}
    except (ValueError, KeyError, TypeError):
        code, message, details = f"http_{response.status_code}", response.text[:500] or response.reason, {}
    return CausalmolError(code, message, details, response.status_code, retry_after_seconds(response))
