"""shared/schemas.py: the shape of one molecule's result, shared by the causal service and the gateway."""

from __future__ import annotations

import pytest

from shared.schemas import VERDICTS, CausalValiditySchema, MoleculeResultSchema

GOOD_RESULT = {
    "id": "m1",
    "input_smiles": "CCO.Cl",
    "canonical_smiles": "CCO",
    "prediction": {"value": 6.1, "unit": "pActivity", "interval": [5.1, 7.1]},
    "causal_validity": {
        "verdict": "unknown",
        "reasons": ["this model has no causal profile yet, so causal support was not assessed"],
        "applicability_domain": {"max_similarity": 0.8, "in_domain": True, "threshold": 0.3},
    },
    "error": None,
}

INVALID_RESULT = {
    "id": "m2",
    "input_smiles": "C1CC",
    "canonical_smiles": None,
    "prediction": None,
    "causal_validity": None,
    "error": {"code": "invalid_smiles", "message": "RDKit could not parse this SMILES into a molecule"},
}


@pytest.mark.parametrize("result", [GOOD_RESULT, INVALID_RESULT], ids=["ok", "invalid"])
def test_valid_results(result):
    assert MoleculeResultSchema().validate(result) == {}


def test_dump_keeps_only_public_fields():
    internal = {**GOOD_RESULT, "features": {"indices": [1], "values": [1]}, "ad_bits": [1, 2]}
    dumped = MoleculeResultSchema().dump(internal)
    assert set(dumped) == set(GOOD_RESULT)
    assert dumped == GOOD_RESULT


def test_interval_may_be_null():
    result = {**GOOD_RESULT, "prediction": {"value": 6.1, "unit": "pActivity", "interval": None}}
    assert MoleculeResultSchema().validate(result) == {}


@pytest.mark.parametrize(("field", "value"), [
    ("id", None),
    ("prediction", {"unit": "pActivity"}),  # value missing
    ("error", {"code": "invalid_smiles"}),  # message missing
])
def test_invalid_results(field, value):
    errors = MoleculeResultSchema().validate({**GOOD_RESULT, field: value})
    assert field in errors


def test_required_fields():
    errors = MoleculeResultSchema().validate({})
    assert set(errors) == {"id", "input_smiles"}


def test_verdict_must_be_one_of_the_documented():
    assert VERDICTS == ("supported", "caution", "unsupported", "unknown")
    body = {"verdict": "maybe", "reasons": [], "applicability_domain": None}
    assert "verdict" in CausalValiditySchema().validate(body)
    for verdict in VERDICTS:
        assert CausalValiditySchema().validate({**body, "verdict": verdict}) == {}


def test_applicability_domain_fields_are_required():
    body = {"verdict": "caution", "reasons": ["x"], "applicability_domain": {"in_domain": False}}
    errors = CausalValiditySchema().validate(body)
    assert set(errors["applicability_domain"]) == {"max_similarity", "threshold"}


def test_the_compact_result_keeps_the_verdict_and_drops_evidence_attribution_and_neighbours() -> None:
    from shared.schemas import MoleculeResultSchema, compact_result_schema

    domain = {"max_similarity": 0.5, "in_domain": True, "threshold": 0.3,
              "neighbours": [{"id": "m1", "smiles": "CC", "pactivity": 6.0, "similarity": 0.5}]}
    result = {"id": "a", "input_smiles": "CC", "canonical_smiles": "CC", "error": None,
              "prediction": {"value": 6.1, "unit": "pActivity", "interval": [5.0, 7.2]},
              "causal_validity": {"verdict": "caution", "reasons": ["r"], "applicability_domain": domain,
                                  "mechanism": None, "evidence": [{"substructure": "C", "contribution": 0.1,
                                                                   "adjusted_effect": None, "status": "null"}],
                                  "attribution": {"baseline": 6.0, "remainder": 0.0, "sum_of_substructures": 0.1}}}
    full, compact = MoleculeResultSchema().dump(result), compact_result_schema().dump(result)
    assert full["causal_validity"]["applicability_domain"]["neighbours"] == domain["neighbours"]
    assert compact["prediction"] == full["prediction"]
    assert compact["causal_validity"] == {"verdict": "caution", "reasons": ["r"], "mechanism": None,
                                          "applicability_domain": {"max_similarity": 0.5, "in_domain": True,
                                                                   "threshold": 0.3}}
