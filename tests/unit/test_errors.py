"""shared/errors.py: each client-visible error has a distinct, stable code and the right HTTP status."""

from __future__ import annotations

import pytest

from shared import errors
from shared.errors import (
    INVALID_SMILES,
    BrokerUnavailable,
    CausalmolError,
    InvalidJson,
    InvalidRequest,
    JobNotFound,
    ModelIntegrityError,
    ModelNotFound,
    ModelRetired,
    PayloadTooLarge,
    UnsupportedMediaType,
)

# The public contract: renaming a code or changing a status is a breaking API change.
EXPECTED = [
    (InvalidRequest, 400, "validation_error"),
    (InvalidJson, 400, "invalid_json"),
    (JobNotFound, 404, "job_not_found"),
    (ModelNotFound, 404, "model_not_found"),
    (ModelRetired, 410, "model_retired"),
    (PayloadTooLarge, 413, "payload_too_large"),
    (UnsupportedMediaType, 415, "unsupported_media_type"),
    (BrokerUnavailable, 503, "broker_unavailable"),
    (ModelIntegrityError, 500, "model_integrity_error"),
]


@pytest.mark.parametrize(("cls", "status", "code"), EXPECTED, ids=[c.__name__ for c, _, _ in EXPECTED])
def test_status_and_code(cls, status, code):
    assert cls.status == status
    assert cls.code == code
    exc = cls("boom")
    assert (exc.status, exc.code) == (status, code)
    assert isinstance(exc, CausalmolError)


def test_every_error_class_is_in_the_contract_table():
    defined = {obj for obj in vars(errors).values() if isinstance(obj, type) and issubclass(obj, CausalmolError)}
    assert defined - {CausalmolError} == {cls for cls, _, _ in EXPECTED}


def test_codes_are_distinct():
    codes = [cls.code for cls, _, _ in EXPECTED] + [CausalmolError.code]
    assert len(codes) == len(set(codes))


def test_base_error_is_an_internal_error():
    assert (CausalmolError.status, CausalmolError.code) == (500, "internal_error")


def test_to_dict_shape():
    exc = ModelNotFound("no model named 'x'", {"model": "x", "known": ["akt1"]})
    assert exc.to_dict() == {"error": {
        "code": "model_not_found", "message": "no model named 'x'", "details": {"model": "x", "known": ["akt1"]},
    }}
    assert str(exc) == "no model named 'x'"


def test_details_default_to_a_fresh_empty_dict():
    first, second = InvalidRequest("a"), InvalidRequest("b")
    assert first.to_dict()["error"]["details"] == {}
    first.details["x"] = 1
    assert second.details == {}  # no shared mutable default


def test_per_molecule_error_code():
    assert INVALID_SMILES == "invalid_smiles"
