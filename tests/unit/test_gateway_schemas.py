"""services/gateway/schemas.py: request validation and the job shape of API v1."""

from __future__ import annotations

import json

import pytest
from marshmallow import ValidationError

from services.gateway.schemas import (
    MAX_JSON_DEPTH,
    ErrorSchema,
    JobAcceptedSchema,
    JobSchema,
    PredictionRequestSchema,
    UploadFormSchema,
    nesting_depth,
)
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


def test_a_molecule_id_with_a_lone_surrogate_is_rejected():
    # it would be echoed in JSON, but no CSV or SDF export can hold it
    assert errors_of({"model": "akt1", "molecules": [{"id": "a\ud800", "smiles": "CCO"}]}) == {
        "molecules": {0: {"id": ["must be Unicode text: it holds a lone surrogate such as \\ud800"]}}}


def test_a_smiles_with_a_lone_surrogate_is_left_to_the_featurizer():
    load({"model": "akt1", "molecules": [{"smiles": "C\ud800"}]})  # a per-molecule invalid_smiles, not a 400


@pytest.mark.parametrize(("value", "depth"), [(1, 0), ({}, 1), ({"a": [1, {"b": []}]}, 4), ([[[[]]]], 4)])
def test_nesting_depth(value, depth):
    assert nesting_depth(value) == depth


def test_nesting_depth_stops_counting_past_the_limit():
    deep: list = []
    for _ in range(10_000):  # deeper than Python's recursion limit: counted without recursion
        deep = [deep]
    assert nesting_depth(deep) == MAX_JSON_DEPTH + 1


def load_form(form):
    return UploadFormSchema().load(form)


def form_errors(form):
    with pytest.raises(ValidationError) as info:
        load_form(form)
    return info.value.messages


def test_upload_form_defaults_and_ignores_other_fields():
    assert load_form({"other": "x"}) == {"format": None, "mapping": {}, "model": None, "wait": 0.0}
    assert load_form({"mapping": '{"activity": "ic50"}', "wait": "2.5", "format": "sdf", "model": "akt1"}) == {
        "format": "sdf", "mapping": {"activity": "ic50"}, "model": "akt1", "wait": 2.5}


@pytest.mark.parametrize("wait", ["abc", "nan", "inf", "-1", "31"])
def test_upload_form_wait_is_a_bounded_number(wait):
    assert "wait" in form_errors({"wait": wait})  # wait=nan used to lift the 30 s cap, "abc" was a 500


@pytest.mark.parametrize(("mapping", "message"), [
    ("{not json", "is not JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"a": ' * 40 + "1" + "}" * 40, f"nests deeper than {MAX_JSON_DEPTH} levels"),
    ("[" * 100_000 + "]" * 100_000, "is not JSON"),  # past the decoder's recursion limit
])
def test_upload_form_mapping_is_a_json_object(mapping, message):
    assert form_errors({"mapping": mapping}) == {"mapping": [message]}


def test_upload_form_format_is_csv_or_sdf():
    assert "format" in form_errors({"format": "xlsx"})


@pytest.mark.parametrize(("mapping", "messages"), [
    ({"context": 5}, {"context": ["Not a valid list."]}),  # used to be a 500 (iterating an int)
    ({"id": {"a": 1}}, {"id": ["Not a valid string."]}),  # used to be a 500 for an SDF (an unhashable key)
    ({"structure": ["smiles"]}, {"structure": ["Not a valid string."]}),
    ({"activity": "ic50", "context": ["assay", 7]}, {"context": {1: ["Not a valid string."]}}),
])
def test_upload_form_mapping_keys_the_gateway_reads_are_typed(mapping, messages):
    assert form_errors({"mapping": json.dumps(mapping)}) == {"mapping": messages}


def test_upload_form_mapping_leaves_other_keys_and_nulls_to_the_featurizer():
    mapping = {"activity": "ic50", "activity_type": "value", "unit": "nM", "context": None, "extra": 1}
    assert load_form({"mapping": json.dumps(mapping)})["mapping"] == mapping
