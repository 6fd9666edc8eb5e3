"""Browser sign-in on the real distributed stack (gunicorn gateway, real workers, PostgreSQL keys): the cookie opens
the pages of its key's project and nothing else, and a revoked key's session ends at once; and on an embedded
gateway, whose secret is made under its home, every gunicorn worker honours a cookie another one signed."""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from services.accounts.keys import revoke_key
from services.audit.records import query
from services.gateway.session import COOKIE, SECRET_FILE, sign, verify
from shared.config import load_settings
from tests.conftest import SESSION_SECRET, create_test_key, job_of_own_key, start_gateway, stop_process

pytestmark = pytest.mark.integration
MOLECULES = [{"id": "capivasertib", "smiles": "NC(=O)C1(CCN(CC1)c1ncnc2[nH]ccc12)Cc1ccc(Cl)cc1"},
             {"id": "bad", "smiles": "C1CC"}]


def browser_like() -> requests.Session:
    """A client that sends no key, as a browser does (the test key is not added to its requests)."""
    client = requests.Session()
    client.headers["Authorization"] = None  # type: ignore[assignment]  # None: requests sends no such header
    return client


def sign_in(gateway, token: str, next_: str = "") -> tuple[requests.Session, requests.Response]:
    client = browser_like()
    answer = client.post(gateway.url("/v1/session"), data={"api_key": token, "next": next_}, timeout=10,
                         allow_redirects=False)
    return client, answer


@pytest.fixture(scope="module")
def project_job(gateway, stack_env) -> tuple[str, str]:
    """A succeeded job of project ``lab-session`` and the token of the key that made it."""
    return job_of_own_key(gateway, stack_env, "lab-session", MOLECULES)


def test_a_browser_signs_in_and_opens_its_projects_pages_only(gateway, stack_env, project_job) -> None:
    token, job_id = project_job
    page = f"/v1/jobs/{job_id}/page"
    anonymous = browser_like().get(gateway.url(page), timeout=10, allow_redirects=False)
    assert anonymous.status_code == 303
    location = urlsplit(anonymous.headers["Location"])
    assert location.path == "/v1/session" and parse_qs(location.query) == {"next": [page]}

    client, signed = sign_in(gateway, token, page)
    assert (signed.status_code, signed.headers["Location"]) == (303, page)
    key_id = verify(SESSION_SECRET, client.cookies[COOKIE])  # signed with the secret every gateway shares
    assert key_id and token not in signed.headers["Set-Cookie"]
    results = client.get(gateway.url(page), timeout=60)
    assert results.status_code == 200 and "capivasertib" in results.text and "invalid_smiles" in results.text
    depiction = client.get(gateway.url(f"/v1/jobs/{job_id}/results/capivasertib/depiction.svg"), timeout=60)
    assert depiction.status_code == 200 and "<svg" in depiction.text
    assert client.get(gateway.url("/v1/models/akt1/card"), timeout=60).status_code == 200

    # The cookie is for page reads: JSON routes and writes still need the header.
    assert client.get(gateway.url(f"/v1/jobs/{job_id}"), timeout=10).status_code == 401
    posted = client.post(gateway.url("/v1/predictions"), json={"model": "akt1", "molecules": MOLECULES}, timeout=10)
    assert posted.status_code == 401

    # Another project's session: the job is unknown to it, as with its header.
    other, _ = sign_in(gateway, create_test_key(stack_env, project="lab-elsewhere", scopes=("predict",)))
    foreign = other.get(gateway.url(page), timeout=10)
    assert (foreign.status_code, foreign.json()["error"]["code"]) == (404, "job_not_found")

    records = query(action="session.sign_in", database_url=stack_env["CAUSALMOL_DATABASE_URL"])["records"]
    assert (key_id, "lab-session", 303) in {(r["key_id"], r["project"], r["status"]) for r in records}

    revoke_key(key_id, database_url=stack_env["CAUSALMOL_DATABASE_URL"])
    revoked = client.get(gateway.url(page), timeout=10, allow_redirects=False)
    assert revoked.status_code == 303 and urlsplit(revoked.headers["Location"]).path == "/v1/session"
    assert COOKIE not in client.cookies  # cleared on the way to the form
    assert sign_in(gateway, token)[1].status_code == 401


def test_a_forged_or_foreign_cookie_opens_nothing(gateway, stack_env, project_job) -> None:
    _, job_id = project_job
    live_key = verify(SESSION_SECRET, sign_in(gateway, create_test_key(stack_env))[0].cookies[COOKIE])
    for cookie in (sign("another-installation-" + "x" * 32, live_key), "not-a-cookie"):
        client = browser_like()
        client.cookies.set(COOKIE, cookie)
        answer = client.get(gateway.url(f"/v1/jobs/{job_id}/page"), timeout=10, allow_redirects=False)
        assert answer.status_code == 303


def test_sign_in_over_a_bad_form_shows_it_again(gateway) -> None:
    client = browser_like()
    for data, status, code in (({"next": "/v1/models/akt1/card"}, 400, "validation_error"),
                               ({"api_key": "cm_00000000_nope"}, 401, "authentication_required"),
                               ({"api_key": "cm_x", "next": "//evil.example"}, 400, "validation_error")):
        answer = client.post(gateway.url("/v1/session"), data=data, timeout=10, allow_redirects=False)
        assert answer.status_code == status and f'data-code="{code}"' in answer.text, answer.text
    assert not client.cookies


@pytest.fixture(scope="module")
def embedded_gateway(models_dir, tmp_path_factory):
    home = tmp_path_factory.mktemp("session-home")
    env = {k: v for k, v in os.environ.items()
           if k not in ("CAUSALMOL_REDIS_URL", "CAUSALMOL_API_KEY", "CAUSALMOL_SESSION_SECRET", "CAUSALMOL_AUTH")}
    env.update(CAUSALMOL_MODELS_DIR=str(models_dir), CAUSALMOL_HOME=str(home),
               CAUSALMOL_DATASETS_DIR=str(tmp_path_factory.mktemp("session-datasets")))
    gw = start_gateway(env, home / "gateway.log", workers=2)
    yield gw, env
    stop_process(gw.proc)


def test_embedded_mode_makes_one_secret_every_worker_honours(embedded_gateway) -> None:
    gw, env = embedded_gateway
    client, signed = sign_in(gw, gw.api_key or "", "/v1/models/akt1/card")
    assert signed.status_code == 303
    secret_file = load_settings(env).home / SECRET_FILE
    assert verify(secret_file.read_text().strip(), client.cookies[COOKIE])
    # Fresh connections, which gunicorn hands to either worker: whichever made the secret, the other reads it.
    statuses = {requests.get(gw.url("/v1/models/akt1/card"), cookies={COOKIE: client.cookies[COOKIE]},
                             headers={"Authorization": None}, timeout=60).status_code for _ in range(12)}
    assert statuses == {200}
