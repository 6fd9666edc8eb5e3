"""services/gateway/__init__.py: the app factory, and the gateway's import isolation from the heavy services.

``create_app`` configures the process-wide Celery app, so it runs in a subprocess here: the pytest process's
own Celery configuration is left alone, and ``sys.modules`` starts clean.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("rdkit", "sklearn", "dowhy")

PROBE = """
import json, sys
HEAVY = json.loads(sys.argv[1])
import services.gateway
app = services.gateway.create_app()
client = app.test_client()
print(json.dumps({
    "heavy": {name: name in sys.modules for name in HEAVY},
    # Keys and the audit trail are the gateway's own capabilities (SQLAlchemy only): not worker services.
    "services_loaded": sorted(m for m in sys.modules if m.startswith("services.")
                              and not m.startswith(("services.gateway", "services.accounts", "services.audit"))),
    "max_content_length": app.config["MAX_CONTENT_LENGTH"],
    "embedded": app.extensions["causalmol"].settings.embedded,
    "models_dir": str(app.extensions["causalmol"].model_store.root),
    "rules": sorted(r.rule for r in app.url_map.iter_rules()),
    "healthz": client.get("/healthz").status_code,
    "openapi_version": client.get("/openapi.json").get_json()["info"]["version"],
    "broker_url": app.extensions["causalmol"].settings.redis_url,
}))
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAUSALMOL_")}
    env.update(
        CAUSALMOL_REDIS_URL="redis://127.0.0.1:1/0",  # distributed mode; nothing listens there, and nothing connects
        CAUSALMOL_MODELS_DIR=str(tmp_path_factory.mktemp("gateway-models")),
        CAUSALMOL_MAX_CONTENT_LENGTH="12345",
        CAUSALMOL_HOME=str(tmp_path_factory.mktemp("gateway-home")),
    )
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(HEAVY)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), env


def test_gateway_never_imports_rdkit_sklearn_or_dowhy(probe):
    result, _ = probe
    assert result["heavy"] == dict.fromkeys(HEAVY, False)


def test_gateway_does_not_import_the_services(probe):
    result, _ = probe
    assert result["services_loaded"] == []


def test_app_is_configured_from_the_environment(probe):
    result, env = probe
    assert result["embedded"] is False
    assert result["broker_url"] == "redis://127.0.0.1:1/0"
    assert result["max_content_length"] == 12345
    assert result["models_dir"] == env["CAUSALMOL_MODELS_DIR"]


def test_app_routes(probe):
    result, _ = probe
    assert {"/v1/predictions", "/v1/jobs/<job_id>", "/healthz", "/readyz", "/openapi.json"} <= set(result["rules"])
    assert result["healthz"] == 200


def test_openapi_document_carries_the_package_version(probe):
    from services.gateway import package_version

    result, _ = probe
    assert result["openapi_version"] == package_version() == "0.1.0"


FORWARDED_PROBE = """
import flask, services.gateway
from services.accounts.keys import create_key
app = services.gateway.create_app()
app.add_url_rule("/whoami", "whoami", lambda: flask.request.url_root)
token, _ = create_key("probe", ["predict"])
headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "lab.example", "X-Forwarded-Prefix": "/causalmol",
           "Authorization": f"Bearer {token}"}
print(app.test_client().get("/whoami", headers=headers).get_data(as_text=True))
"""


@pytest.mark.parametrize(("proxies", "root"), [("1", "https://lab.example/causalmol/"), ("0", "http://localhost/")])
def test_behind_an_ingress_urls_follow_the_forwarded_headers_only_when_trusted(tmp_path, proxies, root):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAUSALMOL_")}
    env.update(CAUSALMOL_REDIS_URL="redis://127.0.0.1:1/0", CAUSALMOL_MODELS_DIR=str(tmp_path),
               CAUSALMOL_PROXY_FIX=proxies, CAUSALMOL_HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", FORWARDED_PROBE], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == root
