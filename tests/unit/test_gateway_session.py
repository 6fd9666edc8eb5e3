"""services/gateway/session.py with auth.py on a test app: the signed cookie, the ``next`` check, the secret, and
which requests the cookie opens (real keys in a real SQLite database; the pages' own rendering is the browser
tests' business, so a page here answers the 404 of an unknown model or job once it is past the door)."""

from __future__ import annotations

import dataclasses
import os
import stat
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

import shared.publish
from services.accounts.keys import create_key, revoke_key
from services.audit.records import query
from services.gateway import GatewayContext, api, audit_api, auth, pages, session
from services.gateway.errors import register_error_handlers
from shared.config import Settings
from shared.jobs import MemoryJobStore
from shared.model_store import ModelStore
from tests.unit.test_gateway_api import RecordingChain

SECRET = "s" * 40
CARD = "/v1/models/nothing/card"


@pytest.mark.parametrize(("path", "safe"), [
    ("/v1/models/akt1/card", True), ("/v1/jobs/abc/page?offset=20&limit=20", True), ("/", True),
    ("", False), ("v1/models", False), ("//evil.example/x", False), ("/\\evil.example", False),
    ("https://evil.example/", False), ("/\t/evil.example", False), ("/x\r\nSet-Cookie: a=b", False),
    ("javascript:alert(1)", False), ("/" + "a" * session.MAX_NEXT_LENGTH, False),
])
def test_next_is_a_path_on_this_gateway_only(path, safe):
    assert session.is_safe_next(path) is safe


def test_a_cookie_carries_the_key_id_and_holds_only_unaltered_with_its_own_secret_in_time():
    cookie = session.sign(SECRET, "key_0123456789ab")
    assert "cm_" not in cookie and session.verify(SECRET, cookie) == "key_0123456789ab"
    assert session.verify("t" * 40, cookie) is None  # another installation's secret
    assert session.verify(SECRET, cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")) is None
    assert session.verify(SECRET, "garbage") is None
    other_use = session.URLSafeTimedSerializer(SECRET, salt="another.use").dumps({"key_id": "key_x"})
    assert session.verify(SECRET, other_use) is None
    assert session.verify(SECRET, session._serializer(SECRET).dumps(["key_x"])) is None  # not our payload
    time.sleep(1.1)
    assert session.verify(SECRET, cookie, max_age=0) is None  # expired


def test_the_secret_is_configured_made_once_under_home_in_embedded_mode_or_off(tmp_path):
    base = dataclasses.replace(Settings(), home=tmp_path, auth_required=True)
    assert session.session_secret(dataclasses.replace(base, session_secret=SECRET)).get() == SECRET
    with pytest.raises(ValueError, match="at least 32 characters"):
        session.session_secret(dataclasses.replace(base, session_secret="short"))
    assert session.session_secret(dataclasses.replace(base, redis_url="redis://x:1/0")).get() is None
    assert session.session_secret(dataclasses.replace(base, auth_required=False)).get() is None
    embedded = session.session_secret(base)
    assert not (tmp_path / session.SECRET_FILE).exists()  # nothing written until a browser signs in
    made = [None] * 8
    threads = [threading.Thread(target=lambda i=i: made.__setitem__(i, session.session_secret(base).get()))
               for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == 1 and len(made[0]) >= session.MIN_SECRET_LENGTH  # every process agrees on one
    assert embedded.get() == made[0]
    assert stat.S_IMODE(os.stat(tmp_path / session.SECRET_FILE).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [session.SECRET_FILE]  # no file left aside


def make_app(settings: Settings, tmp_path) -> Flask:
    models = ModelStore(tmp_path / "models")
    app = Flask("session-under-test")
    app.extensions["causalmol"] = GatewayContext(settings, MemoryJobStore(), models)
    register_error_handlers(app)
    auth.init_app(app, settings)
    audit_api.init_app(app, settings)
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)  # brings the session blueprint
    return app


@pytest.fixture
def settings(tmp_path) -> Settings:
    return dataclasses.replace(Settings(), home=tmp_path, auth_required=True, redis_url=None,
                               session_secret=SECRET, database_url=f"sqlite:///{tmp_path / 'keys.db'}")


@pytest.fixture
def app(settings, tmp_path, monkeypatch, settings_env):
    settings_env()
    monkeypatch.setattr(shared.publish, "chain", RecordingChain)
    return make_app(settings, tmp_path)


def new_key(settings, project="lab-a", scopes=("predict",)) -> tuple[str, str]:
    token, key = create_key(project, list(scopes), "unit", database_url=settings.database_url)
    return token, key["id"]


def cookie_of(client):
    return client.get_cookie(session.COOKIE, path="/v1/")


def sign_in(client, token, next_=CARD, **headers):
    return client.post("/v1/session", data={"api_key": token, "next": next_}, headers=headers)


def test_a_page_without_credentials_is_sent_to_the_form_and_back(app, settings):
    client = app.test_client()
    answer = client.get(CARD + "?x=1")
    assert answer.status_code == 303
    location = urlsplit(answer.headers["Location"])
    assert location.path == "/v1/session" and parse_qs(location.query) == {"next": [CARD + "?x=1"]}
    form = client.get(answer.headers["Location"])
    assert form.status_code == 200 and 'name="api_key"' in form.get_data(as_text=True)
    assert f'value="{CARD}?x=1"' in form.get_data(as_text=True)
    assert form.headers["Cache-Control"] == "no-store"

    token, key_id = new_key(settings)
    signed = sign_in(client, token, CARD + "?x=1")
    assert (signed.status_code, signed.headers["Location"]) == (303, CARD + "?x=1")
    cookie = signed.headers["Set-Cookie"]
    assert cookie.startswith(f"{session.COOKIE}=") and token not in cookie
    assert {"HttpOnly", "SameSite=Strict", "Path=/v1/", f"Max-Age={session.MAX_AGE_SECONDS}"} <= {
        part.strip() for part in cookie.split(";")}
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    assert session.verify(SECRET, cookie_of(client).value) == key_id
    page = client.get(CARD)  # past the door: the unknown model's own 404
    assert (page.status_code, page.get_json()["error"]["code"]) == (404, "model_not_found")
    who = client.get("/v1/session").get_data(as_text=True)
    assert key_id in who and "lab-a" in who and "Sign out" in who
    records = query(action="session.sign_in", database_url=settings.database_url)["records"]
    assert [(r["key_id"], r["project"], r["status"]) for r in records] == [(key_id, "lab-a", 303)]


def test_the_cookie_opens_page_reads_only_never_json_routes_or_writes(app, settings):
    client = app.test_client()
    token, _ = new_key(settings)
    sign_in(client, token)
    for answer in (client.get("/v1/jobs/abc"), client.get("/v1/jobs/abc/results"),
                   client.post("/v1/predictions", json={"model": "akt1", "molecules": [{"smiles": "CCO"}]})):
        assert (answer.status_code, answer.get_json()["error"]["code"]) == (401, "authentication_required")
    for path in ("/v1/jobs/abc/page", "/v1/jobs/abc/results/0/depiction.svg"):
        assert client.get(path).get_json()["error"]["code"] == "job_not_found"
    assert client.head(CARD).status_code == 404
    wrong = client.get(CARD, headers={"Authorization": "Bearer cm_00000000_wrong"})
    assert wrong.status_code == 401  # a header wins over the cookie, and a wrong one is no redirect


def test_a_revoked_key_ends_its_session_at_once_and_sign_out_clears_the_cookie(app, settings):
    client = app.test_client()
    token, key_id = new_key(settings)
    sign_in(client, token)
    assert client.get(CARD).status_code == 404
    revoke_key(key_id, database_url=settings.database_url)
    answer = client.get(CARD)
    assert answer.status_code == 303 and urlsplit(answer.headers["Location"]).path == "/v1/session"
    assert cookie_of(client) is None  # cleared on the way to the form
    assert sign_in(client, token).status_code == 401

    other, _ = new_key(settings)
    sign_in(client, other)
    out = client.post("/v1/session/logout")
    assert (out.status_code, out.headers["Location"]) == (303, "/v1/session")
    assert cookie_of(client) is None and client.get(CARD).status_code == 303
    sign_in(client, other)
    assert client.delete("/v1/session").status_code == 204 and cookie_of(client) is None


def test_over_https_the_cookie_is_secure(app, settings):
    client = app.test_client()
    token, _ = new_key(settings)
    answer = client.post("/v1/session", data={"api_key": token}, base_url="https://lab.example")
    assert answer.status_code == 303 and answer.headers["Location"] == "/v1/session"
    assert "Secure" in {part.strip() for part in answer.headers["Set-Cookie"].split(";")}


@pytest.mark.parametrize(("data", "headers", "status", "code"), [
    ({}, {}, 400, "validation_error"),
    ({"api_key": "", "next": CARD}, {}, 400, "validation_error"),
    ({"api_key": "cm_x", "next": "//evil.example/"}, {}, 400, "validation_error"),
    ({"api_key": "cm_00000000_unknown", "next": CARD}, {}, 401, "authentication_required"),
    ({"api_key": "anything", "next": CARD}, {"Origin": "https://evil.example"}, 403, "cross_origin_request"),
    ({"api_key": "anything", "next": CARD}, {"Sec-Fetch-Site": "cross-site"}, 403, "cross_origin_request"),
])
def test_a_bad_form_is_shown_again_with_the_error_and_no_cookie(app, data, headers, status, code):
    client = app.test_client()
    answer = client.post("/v1/session", data=data, headers=headers)
    text = answer.get_data(as_text=True)
    assert answer.status_code == status and answer.mimetype == "text/html"
    assert f'data-code="{code}"' in text and 'name="api_key"' in text
    assert "evil.example" not in text  # an unsafe next is not carried on
    assert cookie_of(client) is None


def test_the_form_is_signed_in_from_its_own_origin(app, settings):
    token, _ = new_key(settings)
    answer = sign_in(app.test_client(), token, Origin="http://localhost", **{"Sec-Fetch-Site": "same-origin"})
    assert answer.status_code == 303
    refused = app.test_client().post("/v1/session/logout", headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403


def test_an_unsafe_next_in_the_link_is_refused(app):
    answer = app.test_client().get("/v1/session?next=https://evil.example/")
    assert answer.status_code == 400 and 'data-code="validation_error"' in answer.get_data(as_text=True)
    assert "https://evil.example" not in answer.get_data(as_text=True).split("<form")[1]


@pytest.mark.parametrize("change", [{"redis_url": "redis://127.0.0.1:1/0", "session_secret": None},
                                    {"auth_required": False}])
def test_without_a_secret_sign_in_is_off_and_pages_answer_as_before(settings, tmp_path, change, settings_env):
    settings_env()
    app = make_app(dataclasses.replace(settings, **change), tmp_path)
    client = app.test_client()
    for answer in (client.get("/v1/session"), client.post("/v1/session", data={"api_key": "cm_x"})):
        assert answer.status_code == 404 and 'data-code="sign_in_disabled"' in answer.get_data(as_text=True)
    page = client.get(CARD)
    if change.get("auth_required") is False:
        assert page.get_json()["error"]["code"] == "model_not_found"  # no keys at all: the page opens
    else:
        assert "CAUSALMOL_SESSION_SECRET" in client.get("/v1/session").get_data(as_text=True)
        assert (page.status_code, page.get_json()["error"]["code"]) == (401, "authentication_required")
