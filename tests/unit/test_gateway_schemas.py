"""services/gateway/schemas.py: request validation and the job shape of API v1."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from services.gateway.schemas import ErrorSchema, JobAcceptedSchema, JobSchema, PredictionRequestSchema
from shared.errors import JobNotFound
from shared.jobs import MemoryJobStore, new_job_record

VALID = {"model": "akt1", "molecules": [{"id": "a", "smiles": "CCO"}, {"smiles": "c1ccccc1"}]}


@pytest.fixture(autouse=True)
def _default_settings(settings_env):
    settings_env()  # the batch limit comes from settings: use the defaults, not the developer's environment


def load(body):
    return PredictionRequestSchema().load(body)


def errors_of(body):
    with pytest.raises(ValidationError) as info:
        load(body)
    return info.value.messages


def test_valid_body_loads_and_wait_defaults_to_zero():
    data = load(VALID)
    assert data == {"model": "akt1", "molecules": [{"id": "a", "smiles": "CCO"}, {"smiles": "c1ccccc1"}], "wait": 0.0}


@pytest.mark.parametrize("wait", [0, 0.5, 30])
def test_wait_within_range(wait):
    assert load({**VALID, "wait": wait})["wait"] == wait


@pytest.mark.parametrize("wait", [30.01, 31, -1, "soon"])
def test_wait_out_of_range(wait):
    assert "wait" in errors_of({**VALID, "wait": wait})


def test_empty_molecules():
    assert "molecules" in errors_of({**VALID, "molecules": []})


def test_missing_structure():
    assert "smiles" in errors_of({**VALID, "molecules": [{"id": "a"}]})["molecules"][0]


@pytest.mark.parametrize("smiles", ["C" * 2001, None, 5])
def test_bad_smiles(smiles):
    assert "smiles" in errors_of({**VALID, "molecules": [{"smiles": smiles}]})["molecules"][0]


def test_longest_accepted_smiles():
    assert load({**VALID, "molecules": [{"smiles": "C" * 2000}]})["molecules"][0]["smiles"] == "C" * 2000


@pytest.mark.parametrize("mol_id", ["", "x" * 201])
def test_bad_molecule_id(mol_id):
    assert "id" in errors_of({**VALID, "molecules": [{"id": mol_id, "smiles": "C"}]})["molecules"][0]


@pytest.mark.parametrize("missing", ["model", "molecules"])
def test_required_fields(missing):
    body = {k: v for k, v in VALID.items() if k != missing}
    assert missing in errors_of(body)


@pytest.mark.parametrize("model", ["", "m" * 101, 7])
def test_bad_model_field(model):
    assert "model" in errors_of({**VALID, "model": model})


def test_unknown_fields_are_rejected():
    assert "priority" in errors_of({**VALID, "priority": "high"})
    assert "charge" in errors_of({**VALID, "molecules": [{"smiles": "C", "charge": 0}]})["molecules"][0]


def test_molecules_must_be_a_list():
    assert "molecules" in errors_of({**VALID, "molecules": {"smiles": "C"}})


def test_batch_limit_comes_from_settings(settings_env):
    settings_env(CAUSALMOL_MAX_MOLECULES="2")
    assert len(load(VALID)["molecules"]) == 2
    messages = errors_of({**VALID, "molecules": [{"smiles": "C"}] * 3})
    assert messages == {"molecules": ["send between 1 and 2 molecules"]}


def test_job_dump_shape():
    store = MemoryJobStore()
    store.create(new_job_record("j1", {"name": "akt1", "version": 3}, total=1, n_chunks=1))
    store.save_chunk("j1", 0, [{"id": "0", "input_smiles": "C", "canonical_smiles": "C", "prediction": None,
                                "causal_validity": None, "error": None}])
    job = store.get("j1")
    job["progress"] = {"done": job["done"], "total": job["total"]}
    dumped = JobSchema().dump(job)
    assert {"job_id", "status", "progress", "model", "created_at", "finished_at", "results", "error"} <= set(dumped)
    assert not {"done", "total", "n_chunks", "chunks_done"} & set(dumped)  # bookkeeping stays internal
    assert dumped["progress"] == {"done": 1, "total": 1}
    assert dumped["model"] == {"name": "akt1", "version": 3}
    assert dumped["status"] == "succeeded"
    assert dumped["results"][0]["id"] == "0"


def test_accepted_and_error_shapes():
    accepted = {"job_id": "j", "status": "queued", "status_url": "http://h/v1/jobs/j"}
    assert JobAcceptedSchema().dump(accepted) == accepted
    assert ErrorSchema().validate(JobNotFound("no job j", {"job_id": "j"}).to_dict()) == {}
    assert "error" in ErrorSchema().validate({"code": "x"})
