"""services/predictor/reference.py: the bundled AKT1 data and the deterministic reference build."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from services.predictor.reference import (
    AKT1_FILE,
    REFERENCE_ESTIMATOR,
    REFERENCE_FEATURIZER,
    build_reference,
    ensure_reference,
    load_akt1,
)
from shared.model_store import ModelStore, sha256_of


@pytest.fixture(scope="module")
def rows():
    with AKT1_FILE.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_load_akt1_full(rows):
    data = load_akt1()
    assert len(data.ids) == len(data.smiles) == len(data.y) == len(rows)
    assert data.ids[0] == rows[0]["molecule_chembl_id"]
    assert data.y.dtype == np.float64
    assert data.y.min() >= 3 and data.y.max() <= 12  # pChEMBL values


def test_load_akt1_limit_takes_every_kth_row(rows):
    data = load_akt1(limit=50)
    step = len(rows) // 50
    assert len(data.ids) == 50
    assert data.ids == [r["molecule_chembl_id"] for r in rows[::step][:50]]
    assert data.smiles[1] == rows[step]["canonical_smiles"]
    assert data.y[1] == float(rows[step]["pchembl_value"])


def test_limit_larger_than_the_file_is_everything(rows):
    assert len(load_akt1(limit=10 * len(rows)).ids) == len(rows)


def test_reference_recipe():
    assert REFERENCE_FEATURIZER == {"name": "morgan_counts", "params": {"radius": 2, "n_bits": 2048}}
    assert REFERENCE_ESTIMATOR["name"] == "random_forest"


@pytest.fixture(scope="module")
def reference_store(tmp_path_factory):
    store = ModelStore(tmp_path_factory.mktemp("reference-models"))
    build_reference(store, "akt1", limit=60, datasets_dir=tmp_path_factory.mktemp("reference-datasets"))
    return store


def test_build_reference_records_its_source_and_recipe(reference_store):
    manifest = reference_store.resolve("akt1")
    assert manifest["version"] == 1
    assert manifest["featurizer"] == REFERENCE_FEATURIZER
    assert manifest["estimator"]["name"] == REFERENCE_ESTIMATOR["name"]
    assert manifest["estimator"]["params"]["n_estimators"] == 100
    assert manifest["seed"] == 0
    assert sha256_of(AKT1_FILE) in json.dumps(manifest)  # the exact source file is traceable from the card
    assert manifest["dataset"]["rows_used"] == 60


def test_ensure_reference_does_nothing_when_a_version_exists(reference_store):
    assert ensure_reference(reference_store, "akt1") is None
    assert reference_store.versions("akt1") == [1]
