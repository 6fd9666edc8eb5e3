"""services/gateway/docs.py and openapi.py: Swagger UI served from local files, and the document it shows."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import pytest
from flask import Flask

from services.gateway import api, audit_api, docs, health, jobs_api, pages, registry_api
from services.gateway.openapi import build_spec

REPO = Path(__file__).resolve().parents[2]


class Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


@pytest.fixture(scope="module")
def client():
    app = Flask("gateway-under-test")
    docs.init_app(app)
    return app.test_client()


@pytest.fixture(scope="module")
def page(client):
    response = client.get("/docs/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def test_a_bare_docs_url_redirects_to_the_page(client):
    response = client.get("/docs")
    assert response.status_code == 308
    assert response.headers["Location"].endswith("/docs/")


def test_the_page_points_at_the_openapi_document_and_no_online_validator(page):
    config = json.loads(re.search(r"var user_config = (\{.*?\});", page).group(1))
    assert config["url"] == "/openapi.json"
    assert config["validatorUrl"] is None  # else the UI fetches a badge from validator.swagger.io
    assert "<title>causalmol API</title>" in page


def test_no_external_url_in_the_page(page):
    for url in re.findall(r"https?://[^\s\"'<>]+", page):
        assert urlparse(url).hostname == "localhost", url  # only the page's own oauth2 redirect, on this server


def test_every_asset_is_served_locally(client, page):
    parser = Assets()
    parser.feed(page)
    assert {"/docs/swagger-ui-bundle.js", "/docs/swagger-ui-standalone-preset.js", "/docs/swagger-ui.css"} <= set(
        parser.urls)
    for url in parser.urls:
        assert url.startswith("/docs/"), url
        response = client.get(url)
        assert response.status_code == 200, url
        assert len(response.data) > 100, url
    assert "javascript" in client.get("/docs/swagger-ui-bundle.js").mimetype


def test_an_unknown_asset_is_404(client):
    assert client.get("/docs/nope.js").status_code == 404


@pytest.fixture(scope="module")
def spec():
    return build_spec("1.0")


def routes() -> dict[tuple[str, str], str]:
    """(OpenAPI path, method) -> the view function's name, for every API route."""
    app = Flask(__name__)
    for blueprint in (api.bp, registry_api.bp, jobs_api.bp, health.bp, pages.bp, audit_api.bp):
        app.register_blueprint(blueprint)
    found = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static":
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                found[(path, method.lower())] = app.view_functions[rule.endpoint].__name__
    return found


def test_every_operation_has_the_operation_id_of_its_view(spec):
    documented = {(path, method): operation["operationId"]
                  for path, operations in spec["paths"].items() for method, operation in operations.items()}
    assert documented == routes()
    assert len(set(documented.values())) == len(documented)


def test_the_molecule_limit_is_in_the_schema(spec):
    molecules = spec["components"]["schemas"]["PredictionRequest"]["properties"]["molecules"]
    assert (molecules["minItems"], molecules["maxItems"]) == (1, 100_000)
    assert "100,000" in molecules["description"]
    assert molecules["items"] == {"$ref": "#/components/schemas/MoleculeIn"}


PROBE = """
import json
import services.gateway
client = services.gateway.create_app().test_client()
spec = client.get("/openapi.json").get_json()
print(json.dumps({
    "docs": client.get("/docs/").status_code,
    "bundle": client.get("/docs/swagger-ui-bundle.js").status_code,
    "metrics": client.get("/metrics").status_code,
    "max_items": spec["components"]["schemas"]["PredictionRequest"]["properties"]["molecules"]["maxItems"],
}))
"""


def test_the_app_serves_docs_metrics_and_the_configured_limit(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAUSALMOL_", "PROMETHEUS_"))}
    env.update(CAUSALMOL_REDIS_URL="redis://127.0.0.1:1/0", CAUSALMOL_HOME=str(tmp_path),
               CAUSALMOL_MAX_MOLECULES="2500")  # distributed mode, so no embedded worker starts; nothing connects
    proc = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"docs": 200, "bundle": 200, "metrics": 200,
                                                                "max_items": 2500}
