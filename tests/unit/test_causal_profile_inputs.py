"""The causal profile reads the features and scaffolds the training wrote instead of featurizing the dataset again.

On a real PIK3CA subset trained through ``train_from_dataset`` (features file on disk, as the training queue
leaves it): the arrays read back equal what featurizing again gives, and the profile built from them equals the
profile built by featurizing, with no molecule featurized.
"""

from __future__ import annotations

import numpy as np
import pytest

from services.causal import attach, profile
from services.causal.profile import build_profile, featurized_arrays
from services.predictor.evaluation import split_keys
from shared.datasets import read_rows
from shared.model_store import CAUSAL_PROFILE_FILE, ModelStore
from tests.unit.test_training_card import FEATURIZER, pik3ca, train  # noqa: F401  (pik3ca is a fixture)


@pytest.fixture(scope="module")
def trained(pik3ca, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("models")
    return train(pik3ca, root, name="pik3ca-profiled"), root


def test_the_stored_arrays_equal_featurizing_again(pik3ca, trained):  # noqa: F811
    datasets_dir, meta = pik3ca
    manifest, _ = trained
    rows = read_rows(datasets_dir, meta["dataset_id"])
    stored = attach.training_arrays(datasets_dir, manifest, rows)
    fresh = featurized_arrays(rows, FEATURIZER)
    assert stored is not None
    assert stored.rows == fresh.rows and stored.smiles == fresh.smiles
    assert stored.x.dtype == fresh.x.dtype and np.array_equal(stored.x, fresh.x)
    assert stored.ad_bits == fresh.ad_bits
    assert stored.scaffolds == fresh.scaffolds == split_keys("scaffold", fresh.smiles, {})


def test_a_version_without_a_features_file_falls_back_to_featurizing(pik3ca, trained):  # noqa: F811
    datasets_dir, meta = pik3ca
    manifest, _ = trained
    rows = read_rows(datasets_dir, meta["dataset_id"])
    assert attach.training_arrays(datasets_dir, {**manifest, "features_key": None}, rows) is None
    other = {**manifest, "featurizer": {"name": "morgan_counts", "params": {"radius": 3, "n_bits": 2048}}}
    assert attach.training_arrays(datasets_dir, other, rows) is None  # features of another featurizer: not used


def test_attach_builds_the_same_profile_without_featurizing(pik3ca, trained, monkeypatch):  # noqa: F811
    datasets_dir, meta = pik3ca
    manifest, models_root = trained
    rows = read_rows(datasets_dir, meta["dataset_id"])
    model = {"featurizer": manifest["featurizer"], "estimator": manifest["estimator"], "seed": manifest["seed"]}
    featurizing = build_profile(rows, meta["context_columns"], None, model, manifest["seed"])

    def refuse(*_: object) -> None:
        raise AssertionError("the profile featurized a molecule again")

    monkeypatch.setattr(profile, "featurize_molecule", refuse)
    models = ModelStore(models_root)
    assert attach.attach_profile(models, datasets_dir, manifest) == "ready"
    reading = models.read_sidecar(manifest["name"], manifest["version"], CAUSAL_PROFILE_FILE)
    # attach also judges the card's held-out molecules, from the same stored features (a featurization would fail it)
    assert reading.pop("held_out_verdicts")["status"] == "ready"
    for built in (featurizing, reading):
        del built["build"]  # its timings differ from run to run
    assert reading == featurizing
