"""Issue 4 through the HTTP API: a PIK3CA model trained with the assay as context gets a causal profile; its
predictions carry mechanism, evidence and a verdict; a scientist's own causal-effect question is answered with
refutations. Real data (bundled PIK3CA IC50 records, ChEMBL CC BY-SA 3.0)."""

from __future__ import annotations

import pytest
import requests

from shared.schemas import EFFECT_STATUSES, NOT_PROFILED, VERDICTS
from shared.verdicts import RELIANCE
from tests.conftest import poll_job

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trained(profiled_model) -> dict:
    return profiled_model  # trained once per session (tests/conftest.py), also by the pipeline test


def test_the_model_has_a_causal_profile_with_adjusted_effects(gateway, trained) -> None:
    assert trained["causal_profile"]["status"] == "ready"
    profile = requests.get(gateway.url(f"/v1/models/{trained['model']}/causal"), timeout=10).json()
    assert profile["dataset"]["context_columns"] == ["assay_chembl_id"]
    assert "assay_chembl_id" in profile["confounders"]["graph"]
    assert profile["mechanisms"]["items"], "mechanisms were discovered"
    effects = profile["effects"]
    assert len(effects) >= 5
    for effect in effects:
        assert effect["status"] in EFFECT_STATUSES
        assert effect["smarts"] and effect["reasons"]
        assert {"naive_effect", "adjusted_effect", "refutations", "simpson_reversal"} <= set(effect)
    # On these four real assays some substructure associations do not survive adjustment for the assay.
    assert profile["effect_counts"]["confounded"] >= 1
    assert all(e["name"] for e in effects), "every substructure has a chemist's name"
    card = requests.get(gateway.url(f"/v1/models/{trained['model']}"), timeout=10).json()
    assert card["causal_profile"]["status"] == "ready"


def test_predictions_carry_mechanism_evidence_and_a_verdict(gateway, trained) -> None:
    molecules = [
        {"id": "chromone", "smiles": "O=c1cc(N2CCOCC2)oc2c(-c3ccccc3)cccc12"},
        {"id": "thiazolidinedione", "smiles": "O=C1NC(=O)/C(=C/c2ccc(-c3ccc(O)cc3O)o2)S1"},
        {"id": "alkane", "smiles": "CCCCCCCCCCCC"},
    ]
    job = requests.post(gateway.url("/v1/predictions"), timeout=40,
                        json={"model": trained["model"], "molecules": molecules, "wait": 20}).json()
    assert job["status"] == "succeeded"
    for result in job["results"]:
        validity = result["causal_validity"]
        assert validity["verdict"] in VERDICTS and validity["reasons"]
        assert validity["verdict"] != "unknown"  # the model has a profile
        assert validity["mechanism"] is not None and 0 <= validity["mechanism"]["probability"] <= 1
        for item in validity["evidence"]:
            assert item["status"] in (*EFFECT_STATUSES, NOT_PROFILED) and item["substructure"]
            assert item["reliance"] in RELIANCE and item["name"] and item["atoms"]
        attribution = validity["attribution"]  # random forest: the split is additive
        assert attribution["baseline"] + attribution["sum_of_substructures"] + attribution["remainder"] == (
            pytest.approx(result["prediction"]["value"], abs=0.01))
    assert job["results"][2]["causal_validity"]["verdict"] in ("caution", "unsupported")  # far outside the domain


def test_a_causal_effect_question_is_answered_with_refutations(gateway, trained) -> None:
    # Sulfonamides look 2 log units more potent pooled, because the assays that measured them were the potent ones.
    question = {"dataset_id": trained["dataset"]["dataset_id"], "treatment": {"smarts": "S(=O)(=O)N"},
                "confounders": ["assay_chembl_id"], "seed": 7}
    accepted = requests.post(gateway.url("/v1/causal/effects"), json=question, timeout=10)
    assert accepted.status_code == 202
    job = poll_job(gateway, accepted.json()["job_id"], timeout=180)
    assert job["status"] == "succeeded", job
    answer = job["result"]
    assert answer["verdict"] == "confounded"
    assert answer["naive_effect"]["value"] > 1.5
    assert abs(answer["adjusted_effect"]["value"]) < answer["naive_effect"]["value"] / 2
    assert {r["name"] for r in answer["refutations"]} == {"placebo_treatment", "random_common_cause", "data_subset"}
    assert all(isinstance(r["passed"], bool) for r in answer["refutations"])
    assert answer["graph"].startswith("digraph")
    assert answer["per_stratum"] and isinstance(answer["simpson_reversal"], bool)

    bad = requests.post(gateway.url("/v1/causal/effects"), timeout=10,
                        json={**question, "confounders": ["no_such_column"]})
    assert bad.status_code == 400 and "assay_chembl_id" in bad.json()["error"]["details"]["available_columns"]
