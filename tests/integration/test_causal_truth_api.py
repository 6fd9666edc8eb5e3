"""Known truth through the HTTP API: semi-synthetic outcomes (REAL structures and REAL ChEMBL assay ids of 64
assays, nearly all under 20 compounds; SYNTHETIC pActivity, ``tests/semisynthetic.py``) answered by
``POST /v1/causal/effects`` and by the causal profile of a model trained with the substructures asked for."""

from __future__ import annotations

import pytest
import requests

from tests.conftest import poll_job
from tests.integration.lab_data import train, upload
from tests.semisynthetic import (
    EXPECTED_STATUS,
    KNOWN_TRUTH,
    TOLERANCE,
    as_csv,
    assert_profile_recovers_the_truth,
    generate,
    real_structures,
)

pytestmark = pytest.mark.integration

MAPPING = {"structure": "canonical_smiles", "activity": "pactivity", "id": "id", "context": ["assay_chembl_id"],
           "mechanism": "mechanism"}


@pytest.fixture(scope="module")
def dataset(gateway) -> dict:
    uploaded = upload(gateway, as_csv(generate(real_structures(), KNOWN_TRUTH)), MAPPING)
    assert uploaded.status_code in (200, 201), uploaded.text
    return uploaded.json()


@pytest.mark.parametrize("truth", KNOWN_TRUTH, ids=lambda t: t.smarts)
def test_the_effect_question_recovers_the_truth(gateway, dataset, truth) -> None:
    question = {"dataset_id": dataset["dataset_id"], "treatment": {"smarts": truth.smarts},
                "confounders": ["assay_chembl_id"], "seed": 0}
    accepted = requests.post(gateway.url("/v1/causal/effects"), json=question, timeout=10)
    assert accepted.status_code == 202, accepted.text
    job = poll_job(gateway, accepted.json()["job_id"], timeout=180)
    assert job["status"] == "succeeded", job
    adjusted = job["result"]["adjusted_effect"]
    assert abs(adjusted["value"] - truth.effect) <= TOLERANCE
    assert adjusted["ci"][0] <= truth.effect <= adjusted["ci"][1]
    assert job["result"]["verdict"] == EXPECTED_STATUS[truth.smarts]
    assert job["result"]["confounders"]["levels"]["assay_chembl_id"]["levels"] >= 40  # no level pooled away


def test_the_profile_of_a_model_asked_for_those_substructures_recovers_the_truth(gateway, dataset) -> None:
    result = train(gateway, {"name": "known-truth", "dataset_id": dataset["dataset_id"], "seed": 0,
                             "estimator": {"name": "random_forest", "params": {"n_estimators": 30}},
                             "treatments": [t.smarts for t in KNOWN_TRUTH]})
    assert result["causal_profile"]["status"] == "ready"
    profile = requests.get(gateway.url(f"/v1/models/{result['model']}/causal"), timeout=10).json()
    assert_profile_recovers_the_truth(profile)
    assert {t["kind"] for t in profile["treatments"] if t["smarts"] in EXPECTED_STATUS} == {"user"}
