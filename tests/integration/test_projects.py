"""Keys and projects on the distributed stack (real Redis, workers, PostgreSQL): 401, 403, 429, and two projects
that cannot see or touch each other's datasets, models, jobs, results, exports, causal questions and profiles.

Project ``tests`` (the default test key) owns the lab's PIK3CA model (``profiled_model``); project ``other`` tries
every route on it and must get the answers an unknown id gets. The reference model stays readable by both.
"""

from __future__ import annotations

import pytest
import requests

from tests.conftest import create_test_key, poll_job
from tests.integration.lab_data import MAPPING, lab_csv

pytestmark = pytest.mark.integration
NO_KEY = {"Authorization": None}  # requests drops a None header: this request carries no key at all


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_code(response: requests.Response) -> str:
    return response.json()["error"]["code"]


@pytest.fixture(scope="module")
def other(stack_env) -> dict[str, str]:
    return bearer(create_test_key(stack_env, project="other", scopes=("predict", "train")))


@pytest.fixture(scope="module")
def own_job(gateway) -> dict:
    """A finished prediction of project ``tests`` with its own model."""
    body = {"model": "pik3ca-causal", "wait": 30, "molecules": [{"id": "a", "smiles": "CCOc1ccccc1"}]}
    return requests.post(gateway.url("/v1/predictions"), json=body, timeout=60).json()


def test_without_a_key_every_v1_route_is_401_and_the_open_routes_stay_open(gateway):
    for method, path in [("GET", "/v1/models"), ("POST", "/v1/predictions"), ("GET", "/v1/jobs/x"),
                         ("GET", "/v1/audit"), ("DELETE", "/v1/models/akt1@1")]:
        response = requests.request(method, gateway.url(path), headers=NO_KEY, timeout=10)
        assert response.status_code == 401, (method, path)
        assert error_code(response) == "authentication_required"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    for path in ("/healthz", "/readyz", "/openapi.json", "/metrics", "/docs/"):
        assert requests.get(gateway.url(path), headers=NO_KEY, timeout=10).status_code in (200, 503), path


def test_a_wrong_or_revoked_key_is_401_and_x_api_key_works_too(gateway, stack_env):
    from services.accounts.keys import revoke_key

    wrong = requests.get(gateway.url("/v1/models"), headers=bearer("cm_00000000_not-a-key"), timeout=10)
    assert (wrong.status_code, error_code(wrong)) == (401, "authentication_required")
    token = create_test_key(stack_env, project="short-lived")
    assert requests.get(gateway.url("/v1/models"), headers={"X-API-Key": token}, timeout=10).status_code == 200
    revoke_key(token.split("_")[0] + "_" + token.split("_")[1], "test", stack_env["CAUSALMOL_DATABASE_URL"])
    revoked = requests.get(gateway.url("/v1/models"), headers={"X-API-Key": token}, timeout=10)
    assert (revoked.status_code, error_code(revoked)) == (401, "authentication_required")


def test_a_missing_scope_is_403(gateway, stack_env):
    predict_only = bearer(create_test_key(stack_env, project="tests", scopes=("predict",)))
    for method, path, kwargs in [
        ("POST", "/v1/models", {"json": {"name": "x", "dataset_id": "ds_0"}}),
        ("POST", "/v1/causal/effects", {"json": {"dataset_id": "ds_0", "treatment": {"smarts": "C"}}}),
        ("POST", "/v1/datasets", {"files": {"file": ("a.csv", b"smiles,y\nC,1\n")}}),
        ("DELETE", "/v1/models/akt1@1", {}),
        ("GET", "/v1/audit", {}),
    ]:
        response = requests.request(method, gateway.url(path), headers=predict_only, timeout=10, **kwargs)
        assert (response.status_code, error_code(response)) == (403, "insufficient_scope"), (method, path)
    body = {"model": "akt1", "molecules": [{"smiles": "CCO"}]}
    assert requests.post(gateway.url("/v1/predictions"), json=body, headers=predict_only, timeout=10).status_code \
        in (200, 202)


def test_over_its_rate_a_key_gets_429_with_retry_after(gateway, stack_env):
    limited = bearer(create_test_key(stack_env, project="tests", rate_limit="3/minute"))
    answers = [requests.get(gateway.url("/v1/models"), headers=limited, timeout=10) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]  # one budget across both gunicorn workers
    assert error_code(answers[-1]) == "rate_limited"
    assert 0 < int(answers[-1].headers["Retry-After"]) <= 60
    # Another key is not held back by it.
    assert requests.get(gateway.url("/v1/models"), timeout=10).status_code == 200


def test_another_projects_objects_are_404_on_every_route(gateway, profiled_model, own_job, other):
    dataset_id = profiled_model["dataset"]["dataset_id"]
    ref = profiled_model["model"]
    job_id = own_job["job_id"]
    assert own_job["status"] == "succeeded"
    tries = [
        ("GET", f"/v1/datasets/{dataset_id}", {}, "dataset_not_found"),
        ("POST", "/v1/models", {"json": {"name": "stolen", "dataset_id": dataset_id}}, "dataset_not_found"),
        ("POST", "/v1/causal/effects", {"json": {"dataset_id": dataset_id, "treatment": {"smarts": "CO"},
                                                 "confounders": ["assay_chembl_id"]}}, "dataset_not_found"),
        ("GET", f"/v1/models/{ref}", {}, "model_not_found"),
        ("GET", "/v1/models/pik3ca-causal", {}, "model_not_found"),
        ("GET", f"/v1/models/{ref}/causal", {}, "model_not_found"),
        ("DELETE", f"/v1/models/{ref}", {}, "model_not_found"),
        ("POST", "/v1/predictions", {"json": {"model": ref, "molecules": [{"smiles": "CCO"}]}}, "model_not_found"),
        ("GET", f"/v1/jobs/{job_id}", {}, "job_not_found"),
        *[("GET", f"/v1/jobs/{job_id}/results?format={f}", {}, "job_not_found") for f in ("json", "csv", "sdf")],
    ]
    for method, path, kwargs, code in tries:
        response = requests.request(method, gateway.url(path), headers=other, timeout=30, **kwargs)
        assert (response.status_code, error_code(response)) == (404, code), (method, path, response.text)
    listing = requests.get(gateway.url("/v1/models"), headers=other, timeout=10).json()["models"]
    assert "pik3ca-causal" not in {m["name"] for m in listing} and "akt1" in {m["name"] for m in listing}
    unknown = requests.post(gateway.url("/v1/predictions"), headers=other, timeout=10,
                            json={"model": "no-such-model", "molecules": [{"smiles": "C"}]}).json()
    assert "pik3ca-causal" not in unknown["error"]["details"]["known"]  # no name leaks through the hint either
    # Nothing was touched: the owner still reads, predicts with and exports it.
    assert requests.get(gateway.url(f"/v1/models/{ref}"), timeout=10).json()["retired"] is False
    assert requests.get(gateway.url(f"/v1/jobs/{job_id}/results?format=csv"), timeout=30).status_code == 200


def test_the_same_file_is_its_own_dataset_in_each_project_and_a_taken_name_is_409(gateway, profiled_model, other):
    theirs = requests.post(gateway.url("/v1/datasets"), headers=other, timeout=60,
                           files={"file": ("lab.csv", lab_csv(), "text/csv")},
                           data={"mapping": __import__("json").dumps(MAPPING), "wait": "30"})
    assert theirs.status_code in (201, 202), theirs.text
    dataset_id = theirs.json()["dataset_id"]
    assert dataset_id != profiled_model["dataset"]["dataset_id"]
    if theirs.status_code == 202:
        assert poll_job(gateway, theirs.json()["job_id"], timeout=60)["status"] == "succeeded"
    taken = requests.post(gateway.url("/v1/models"), headers=other, timeout=10,
                          json={"name": "pik3ca-causal", "dataset_id": dataset_id})
    assert (taken.status_code, error_code(taken)) == (409, "model_name_taken")
    # Their dataset is theirs: the owner of the first upload cannot read it.
    assert requests.get(gateway.url(f"/v1/datasets/{dataset_id}"), timeout=10).status_code == 404


def test_the_reference_model_is_readable_by_all_but_only_an_admin_retires_it(gateway, other):
    assert requests.get(gateway.url("/v1/models/akt1"), headers=other, timeout=10).status_code == 200
    body = {"model": "akt1", "wait": 30, "molecules": [{"smiles": "CCO"}]}
    assert requests.post(gateway.url("/v1/predictions"), json=body, headers=other, timeout=60).json()["status"] \
        == "succeeded"
    refused = requests.delete(gateway.url("/v1/models/akt1@1"), headers=other, timeout=10)
    assert (refused.status_code, error_code(refused)) == (403, "insufficient_scope")
