"""shared/errors.py: each client-visible error has a distinct, stable code and the right HTTP status."""

from __future__ import annotations

import pytest

from shared import errors
from shared.errors import (
    INVALID_SMILES,
    AuthenticationRequired,
    BrokerUnavailable,
    CausalmolError,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    InsufficientScope,
    InvalidJson,
    InvalidRequest,
    JobAlreadyFinished,
    JobNotFound,
    ModelIntegrityError,
    ModelNameTaken,
    ModelNotFound,
    ModelRetired,
    PayloadTooLarge,
    RateLimited,
    SmartsTooComplex,
    UnsupportedMediaType,
    job_error,
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
    (SmartsTooComplex, 400, "smarts_too_complex"),
    (BrokerUnavailable, 503, "broker_unavailable"),
    (AuthenticationRequired, 401, "authentication_required"),
    (InsufficientScope, 403, "insufficient_scope"),
    (RateLimited, 429, "rate_limited"),
    (ModelNameTaken, 409, "model_name_taken"),
    (ModelIntegrityError, 500, "model_integrity_error"),
    (IdempotencyKeyReused, 409, "idempotency_key_reused"),
    (IdempotencyKeyInProgress, 409, "idempotency_key_in_progress"),
    (JobAlreadyFinished, 409, "job_already_finished"),
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


def test_the_brokers_own_error_stays_out_of_the_answer():
    exc = BrokerUnavailable("the job store (Redis) is unreachable",
                            {"reason": "Error 111 connecting to 10.1.2.3:6379. Connection refused.", "job_id": "j"})
    assert exc.to_dict()["error"]["details"] == {"job_id": "j"}
    assert exc.details["reason"].startswith("Error 111")  # still there for the log


def test_a_failed_job_shows_a_typed_errors_code_and_message():
    error = job_error("featurize.ingest", InvalidRequest("the SDF has no property 'pic50'", {"missing": ["pic50"]}))
    assert error == {"code": "validation_error", "message": "featurize.ingest: the SDF has no property 'pic50'"}


def test_a_failed_job_never_relays_an_untyped_exceptions_text():
    error = job_error("predict.train", OSError("[Errno 13] Permission denied: '/srv/secret/models/x.joblib'"))
    assert error["code"] == "task_failed"
    assert error["message"].startswith("predict.train: ")
    assert "secret" not in error["message"] and "Errno" not in error["message"]
