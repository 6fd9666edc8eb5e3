"""The OpenAPI part of the browser sign-in (``services/gateway/session.py``): the form and the cookie it sets.
Its answers are HTML pages (the form again, with the error's code, on a bad input). ``openapi_pages.add_pages``
calls ``add_session``."""

from __future__ import annotations

from typing import Any

from services.gateway.session import COOKIE, MAX_AGE_SECONDS, MAX_NEXT_LENGTH

FORM_PAGE = {"content": {"text/html": {"schema": {"type": "string"}}}}
NEXT = {"type": "string", "maxLength": MAX_NEXT_LENGTH,
        "description": "where to go after signing in: a path on this gateway (another origin is refused)"}
SIGN_IN_FORM = {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "required": ["api_key"], "properties": {
        "api_key": {"type": "string", "minLength": 1, "maxLength": 128, "description": "an API key (cm_...)"},
        "next": NEXT}}}}
DISABLED = {"description": "sign_in_disabled: no CAUSALMOL_SESSION_SECRET on this distributed gateway (or keys are "
                           "off)", **FORM_PAGE}
CROSS_ORIGIN = {"description": "cross_origin_request: the form was posted from another origin", **FORM_PAGE}
BACK_TO_FORM = {"description": "To the sign-in form", "headers": {"Location": {"schema": {"type": "string"}}}}


def html(description: str) -> dict[str, Any]:
    return {"description": description, **FORM_PAGE}


def add_session(paths: dict[str, dict[str, Any]]) -> None:
    paths["/v1/session"] = {
        "get": {"operationId": "sign_in_form",
                "summary": "The browser sign-in form (paste an API key), or who is signed in",
                "parameters": [{"name": "next", "in": "query", "schema": NEXT}],
                "responses": {"200": html("The form, or the signed-in key's id and project"),
                              "400": html("validation_error: next is not a path on this gateway"),
                              "404": DISABLED}},
        "post": {"operationId": "sign_in",
                 "summary": "Sign a browser in: the key is checked (unknown and revoked keys are refused) and a "
                            f"signed cookie '{COOKIE}' naming its id (never the key) is set: HttpOnly, "
                            f"SameSite=Strict, Secure over https, {MAX_AGE_SECONDS // 3600} h. Only the GET page "
                            "routes (card, results page, depiction) accept it",
                 "requestBody": {"required": True, "content": SIGN_IN_FORM},
                 "responses": {"303": {"description": "Signed in: to next, or to the form's signed-in page",
                                       "headers": {"Location": {"schema": {"type": "string"}},
                                                   "Set-Cookie": {"schema": {"type": "string"}}}},
                               "400": html("validation_error: the form again, with the field messages"),
                               "401": html("authentication_required: the key is unknown or revoked"),
                               "403": CROSS_ORIGIN, "404": DISABLED}},
        "delete": {"operationId": "delete_session", "summary": "Sign out: the cookie is cleared",
                   "responses": {"204": {"description": "Signed out"}}},
    }
    paths["/v1/session/logout"] = {"post": {
        "operationId": "sign_out", "summary": "Sign out from a page's button: the cookie is cleared",
        "responses": {"303": BACK_TO_FORM, "403": CROSS_ORIGIN}}}
