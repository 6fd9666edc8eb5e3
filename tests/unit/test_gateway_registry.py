"""services/gateway/registry_api.py and registry_service.py: datasets, trainings and causal questions at the door.

A test app with a memory job store and a chain that records instead of sending: nothing here needs a worker.
"""

from __future__ import annotations

import io
import json

import pytest
from flask import Flask

import shared.publish
from services.gateway import GatewayContext, api, registry_api
from services.gateway.errors import register_error_handlers
from services.gateway.registry_service import MAX_SMARTS_COMPONENTS, MAX_SMARTS_LENGTH, check_smarts
from shared.config import Settings
from shared.datasets import META_FILE
from shared.errors import SmartsTooComplex
from shared.jobs import MemoryJobStore
from shared.model_store import ModelStore

DATASET = "ds_" + "0" * 24
MAPPING = json.dumps({"activity": "pactivity"})


class RecordingChain:
    sent: list = []

    def __init__(self, *signatures):
        self.signatures = signatures

    def apply_async(self):
        RecordingChain.sent.append(self.signatures)


@pytest.fixture
def ctx(tmp_path, monkeypatch, settings_env):
    settings_env()
    RecordingChain.sent = []
    monkeypatch.setattr(shared.publish, "chain", RecordingChain)
    datasets = tmp_path / "datasets"
    (datasets / DATASET).mkdir(parents=True)
    (datasets / DATASET / META_FILE).write_text(json.dumps({"dataset_id": DATASET, "context_columns": ["assay"]}))
    return GatewayContext(Settings(datasets_dir=datasets), MemoryJobStore(), ModelStore(tmp_path / "models"))


@pytest.fixture
def client(ctx):
    app = Flask("registry-under-test")
    app.extensions["causalmol"] = ctx
    register_error_handlers(app)
    app.register_blueprint(api.bp)  # the job links point at its routes
    app.register_blueprint(registry_api.bp)
    return app.test_client()


def error_of(response, status, code):
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body["error"]


def test_a_known_dataset_is_read(client):
    assert client.get(f"/v1/datasets/{DATASET}").get_json()["dataset_id"] == DATASET


# An id too long to name a file used to be an OSError (File name too long): a 500 on all three routes.
LONG_ID = "ds_" + "a" * 300


def test_a_dataset_id_too_long_for_a_file_name_is_a_404(client):
    error = error_of(client.get(f"/v1/datasets/{LONG_ID}"), 404, "dataset_not_found")
    assert len(error["details"]["dataset_id"]) < 100  # not echoed whole


def test_training_on_a_dataset_id_too_long_is_a_404(client):
    error_of(client.post("/v1/models", json={"name": "m", "dataset_id": LONG_ID}), 404, "dataset_not_found")
    assert RecordingChain.sent == []


def test_a_question_on_a_dataset_id_too_long_is_a_404(client):
    body = {"dataset_id": LONG_ID, "treatment": {"smarts": "[#6]"}}
    error_of(client.post("/v1/causal/effects", json=body), 404, "dataset_not_found")


@pytest.mark.parametrize(("featurizer", "estimator", "field"), [
    ({"name": "morgan_counts", "params": {"n_bits": 2**40}}, {"name": "random_forest"}, "featurizer.params.n_bits"),
    ({"name": "morgan_counts"}, {"name": "random_forest", "params": {"n_estimators": 0}},
     "estimator.params.n_estimators"),
])
def test_training_parameters_out_of_bounds_are_a_400_before_any_job(client, featurizer, estimator, field):
    body = {"name": "m", "dataset_id": DATASET, "featurizer": featurizer, "estimator": estimator}
    error = error_of(client.post("/v1/models", json=body), 400, "validation_error")
    assert set(error["details"]["fields"]) == {field}
    assert "must be an integer from" in error["message"]
    assert RecordingChain.sent == []  # used to be a failed job


def test_training_within_bounds_is_queued(client):
    body = {"name": "m", "dataset_id": DATASET, "featurizer": {"name": "morgan_bits", "params": {"n_bits": 16384}},
            "estimator": {"name": "random_forest", "params": {"n_estimators": 2000, "max_features": 1.0}}}
    assert client.post("/v1/models", json=body).status_code == 202
    assert len(RecordingChain.sent) == 1


def test_the_interval_rule_travels_to_the_training_step_and_an_unknown_one_is_a_400(client):
    body = {"name": "m", "dataset_id": DATASET}
    assert client.post("/v1/models", json=body).status_code == 202
    assert client.post("/v1/models", json={**body, "name": "n", "intervals": "mondrian"}).status_code == 202
    sent = [signatures[0].args[0] for signatures in RecordingChain.sent]  # the first task's message
    assert [m["intervals"] for m in sent] == ["single", "mondrian"]
    error = error_of(client.post("/v1/models", json={**body, "name": "o", "intervals": "cqr"}), 400,
                     "validation_error")
    assert set(error["details"]["fields"]) == {"intervals"} and len(RecordingChain.sent) == 2


@pytest.mark.parametrize("smarts", [
    "[#6].[#6].[#6].[#6].[#6].[U]",  # held a causal worker 40 s
    "C." * MAX_SMARTS_COMPONENTS + "C",
    "C" * (MAX_SMARTS_LENGTH + 1),
])
def test_a_treatment_smarts_past_the_limits_is_a_400_smarts_too_complex(client, smarts):
    body = {"dataset_id": DATASET, "treatment": {"smarts": smarts}}
    error = error_of(client.post("/v1/causal/effects", json=body), 400, "smarts_too_complex")
    assert error["details"]["max_length"] == MAX_SMARTS_LENGTH
    assert error["details"]["max_components"] == MAX_SMARTS_COMPONENTS
    assert RecordingChain.sent == []


def test_a_treatment_smarts_within_the_limits_is_queued(client):
    for smarts in ("S(=O)(=O)N", "[#6].[#6].[#8]", "C" * MAX_SMARTS_LENGTH):
        body = {"dataset_id": DATASET, "treatment": {"smarts": smarts}}
        assert client.post("/v1/causal/effects", json=body).status_code == 202
    check_smarts("c1ccccc1.[F]")


def test_check_smarts_counts_length_and_components():
    with pytest.raises(SmartsTooComplex) as info:
        check_smarts("C.C.C.C")
    assert (info.value.details["components"], info.value.details["length"]) == (4, 7)


def test_a_treatment_smarts_with_a_lone_surrogate_is_a_400(client):
    body = {"dataset_id": DATASET, "treatment": {"smarts": "[#6]\ud800"}}
    error_of(client.post("/v1/causal/effects", json=body), 400, "validation_error")


def upload(client, content, **form):
    data = {"file": (io.BytesIO(content), "lab.csv"), "mapping": MAPPING, **form}
    return client.post("/v1/datasets", data=data)


@pytest.mark.parametrize("wait", ["abc", "nan", "-1", "31"])
def test_dataset_wait_goes_through_the_schema(client, wait):
    error = error_of(upload(client, b"smiles,pactivity\nCCO,5\n", wait=wait), 400, "validation_error")
    assert set(error["details"]["fields"]) == {"wait"}  # "abc" used to be a 500, "nan" lifted the 30 s cap


def test_dataset_mapping_goes_through_the_schema(client):
    error = error_of(upload(client, b"smiles,pactivity\nCCO,5\n", mapping="[1]"), 400, "validation_error")
    assert error["details"]["fields"] == {"mapping": ["must be a JSON object"]}


def test_a_dataset_with_bare_cr_line_endings_is_accepted(client):
    response = upload(client, b"smiles,pactivity\rCCO,5\rCCC,6\r")
    assert response.status_code == 202, response.get_json()  # used to be a 500 (csv.Error)


def test_a_dataset_with_a_field_over_the_csv_limit_is_a_400_before_any_job(client):
    error = error_of(upload(client, b"smiles,pactivity\nCCO,5\n" + b"C" * 200_000 + b",6\n"), 400, "validation_error")
    assert error["details"]["line"] == 3
    assert RecordingChain.sent == []


def test_a_dataset_mapping_with_a_context_that_is_not_a_list_is_a_400(client):
    error = error_of(upload(client, b"smiles,pactivity\nCCO,5\n", mapping=json.dumps({"activity": "pactivity",
                                                                                      "context": 5})),
                     400, "validation_error")  # used to be a 500
    assert error["details"]["fields"] == {"mapping": {"context": ["Not a valid list."]}}


def test_a_dataset_mapping_with_a_null_context_means_none(client):
    mapping = json.dumps({"activity": "pactivity", "context": None})
    assert upload(client, b"smiles,pactivity\nCCO,5\n", mapping=mapping).status_code == 202
