"""Browser sign-in for the chemist's pages: a browser sends no ``Authorization`` header, so a chemist pastes an API
key into a form once and the gateway keeps a signed cookie naming the key's id (never the key).

The cookie (itsdangerous, HttpOnly, SameSite=Strict, Secure over https, 8 h) is accepted only by the GET page
routes (model card, results page, depiction): never by a JSON route and never by a POST, so a page elsewhere can
neither read data through it nor act with it. Each page request reads the key again, so a revoked key's session
ends at once. The secret is ``CAUSALMOL_SESSION_SECRET`` (the same on every gateway of an installation); embedded
mode makes one under ``CAUSALMOL_HOME`` when it is not set; a distributed gateway without it has sign-in off (the
form answers 404 ``sign_in_disabled``; the pages still take a header).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, current_app, g, redirect, render_template, request, url_for
from itsdangerous import BadData, URLSafeTimedSerializer
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from sqlalchemy import bindparam, select
from werkzeug.wrappers import Response as BaseResponse

from services.accounts.keys import Principal, authenticate
from services.accounts.models import ApiKey
from services.gateway.context import gateway_context
from shared.config import Settings
from shared.db import begin

logger = logging.getLogger(__name__)
bp = Blueprint("session", __name__, url_prefix="/v1", template_folder="templates")

COOKIE = "causalmol_session"
MAX_AGE_SECONDS = 8 * 3600  # a working day; then the form again
SALT = "causalmol.session.v1"  # a cookie signature is worth nothing to another use of the same secret
SECRET_FILE = "session-secret"  # under CAUSALMOL_HOME, embedded mode only
MIN_SECRET_LENGTH = 32
EXTENSION = "causalmol.session_secret"
PAGE_ENDPOINTS = frozenset({"pages.model_card_page", "pages.results_page", "pages.depiction"})
MAX_NEXT_LENGTH = 2000


def is_safe_next(path: str) -> bool:
    """A path on this gateway, never another origin: ``/x`` yes; ``//evil``, ``/\\evil``, ``https://evil`` no."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path or len(path) > MAX_NEXT_LENGTH:
        return False
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):  # browsers drop tabs and newlines: "/\t/evil" is "//evil"
        return False
    parts = urlsplit(path)
    return not parts.scheme and not parts.netloc


def _check_next(path: str) -> None:
    if path and not is_safe_next(path):
        raise ValidationError("a path on this gateway, starting with a single '/'")


class SessionQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE  # a browser's or a proxy's extra query parameters are not an error

    next = fields.String(load_default="", validate=_check_next)


class SignInFormSchema(SessionQuerySchema):
    api_key = fields.String(required=True, validate=validate.Length(min=1, max=128))


_query = SessionQuerySchema()
_form = SignInFormSchema()


# --- the signed cookie ------------------------------------------------------------------------------------------

def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


def sign(secret: str, key_id: str) -> str:
    return _serializer(secret).dumps({"key_id": key_id})


def verify(secret: str, cookie: str, max_age: int = MAX_AGE_SECONDS) -> str | None:
    """The key id a cookie carries, or None when it is forged, altered, expired or not ours."""
    try:
        payload = _serializer(secret).loads(cookie, max_age=max_age)
    except BadData:
        return None
    key_id = payload.get("key_id") if isinstance(payload, dict) else None
    return key_id if isinstance(key_id, str) else None


_BY_ID = select(ApiKey.project, ApiKey.scopes, ApiKey.rate_limit).where(
    ApiKey.id == bindparam("key_id"), ApiKey.revoked_at.is_(None))


def principal_for(key_id: str, database_url: str) -> Principal | None:
    """The key behind a session, read on every request (as a header's key is): None once it is revoked."""
    with begin(database_url) as connection:
        key = connection.execute(_BY_ID, {"key_id": key_id}).first()
    return None if key is None else Principal(key_id, key.project, frozenset(key.scopes.split()), key.rate_limit)


# --- the secret ---------------------------------------------------------------------------------------------------

def persisted_secret(path: Path) -> str:
    """The secret kept in ``path``, made on first use. Gateway processes starting at once agree on one: it is
    written aside, then hard-linked into place, which fails for all but the first."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, aside = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48) + "\n")
            with contextlib.suppress(FileExistsError):  # another process was first: its secret holds
                os.link(aside, path)
        finally:
            os.unlink(aside)
    return path.read_text().strip()


def _checked(secret: str) -> str:
    if len(secret) < MIN_SECRET_LENGTH:  # a guessable secret would let anyone forge a session for any key id
        raise ValueError(f"CAUSALMOL_SESSION_SECRET must be at least {MIN_SECRET_LENGTH} characters "
                         "(make one with: openssl rand -hex 32)")
    return secret


@dataclass
class SessionSecret:
    """The cookie secret: the configured one, or (embedded mode) the one kept under home, read on first use so an
    app that never signs a browser in writes nothing. ``get`` is None when browser sign-in is off."""

    value: str | None = None
    path: Path | None = None

    def get(self) -> str | None:
        if self.value is None and self.path is not None:
            self.value = _checked(persisted_secret(self.path))
        return self.value


def session_secret(settings: Settings) -> SessionSecret:
    """Off without keys, or on a distributed gateway without ``CAUSALMOL_SESSION_SECRET``; a configured secret
    shorter than ``MIN_SECRET_LENGTH`` stops the gateway at startup."""
    if not settings.auth_required:
        return SessionSecret()
    if settings.session_secret is not None:
        return SessionSecret(_checked(settings.session_secret))
    return SessionSecret(path=settings.home / SECRET_FILE if settings.embedded else None)


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions[EXTENSION] = secret = session_secret(settings)
    if secret.value is None and secret.path is None and settings.auth_required:
        logger.warning("browser sign-in is off: set CAUSALMOL_SESSION_SECRET (the same on every gateway) so the "
                       "pages open in a browser")


def current_secret() -> str | None:
    secret = current_app.extensions.get(EXTENSION)
    return secret.get() if secret is not None else None


# --- what auth.py asks ----------------------------------------------------------------------------------------

def accepts_cookie() -> bool:
    """Only a page read takes the cookie: never a JSON route, never a write (no cross-site request forgery)."""
    return request.method in ("GET", "HEAD") and request.endpoint in PAGE_ENDPOINTS


def cookie_principal(database_url: str) -> Principal | None:
    secret, cookie = current_secret(), request.cookies.get(COOKIE)
    key_id = verify(secret, cookie) if secret and cookie else None
    return principal_for(key_id, database_url) if key_id else None


def _cookie_path() -> str:
    return request.script_root + "/v1/"


AnyResponse = TypeVar("AnyResponse", bound=BaseResponse)  # flask.redirect is typed as werkzeug's Response


def forget(response: AnyResponse) -> AnyResponse:
    response.delete_cookie(COOKIE, path=_cookie_path(), secure=request.is_secure, httponly=True, samesite="Strict")
    return response


def redirect_to_sign_in() -> BaseResponse | None:
    """A page opened without credentials goes to the form (303), which brings the browser back; None if sign-in is
    off. A cookie that no longer holds (revoked key, expired, forged) is cleared on the way."""
    if current_secret() is None:
        return None
    target = request.full_path.rstrip("?")
    response = redirect(url_for("session.sign_in_form", next=target if is_safe_next(target) else None), 303)
    return forget(response) if COOKIE in request.cookies else response


# --- the form -------------------------------------------------------------------------------------------------

def _page(status: int, state: str, error: dict[str, Any] | None = None, **context: Any) -> Response:
    response = Response(render_template("session.html", state=state, error=error, max_hours=MAX_AGE_SECONDS // 3600,
                                        **context), status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def _error(status: int, code: str, message: str, fields_: dict[str, list[str]] | None = None,
           next_: str = "") -> Response:
    state = "disabled" if code == "sign_in_disabled" else "form"
    return _page(status, state, {"code": code, "message": message, "fields": fields_ or {}}, next=next_)


def _disabled() -> Response:
    message = ("this gateway needs no API key (CAUSALMOL_AUTH=disabled): open the pages directly"
               if not gateway_context().settings.auth_required else
               "browser sign-in is not configured on this gateway: its operator sets CAUSALMOL_SESSION_SECRET "
               "(the same on every gateway); until then the pages need an 'Authorization: Bearer <key>' header")
    return _error(404, "sign_in_disabled", message)


def _same_origin() -> bool:
    """A form posted from a page of this gateway (Origin, else Sec-Fetch-Site); a client without either is no
    browser and has nothing to forge."""
    origin = request.headers.get("Origin")
    if origin is not None:
        return urlsplit(origin).netloc == request.host
    return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")


@bp.get("/session")
def sign_in_form() -> Response:
    secret = current_secret()
    if secret is None:
        return _disabled()
    try:
        next_ = _query.load(request.args)["next"]
    except ValidationError as exc:
        return _error(400, "validation_error", "the sign-in link is not valid", exc.messages_dict)
    principal = cookie_principal(gateway_context().settings.database_url)
    if principal is not None:
        return _page(200, "signed_in", principal=principal, next=next_)
    return _page(200, "form", next=next_)


@bp.post("/session")
def sign_in() -> BaseResponse:
    secret = current_secret()
    if secret is None:
        return _disabled()
    kept = request.form.get("next", "")  # re-shown in the form after an error, if it is safe
    kept = kept if is_safe_next(kept) else ""
    if not _same_origin():
        return _error(403, "cross_origin_request", "sign in from this gateway's own form", next_=kept)
    try:
        form = _form.load(request.form)
    except ValidationError as exc:
        return _error(400, "validation_error", "the form is not valid", exc.messages_dict, kept)
    principal = authenticate(form["api_key"], gateway_context().settings.database_url)
    if principal is None:
        return _error(401, "authentication_required", "the API key is unknown or revoked", next_=form["next"])
    g.principal = principal  # the audit record of this sign-in names the key and its project
    target = request.script_root + form["next"] if form["next"] else url_for("session.sign_in_form")
    response = redirect(target, 303)
    response.set_cookie(COOKIE, sign(secret, principal.key_id), max_age=MAX_AGE_SECONDS,
                        path=_cookie_path(), secure=request.is_secure, httponly=True, samesite="Strict")
    logger.info("browser session started for key %s", principal.key_id)
    return response


@bp.post("/session/logout")
def sign_out() -> BaseResponse:
    if not _same_origin():
        return _error(403, "cross_origin_request", "sign out from this gateway's own page")
    if current_secret() is not None:  # the audit record names who signed out
        g.principal = cookie_principal(gateway_context().settings.database_url)
    return forget(redirect(url_for("session.sign_in_form"), 303))


@bp.delete("/session")
def delete_session() -> Response:
    return forget(Response(status=204))
