"""Who is calling: every request but the open ones carries an API key (``Authorization: Bearer`` or ``X-API-Key``),
or, for a browser opening a page, the signed cookie of a sign-in (``services/gateway/session.py``).

A ``before_request`` hook resolves the key to a ``Principal`` on ``g.principal`` (401 without a valid key), checks
the scope the view asks for with ``@requires`` (403), and Flask-Limiter holds each key to its rate (429 with
``Retry-After``; Redis storage in distributed mode, so every gunicorn worker counts the same window).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, g, has_request_context, request
from flask_limiter import HeaderNames, Limiter, RateLimitExceeded
from werkzeug.wrappers import Response as BaseResponse

from services.accounts.keys import SCOPES, Principal, authenticate
from services.gateway import session
from services.gateway.errors import error_response
from shared.config import Settings
from shared.errors import AuthenticationRequired, InsufficientScope, RateLimited

logger = logging.getLogger(__name__)

OPEN_PATHS = ("/healthz", "/readyz", "/metrics", "/openapi.json", "/favicon.ico")  # the icon: a 204, no data
OPEN_PREFIXES = ("/docs", "/v1/session")  # the sign-in form checks the key it is given itself
LIMITER_RETRY_AFTER = "X-RateLimit-Retry-After"
View = TypeVar("View", bound=Callable[..., Any])


def requires(scope: str) -> Callable[[View], View]:
    """Mark a view as needing ``scope`` (``admin`` holds every scope). Views without a mark need any valid key."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def mark(view: View) -> View:
        view.required_scope = scope  # type: ignore[attr-defined]  # a mark on the function, read back by getattr
        return view

    return mark


def current_principal() -> Principal | None:
    """The caller, or None outside a request or when authentication is disabled (embedded single-user mode)."""
    return g.get("principal") if has_request_context() else None


def current_project() -> str | None:
    principal = current_principal()
    return principal.project if principal else None


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or any(path == p or path.startswith(p + "/") for p in OPEN_PREFIXES)


def presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.headers.get("X-API-Key", "").strip() or None


def init_app(app: Flask, settings: Settings) -> Limiter:
    """Install authentication, then rate limiting (which needs the principal), on ``app``."""
    session.init_app(app, settings)  # the sign-in cookie's secret (none: browser sign-in is off)

    @app.before_request
    def _authenticate() -> BaseResponse | None:
        g.principal = None
        if not settings.auth_required or is_open(request.path):
            return None
        token = presented_key()
        if token is None and session.accepts_cookie():  # a browser opening a page: its sign-in, or the form
            principal = session.cookie_principal(settings.database_url)
            if principal is None and (to_form := session.redirect_to_sign_in()) is not None:
                return to_form
        else:  # a header always wins, and a wrong one is a 401 (an API client is not sent to a form)
            principal = authenticate(token, settings.database_url) if token else None
        if principal is None:
            raise AuthenticationRequired(
                "this route needs an API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
                if token is None else "the API key is unknown or revoked")
        g.principal = principal
        scope = getattr(app.view_functions.get(request.endpoint or ""), "required_scope", None)
        if scope and not principal.allows(scope):
            raise InsufficientScope(f"this route needs the '{scope}' scope; the key has {sorted(principal.scopes)}",
                                    {"required_scope": scope, "scopes": sorted(principal.scopes)})
        return None

    @app.after_request  # runs after the limiter's own hook has written its headers
    def _challenge(response: Response) -> Response:
        if response.status_code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="causalmol"'
        # The limiter writes its window's wait on every answer (as X-RateLimit-Retry-After, see below): it becomes
        # Retry-After on a 429 only, so a client never waits a rate window out on, say, a 503.
        if response.status_code == 429 and LIMITER_RETRY_AFTER in response.headers:
            response.headers["Retry-After"] = response.headers[LIMITER_RETRY_AFTER]
        return response

    limiter = Limiter(
        key_func=lambda: g.principal.key_id if g.get("principal") else "anonymous",
        # One budget per key across every route (application limits), not one per route.
        application_limits=[lambda: (g.principal.rate_limit if g.get("principal") else None) or settings.rate_limit],
        application_limits_exempt_when=lambda: g.get("principal") is None,  # open routes, or no keys in use
        storage_uri=settings.redis_url or "memory://",
        # flask-limiter annotates the options str | int; they reach redis-py, whose timeouts are float seconds.
        storage_options={"socket_connect_timeout": settings.broker_timeout_seconds}  # type: ignore[dict-item]
        if settings.redis_url else {},
        headers_enabled=True,  # X-RateLimit-* on every answer, Retry-After on a 429
        header_name_mapping={HeaderNames.RETRY_AFTER: LIMITER_RETRY_AFTER},
        swallow_errors=True,  # Redis down: the request goes on and meets the job store's own 503
        key_prefix="causalmol",
    )
    limiter.init_app(app)

    @limiter.request_filter
    def _unlimited() -> bool:  # open routes, and every route when keys are off: nothing to count against
        return g.get("principal") is None

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(exc: RateLimitExceeded) -> tuple[Response, int]:
        error = RateLimited(f"more than {exc.description} for this API key; retry after the Retry-After seconds",
                            {"limit": exc.description})
        return error_response(error.status, error.code, error.message, error.details)

    return limiter
