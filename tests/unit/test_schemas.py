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
