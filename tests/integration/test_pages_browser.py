"""The chemist's pages in a real headless Chromium: the model card, a job's results page and one depiction, served
by the embedded gateway (gunicorn, its worker thread drawing the structures with RDKit) for a model with a real
causal profile, and Swagger UI. Each page loads with no console error, every image decodes at its size, and a
screenshot is kept in ``test-artifacts/``. Then on the distributed stack, where keys are required: the browser signs
in through the form and opens the card and a results page with no header, and a revoked key's session is sent back
to the form."""

from __future__ import annotations

import os
import subprocess
import time
from urllib.parse import urlsplit

import pytest
import requests

from services.accounts.keys import revoke_key
from services.gateway.session import COOKIE, verify
from tests.conftest import (
    CAUSALMOL,
    REPO,
    SESSION_SECRET,
    job_of_own_key,
    start_gateway,
    stop_process,
    wait_until,
)
from tests.integration.browser import chromium, image_sizes, open_page

pytestmark = pytest.mark.integration

MOLECULES = [
    {"id": "capivasertib", "smiles": "NC(=O)C1(CCN(CC1)c1ncnc2[nH]ccc12)Cc1ccc(Cl)cc1"},
    {"id": "bad", "smiles": "C1CC"},
    {"id": "ipatasertib", "smiles": "CC(C)NC[C@@H](C(=O)N1CCN(CC1)c1ncnc2[C@@H](C)C[C@@H](O)c12)c1ccc(Cl)cc1"},
]


@pytest.fixture(scope="module")
def profiled_gateway(tmp_path_factory):
    """The embedded gateway over a small akt1 with its causal profile (keys off: embedded single-user mode)."""
    root = tmp_path_factory.mktemp("pages")
    env = {k: v for k, v in os.environ.items() if k not in ("CAUSALMOL_REDIS_URL", "CAUSALMOL_API_KEY")}
    env.update(CAUSALMOL_MODELS_DIR=str(root / "models"), CAUSALMOL_DATASETS_DIR=str(root / "datasets"),
               CAUSALMOL_HOME=str(root / "home"), CAUSALMOL_AUTH="disabled", CAUSALMOL_CHUNK_SIZE="2")
    subprocess.run([*CAUSALMOL, "models", "build-reference", "--limit", "200"], env=env, check=True, cwd=REPO,
                   capture_output=True, timeout=300)
    gateway = start_gateway(env, root / "gateway.log")
    yield gateway
    stop_process(gateway.proc)


@pytest.fixture(scope="module")
def job(profiled_gateway) -> dict:
    answer = requests.post(profiled_gateway.url("/v1/predictions"), timeout=60,
                           json={"model": "akt1", "molecules": MOLECULES, "wait": 30})
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


def test_results_carry_the_nearest_training_neighbours(job) -> None:
    domain = job["results"][0]["causal_validity"]["applicability_domain"]
    neighbours = domain["neighbours"]
    assert len(neighbours) == 5
    assert neighbours[0]["similarity"] == domain["max_similarity"]
    assert [n["similarity"] for n in neighbours] == sorted((n["similarity"] for n in neighbours), reverse=True)
    assert all(n["id"].startswith("CHEMBL") and n["smiles"] and 3 < n["pactivity"] < 12 for n in neighbours)


def test_model_card_page_renders_its_plots(profiled_gateway, browser) -> None:
    errors = open_page(browser, profiled_gateway.url("/v1/models/akt1/card"), "model-card")
    assert errors == []
    images = image_sizes(browser)
    assert {i["plot"] for i in images} == {"parity", "error_similarity", "coverage", "verdicts", "conditions", "forest"}
    for image in images:
        assert image["complete"] and image["natural"] > 100 and image["width"] > 100 and image["height"] > 100, image
    text = browser.find_element("tag name", "body").text
    assert "akt1@1" in text and "Mechanisms and their chemotypes" in text and "M1" in text
    # a profile built by this code judged its held-out verdicts by the rule served now: no earlier-rule note
    assert browser.find_elements("css selector", "[data-note=earlier-rule]") == []


def test_results_page_shows_each_molecule_with_its_depiction(profiled_gateway, job, browser) -> None:
    errors = open_page(browser, profiled_gateway.url(f"/v1/jobs/{job['job_id']}/page"), "results-page")
    assert errors == []
    rows = browser.find_elements("css selector", "tr[data-index]")
    assert len(rows) == len(MOLECULES)
    structures = image_sizes(browser, "tr[data-index] img")
    assert len(structures) == 2  # the molecule that failed has no structure
    for image in structures:
        assert image["complete"] and image["natural"] == 320 and (image["width"], image["height"]) == (320, 240)
    capivasertib = rows[0].text
    assert "capivasertib" in capivasertib and job["results"][0]["causal_validity"]["verdict"] in capivasertib
    assert job["results"][0]["causal_validity"]["applicability_domain"]["neighbours"][0]["id"] in capivasertib
    assert "invalid_smiles" in rows[1].text


def test_one_depiction_is_an_svg_with_highlighted_atoms(profiled_gateway, job, browser) -> None:
    url = profiled_gateway.url(f"/v1/jobs/{job['job_id']}/results/ipatasertib/depiction.svg")
    answer = requests.get(url, timeout=60)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("image/svg+xml")
    assert "<svg" in answer.text and "ellipse" in answer.text  # RDKit draws highlighted atoms as ellipses
    errors = open_page(browser, url, "depiction")
    assert errors == []
    box = browser.execute_script("const b = document.documentElement.getBoundingClientRect(); "
                                 "return [b.width, b.height]")
    assert box == [320, 240]
    failed = requests.get(profiled_gateway.url(f"/v1/jobs/{job['job_id']}/results/bad/depiction.svg"), timeout=10)
    assert failed.status_code == 422 and failed.json()["error"]["code"] == "no_structure"
    unknown = requests.get(profiled_gateway.url(f"/v1/jobs/{job['job_id']}/results/99/depiction.svg"), timeout=10)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "result_not_found"


def test_swagger_ui_lists_the_routes(profiled_gateway, browser) -> None:
    errors = open_page(browser, profiled_gateway.url("/docs/"), "swagger-ui")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not browser.find_elements("css selector", ".opblock-summary-path"):
        time.sleep(0.2)
    paths = {e.get_attribute("data-path") for e in browser.find_elements("css selector", ".opblock-summary-path")}
    spec = requests.get(profiled_gateway.url("/openapi.json"), timeout=10).json()
    assert "/v1/predictions" in paths and paths == set(spec["paths"])
    assert errors + [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


@pytest.fixture(scope="module")
def lab_job(gateway, stack_env) -> tuple[str, str]:
    """A succeeded job on the distributed stack, made with a key of its own (the test revokes it)."""
    return job_of_own_key(gateway, stack_env, "lab-browser", MOLECULES)


def path_of(browser) -> str:
    return urlsplit(browser.current_url).path


def test_a_browser_signs_in_through_the_form_and_opens_the_pages_without_a_header(gateway, stack_env, lab_job,
                                                                                  browser) -> None:
    token, job_id = lab_job
    results_page = gateway.url(f"/v1/jobs/{job_id}/page")
    assert open_page(browser, gateway.url("/v1/models/akt1/card"), "sign-in-form") == []
    assert path_of(browser) == "/v1/session"  # no key: sent to the form
    browser.find_element("id", "api_key").send_keys(token)
    browser.find_element("css selector", "#sign-in button[type=submit]").click()
    wait_until(lambda: path_of(browser) == "/v1/models/akt1/card", 60, "the card after signing in")
    assert open_page(browser, browser.current_url, "card-signed-in") == []
    plots = image_sizes(browser)
    assert "parity" in {i["plot"] for i in plots}
    assert all(i["complete"] and i["natural"] > 100 for i in plots), plots
    cookie = browser.get_cookie(COOKIE)
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and token not in cookie["value"]

    assert open_page(browser, results_page, "results-signed-in") == []
    assert path_of(browser) == f"/v1/jobs/{job_id}/page"
    assert len(browser.find_elements("css selector", "tr[data-index]")) == len(MOLECULES)
    structures = image_sizes(browser, "tr[data-index] img")
    assert len(structures) == 2 and all(i["complete"] and i["natural"] == 320 for i in structures), structures

    revoke_key(verify(SESSION_SECRET, cookie["value"]), database_url=stack_env["CAUSALMOL_DATABASE_URL"])
    assert open_page(browser, results_page, "revoked-session") == []
    assert path_of(browser) == "/v1/session" and browser.find_elements("id", "api_key")
    assert browser.get_cookie(COOKIE) is None
