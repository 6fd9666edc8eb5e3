"""The distributed pipeline end to end: gunicorn gateway -> featurizer -> scoring over real Redis, with a model
that has no causal profile (``akt1``, built with ``--skip-profile``) and one trained through the API with its
profile (``profiled_model``), whose verdicts the profile decides."""

from __future__ import annotations

import pytest
import requests

from tests.conftest import poll_job

pytestmark = pytest.mark.integration

THREE = [
    {"id": "adenine-like", "smiles": "Nc1ncnc2[nH]ccc12"},
    {"id": "broken", "smiles": "C1CC"},
    {"id": "capivasertib", "smiles": "NC(=O)C1(CCN(CC1)c1ncnc2[nH]ccc12)Cc1ccc(Cl)cc1"},
]


def post(gateway, body: dict) -> requests.Response:
    return requests.post(gateway.url("/v1/predictions"), json=body, timeout=40)


def test_three_molecules_one_invalid_end_to_end(gateway) -> None:
    accepted = post(gateway, {"model": "akt1", "molecules": THREE})
    assert accepted.status_code == 202
    body = accepted.json()
    assert body["status"] == "queued"
    assert body["status_url"].endswith(f"/v1/jobs/{body['job_id']}")

    job = poll_job(gateway, body["job_id"])
    assert job["status"] == "succeeded", job
    assert job["progress"] == {"done": 3, "total": 3}
    assert job["model"] == {"name": "akt1", "version": 1}
    assert job["finished_at"] and job["created_at"] and job["error"] is None
    results = job["results"]
    assert [r["id"] for r in results] == ["adenine-like", "broken", "capivasertib"]  # input order across chunks

    good = [r for r in results if r["error"] is None]
    assert len(good) == 2
    for result in good:
        prediction = result["prediction"]
        assert prediction["unit"] == "pActivity"
        assert 2.0 < prediction["value"] < 12.0
        lo, hi = prediction["interval"]
        assert lo < prediction["value"] < hi
        validity = result["causal_validity"]
        assert validity["verdict"] in ("supported", "caution", "unsupported", "unknown")
        assert validity["reasons"], "every verdict says why"
        domain = validity["applicability_domain"]
        assert 0.0 <= domain["max_similarity"] <= 1.0
        assert domain["in_domain"] == (domain["max_similarity"] >= domain["threshold"])

    broken = results[1]
    assert broken["prediction"] is None and broken["causal_validity"] is None
    assert broken["error"]["code"] == "invalid_smiles"
    assert broken["input_smiles"] == "C1CC"


def test_wait_returns_the_finished_job_in_the_same_call(gateway) -> None:
    response = post(gateway, {"model": "akt1@1", "molecules": THREE[:1], "wait": 20})
    assert response.status_code == 200
    job = response.json()
    assert job["status"] == "succeeded"
    assert job["results"][0]["canonical_smiles"] == "Nc1ncnc2[nH]ccc12"


def test_missing_ids_default_to_the_input_index(gateway) -> None:
    response = post(gateway, {"model": "akt1", "molecules": [{"smiles": "CCO"}, {"smiles": "c1ccccc1O"}], "wait": 20})
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == ["0", "1"]


def test_a_far_away_molecule_is_out_of_domain_with_caution(gateway) -> None:
    job = post(gateway, {"model": "akt1", "molecules": [{"id": "x", "smiles": "CCCCCCCCCCCCCCCC"}], "wait": 20}).json()
    validity = job["results"][0]["causal_validity"]
    assert validity["applicability_domain"]["in_domain"] is False
    assert validity["verdict"] == "caution"
    assert any("applicability domain" in reason for reason in validity["reasons"])


def test_a_larger_batch_is_chunked_and_counted(gateway) -> None:
    molecules = [{"id": f"m{i}", "smiles": "c1ccccc1" + "C" * (i % 7)} for i in range(25)]
    job = poll_job(gateway, post(gateway, {"model": "akt1", "molecules": molecules}).json()["job_id"])
    assert job["status"] == "succeeded"
    assert job["progress"] == {"done": 25, "total": 25}
    assert [r["id"] for r in job["results"]] == [m["id"] for m in molecules]


def test_readyz_reports_every_queue(gateway) -> None:
    response = requests.get(gateway.url("/readyz"), timeout=10)
    assert response.status_code == 200
    assert response.json()["checks"] == {
        "broker": True, "queue:featurizer": True, "queue:scoring": True, "queue:predictor": True, "queue:causal": True,
        "models": True, "database": True,
    }


def test_openapi_is_served(gateway) -> None:
    spec = requests.get(gateway.url("/openapi.json"), timeout=5).json()
    assert "/v1/predictions" in spec["paths"]
    assert "PredictionRequest" in spec["components"]["schemas"]


# A member of the training series (PIK3CA assay CHEMBL3705641, ChEMBL CC BY-SA 3.0): in the domain, the trees
# agree, its mechanism's focus is high and all it relies on is consistent with the profile's effects.
SERIES_MEMBER = {"id": "CHEMBL3693643", "smiles": "O=C(O)c1cc(Cl)c2nc(N3CCOCC3)nc(-c3cccc(O)c3)c2n1"}
FAR_AWAY = {"id": "far", "smiles": "CCCCCCCCCCCCCCCC"}


def test_the_profile_decides_the_verdict_of_a_series_member_and_a_far_molecule(gateway, profiled_model) -> None:
    model = profiled_model["model"]
    assert profiled_model["causal_profile"]["status"] == "ready"
    profile = requests.get(gateway.url(f"/v1/models/{model}/causal"), timeout=10).json()
    job = post(gateway, {"model": model, "molecules": [SERIES_MEMBER, FAR_AWAY], "wait": 20}).json()
    assert job["status"] == "succeeded", job
    member, far = (r["causal_validity"] for r in job["results"])

    assert member["verdict"] == "supported", member["reasons"]
    assert member["applicability_domain"]["max_similarity"] == 1.0  # it is a training molecule
    assert member["mechanism"]["id"] in {m["id"] for m in profile["mechanisms"]["items"]}
    assert member["mechanism"]["focus"] >= 0.8
    effects = {e["smarts"]: e for e in profile["effects"]}
    compared = [item for item in member["evidence"]
                if item["effect_scope"] == "all" and item["substructure"] in effects]
    assert compared, "the evidence cites the profile's effects"
    for item in compared:  # each relied-on substructure's status and effect are the profile's own
        effect = effects[item["substructure"]]
        assert item["status"] == effect["status"]
        assert item["adjusted_effect"] == pytest.approx(effect["adjusted_effect"]["value"], abs=1e-3)

    assert far["applicability_domain"]["in_domain"] is False
    assert far["verdict"] != "supported"
    assert any("applicability domain" in reason for reason in far["reasons"])
