"""One log format for every service: a JSON object per line with time, level, role, logger, message, request id.

The request id lives in a context variable, so whatever code runs on behalf of a request (the gateway's handlers,
and later the tasks it enqueues) logs it without passing it around; outside a request it is null.
"""

from __future__ import annotations

import logging
import os
from contextvars import ContextVar, Token

from pythonjsonlogger.json import JsonFormatter

FIELDS = ("levelname", "name", "message", "request_id")
RENAMED = {"levelname": "level", "name": "logger"}

_request_id: ContextVar[str | None] = ContextVar("causalmol_request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def bind_request_id(request_id: str | None) -> Token[str | None]:
    """Make ``request_id`` the current one; pass the token to ``reset_request_id`` when the request ends."""
    return _request_id.set(request_id)


def reset_request_id(token: Token[str | None]) -> None:
    _request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Stamps the current request id on every record the handler emits, whichever logger it came from."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


def json_handler(role: str) -> logging.Handler:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(FIELDS, rename_fields=RENAMED, static_fields={"role": role},
                                           timestamp="time"))  # ISO 8601, UTC
    handler.addFilter(RequestIdFilter())
    return handler


def configure_logging(role: str, level: str = "INFO") -> None:
    logging.basicConfig(level=level, handlers=[json_handler(role)], force=True)
    logging.getLogger().info("logging configured for %s (pid %d)", role, os.getpid())
