"""Issue 3 through the HTTP API only: a lab uploads its data, trains two versions, predicts, exports, retires.

The dataset is real PIK3CA IC50 data (bundled, ChEMBL CC BY-SA 3.0) from four assays, plus four rows made bad
on purpose (labelled synthetic in their ids) to exercise the rejection report.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
import requests

from tests.integration.lab_data import BAD_ROWS, MAPPING, lab_csv, train, upload

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def dataset(gateway) -> dict:
    response = upload(gateway, lab_csv(), MAPPING)
    assert response.status_code in (200, 201), response.text  # 200: another module already uploaded these bytes
    return response.json()


def test_upload_reports_each_rejected_row(gateway, dataset) -> None:
    report = dataset["report"]
    assert report["rows_rejected"] == 4
    assert report["rows_read"] == report["rows_accepted"] + report["rows_rejected"]
    rejected_ids = {r["id"] for r in report["rejections"]}
    assert rejected_ids == {b["compound_chembl_id"] for b in BAD_ROWS}
    assert all(r["reason"] for r in report["rejections"])
    assert dataset["context_columns"] == ["assay_chembl_id"]
    assert dataset["standardization"]

    again = upload(gateway, lab_csv(), MAPPING)
    assert again.status_code == 200 and again.json()["dataset_id"] == dataset["dataset_id"]  # immutable, by hash
    read = requests.get(gateway.url(f"/v1/datasets/{dataset['dataset_id']}"), timeout=5)
    assert read.status_code == 200 and read.json()["report"] == report


def test_upload_with_a_missing_column_is_a_400_listing_the_columns(gateway) -> None:
    response = upload(gateway, lab_csv(), {**MAPPING, "activity": "ic50_nm"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "pchembl_value" in error["details"]["available_columns"]


def test_two_versions_predict_export_retire(gateway, dataset) -> None:
    name = "lab-pik3ca"
    base = {"name": name, "dataset_id": dataset["dataset_id"], "split": "scaffold", "seed": 0}
    first = train(gateway, {**base, "estimator": {"name": "random_forest", "params": {"n_estimators": 60}}})
    second = train(gateway, {**base, "estimator": {"name": "knn", "params": {"n_neighbors": 7}}})
    assert (first["version"], second["version"]) == (1, 2)

    cards = [requests.get(gateway.url(f"/v1/models/{name}@{v}"), timeout=5).json() for v in (1, 2)]
    assert [c["estimator"]["name"] for c in cards] == ["random_forest", "knn"]
    for card in cards:
        assert card["dataset"]["id"] == dataset["dataset_id"]
        assert card["featurizer"]["params"]["n_bits"] == 2048
        assert {"rmse", "mae", "r2", "spearman"} <= set(card["metrics"]["cross_validation"]["overall"])
        assert card["metrics"]["cross_validation"]["per_context"]["assay_chembl_id"]
        assert 0.0 <= card["interval"]["measured_coverage"]["80"] <= card["interval"]["measured_coverage"]["90"] <= 1
        assert card["provenance"]["job_id"]
        assert card["library_versions"]["scikit-learn"]
    listing = requests.get(gateway.url("/v1/models"), timeout=5).json()["models"]
    assert next(m for m in listing if m["name"] == name)["latest"] == 2

    molecules = [{"id": "cmpd-1", "smiles": "O=c1cc(N2CCOCC2)oc2c(-c3ccccc3)cccc12"}, {"id": "bad", "smiles": "C1CC"}]
    pinned = requests.post(gateway.url("/v1/predictions"), timeout=40,
                           json={"model": f"{name}@1", "molecules": molecules, "wait": 20}).json()
    newest = requests.post(gateway.url("/v1/predictions"), timeout=40,
                           json={"model": name, "molecules": molecules, "wait": 20}).json()
    assert pinned["model"]["version"] == 1 and newest["model"]["version"] == 2
    assert pinned["results"][0]["prediction"]["interval"] is not None

    exported = requests.get(gateway.url(f"/v1/jobs/{pinned['job_id']}/results"), params={"format": "csv"}, timeout=10)
    assert exported.status_code == 200 and exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["id"] for r in rows] == ["cmpd-1", "bad"]
    assert rows[1]["error_code"] == "invalid_smiles"
    sdf = requests.get(gateway.url(f"/v1/jobs/{pinned['job_id']}/results"), params={"format": "sdf"}, timeout=90)
    assert sdf.status_code == 200 and sdf.text.count("$$$$") == 2 and "cmpd-1" in sdf.text

    retired = requests.delete(gateway.url(f"/v1/models/{name}@1"), timeout=5)
    assert retired.status_code == 200 and retired.json()["retired"] is True
    gone = requests.post(gateway.url("/v1/predictions"), json={"model": f"{name}@1", "molecules": molecules},
                         timeout=10)
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "model_retired"
    still = requests.post(gateway.url("/v1/predictions"), json={"model": name, "molecules": molecules, "wait": 20},
                          timeout=40).json()
    assert still["model"]["version"] == 2
    assert requests.get(gateway.url(f"/v1/models/{name}@1"), timeout=5).json()["retired"] is True  # still auditable


def test_predictions_from_a_csv_upload(gateway) -> None:
    content = b"compound,structure\nA-1,Nc1ncnc2[nH]ccc12\nA-2,not-a-smiles\n"
    response = requests.post(
        gateway.url("/v1/predictions"), timeout=40,
        files={"file": ("batch.csv", content, "text/csv")},
        data={"model": "akt1", "wait": "20", "mapping": json.dumps({"structure": "structure", "id": "compound"})},
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["id"] for r in results] == ["A-1", "A-2"]
    assert results[1]["error"]["code"] == "invalid_smiles"


def test_training_rejects_unknown_components_and_datasets(gateway, dataset) -> None:
    body = {"name": "x", "dataset_id": dataset["dataset_id"], "estimator": {"name": "deep_magic"}}
    response = requests.post(gateway.url("/v1/models"), json=body, timeout=10)
    assert response.status_code == 400
    assert "random_forest" in response.json()["error"]["details"]["known_estimators"]
    response = requests.post(gateway.url("/v1/models"), json={"name": "x", "dataset_id": "ds_nothere"}, timeout=10)
    assert response.status_code == 404 and response.json()["error"]["code"] == "dataset_not_found"


def test_a_new_upload_is_created_then_found(gateway) -> None:
    content = lab_csv(n_assays=2)  # bytes no other test uploads
    first = upload(gateway, content, MAPPING)
    assert first.status_code == 201, first.text
    second = upload(gateway, content, MAPPING)
    assert second.status_code == 200 and second.json()["dataset_id"] == first.json()["dataset_id"]


def test_predictions_from_an_sdf_upload(gateway) -> None:
    from rdkit import Chem  # the test, not the gateway, draws the molecules

    mol = Chem.MolFromSmiles("Nc1ncnc2[nH]ccc12")
    mol.SetProp("_Name", "adenine-like")
    mol.SetProp("lab_id", "LAB-7")
    good = Chem.MolToMolBlock(mol)
    props = ">  <lab_id>\nLAB-7\n\n"
    broken = "broken\n  nothing\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\nM  END\n>  <lab_id>\nLAB-8\n\n"
    content = f"{good}{props}$$$$\n{broken}$$$$\n".encode()
    response = requests.post(
        gateway.url("/v1/predictions"), timeout=40, files={"file": ("batch.sdf", content, "chemical/x-mdl-sdfile")},
        data={"model": "akt1", "wait": "20", "mapping": json.dumps({"id": "lab_id"})},
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["id"] for r in results] == ["LAB-7", "LAB-8"]
    assert results[0]["canonical_smiles"] == "Nc1ncnc2[nH]ccc12" and results[0]["prediction"] is not None
    assert results[1]["error"]["code"] == "invalid_structure" and results[1]["prediction"] is None
