"""shared/messages.py: the stage messages are versioned, and a message a worker cannot read says why."""

from __future__ import annotations

import copy
import json

import pytest

from shared.messages import (
    CHUNK_REQUEST_VERSION,
    FEATURIZED_CHUNK_VERSION,
    MessageError,
    featurized_chunk,
    read_chunk_request,
    read_featurized_chunk,
)

FEATURIZER = {"name": "morgan_counts", "params": {"radius": 2, "n_bits": 2048}}


def request() -> dict:
    return {"schema_version": CHUNK_REQUEST_VERSION, "job_id": "j1", "chunk": 0,
            "model": {"name": "akt1", "version": 3, "featurizer": FEATURIZER},
            "molecules": [{"id": "a", "smiles": "CCO"}, {"id": "b", "molblock": "..."}]}


def featurized() -> dict:
    parsed = {"id": "a", "input_smiles": "CCO", "canonical_smiles": "CCO",
              "features": {"indices": [1, 7], "values": [1.0, 2.0]}, "ad_bits": [3, 9], "error": None}
    failed = {"id": "b", "input_smiles": "C1CC", "canonical_smiles": None,
              "error": {"code": "invalid_smiles", "message": "..."}}
    return featurized_chunk(request(), [parsed, failed])


def test_a_valid_request_is_returned_as_is():
    message = request()
    assert read_chunk_request(message) is message


def test_the_featurized_chunk_drops_the_featurizer_and_survives_json():
    message = featurized()
    assert message["schema_version"] == FEATURIZED_CHUNK_VERSION
    assert message["model"] == {"name": "akt1", "version": 3}  # scoring reads the model's own featurizer
    assert (message["job_id"], message["chunk"]) == ("j1", 0)
    assert read_featurized_chunk(json.loads(json.dumps(message))) == message


@pytest.mark.parametrize(("reader", "make"), [(read_chunk_request, request), (read_featurized_chunk, featurized)])
@pytest.mark.parametrize("version", [0, 2, "1", True, None])
def test_an_unknown_or_mistyped_version_is_a_clear_error(reader, make, version):
    message = {**make(), "schema_version": version}
    with pytest.raises(MessageError, match="schema_version"):
        reader(message)


@pytest.mark.parametrize(("reader", "make"), [(read_chunk_request, request), (read_featurized_chunk, featurized)])
def test_a_message_without_a_version_is_refused(reader, make):
    message = make()
    del message["schema_version"]
    with pytest.raises(MessageError, match="missing field 'schema_version'"):
        reader(message)


@pytest.mark.parametrize(("path", "expected"), [
    (("job_id",), "chunk request: missing field 'job_id'"),
    (("model", "featurizer"), "chunk request.model: missing field 'featurizer'"),
    (("model", "version"), "chunk request.model: missing field 'version'"),
    (("molecules", 0, "id"), r"chunk request.molecules\[0\]: missing field 'id'"),
    (("molecules", 1, "molblock"), r"chunk request.molecules\[1\]: missing field 'smiles' \(or 'molblock'\)"),
])
def test_a_request_missing_a_field_names_it(path, expected):
    message = request()
    *parents, last = path
    target = message
    for key in parents:
        target = target[key]
    del target[last]
    with pytest.raises(MessageError, match=expected):
        read_chunk_request(message)


@pytest.mark.parametrize(("molecule", "key", "expected"), [
    (0, "features", r"molecules\[0\]: missing field 'features'"),
    (0, "ad_bits", r"molecules\[0\]: missing field 'ad_bits'"),
    (0, "canonical_smiles", r"molecules\[0\]: missing field 'canonical_smiles'"),
    (1, "error", r"molecules\[1\]: missing field 'error'"),
])
def test_a_featurized_molecule_missing_what_scoring_reads_names_it(molecule, key, expected):
    message = copy.deepcopy(featurized())
    del message["molecules"][molecule][key]
    with pytest.raises(MessageError, match=expected):
        read_featurized_chunk(message)


def test_a_failed_molecule_needs_no_features():
    assert "features" not in featurized()["molecules"][1]
    read_featurized_chunk(featurized())  # does not raise


@pytest.mark.parametrize("mutate", [
    lambda m: m.update(chunk="0"),
    lambda m: m.update(molecules={"a": 1}),
    lambda m: m["model"].update(version=True),
    lambda m: m["molecules"][0]["features"].update(indices="1,7"),
])
def test_a_mistyped_field_is_a_clear_error(mutate):
    message = copy.deepcopy(featurized())
    mutate(message)
    with pytest.raises(MessageError, match="is .*, not "):
        read_featurized_chunk(message)


@pytest.mark.parametrize("message", [None, [], "featurized"])
def test_a_message_that_is_not_an_object_is_a_clear_error(message):
    with pytest.raises(MessageError, match="a message is a JSON object"):
        read_featurized_chunk(message)
