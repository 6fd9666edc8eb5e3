"""services/predictor/logic.py: predictions with conformal intervals (per molecule for a normalised card, constant for
an older one); failed molecules pass through."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor

from services.featurizer.logic import featurize_chunk
from services.predictor.loader import LoadedModel
from services.predictor.logic import predict_chunk
from services.predictor.spread import forest_mean, tree_predictions, tree_spread
from services.predictor.training import dense_matrix
from tests.unit.conftest import TINY_FEATURIZER


def featurized_message(model_manifest, smiles):
    message = {
        "job_id": "j1",
        "chunk": 0,
        "model": {"name": model_manifest["name"], "version": model_manifest["version"], "featurizer": TINY_FEATURIZER},
        "molecules": [{"id": str(i), "smiles": s} for i, s in enumerate(smiles)],
    }
    return featurize_chunk(message)


def constant_model(value, half_width, unit="pActivity"):
    """A model predicting ``value`` for everything: isolates predict_chunk's interval arithmetic."""
    estimator = DummyRegressor(strategy="constant", constant=value).fit(np.zeros((1, 8)), [value])
    manifest = {"name": "const", "version": 1, "n_features": 8, "unit": unit, "interval": {"half_width": half_width}}
    return LoadedModel(manifest, estimator)


def test_predictions_from_the_trained_model(loaded_tiny):
    smiles = ["CCO", "C1CC", "Cn1ccc2ccc3c4[nH]c5c(CCCN[C@H]6CC[C@H](O)CC6)cccc5c4c4c(c3c21)C(=O)NC4=O"]
    message = featurized_message(loaded_tiny.manifest, smiles)
    invalid_before = copy.deepcopy(message["molecules"][1])
    out = predict_chunk(message, model=loaded_tiny)

    valid = [out["molecules"][0], out["molecules"][2]]
    expected = loaded_tiny.estimator.predict(dense_matrix([m["features"] for m in valid], 2048))
    half_width = loaded_tiny.manifest["interval"]["half_width"]
    for molecule, raw in zip(valid, expected, strict=True):
        prediction = molecule["prediction"]
        assert prediction["value"] == round(float(raw), 4)
        assert prediction["unit"] == "pActivity"
        assert prediction["interval"] == [round(prediction["value"] - half_width, 4),
                                          round(prediction["value"] + half_width, 4)]
        assert 2 < prediction["value"] < 12  # a pActivity, in the range of the training data

    # the invalid molecule is untouched apart from an explicit null prediction
    assert out["molecules"][1] == {**invalid_before, "prediction": None}
    assert out["molecules"][1]["error"]["code"] == "invalid_smiles"


def test_interval_is_value_plus_minus_half_width():
    message = {"model": {"name": "const", "version": 1}, "molecules": [
        {"id": "a", "error": None, "features": {"indices": [1], "values": [3]}},
        {"id": "b", "error": None, "features": {"indices": [], "values": []}},
    ]}
    out = predict_chunk(message, model=constant_model(6.123456, 0.75, unit="pIC50"))
    for molecule in out["molecules"]:
        assert molecule["prediction"] == {"value": 6.1235, "unit": "pIC50", "interval": [5.3735, 6.8735],
                                          "interval_80": None}  # this model's card has no 80% width


def test_order_and_other_fields_are_kept():
    message = {"job_id": "j", "chunk": 4, "model": {"name": "const", "version": 1}, "molecules": [
        {"id": "x", "error": {"code": "invalid_smiles", "message": "m"}},
        {"id": "y", "error": None, "features": {"indices": [0], "values": [1]}, "ad_bits": [5]},
    ]}
    out = predict_chunk(message, model=constant_model(5.0, 1.0))
    assert (out["job_id"], out["chunk"]) == ("j", 4)
    assert [m["id"] for m in out["molecules"]] == ["x", "y"]
    assert out["molecules"][1]["ad_bits"] == [5]
    assert out["molecules"][1]["prediction"]["interval"] == [4.0, 6.0]


def test_a_chunk_of_only_invalid_molecules_needs_no_estimator():
    class Unusable:
        def predict(self, x):
            raise AssertionError("the estimator must not be called")

    manifest = {"name": "m", "version": 1, "n_features": 8, "unit": "pActivity", "interval": {"half_width": 1.0}}
    message = {"model": {"name": "m", "version": 1},
               "molecules": [{"id": "a", "error": {"code": "invalid_smiles", "message": "x"}}]}
    out = predict_chunk(message, model=LoadedModel(manifest, Unusable()))
    assert out["molecules"][0]["prediction"] is None


def test_predict_chunk_without_a_model_uses_the_cache(tiny_env):
    message = featurized_message(tiny_env.manifest, ["CCO"])
    out = predict_chunk(message)  # no model passed: loaded through CAUSALMOL_MODELS_DIR
    assert out["molecules"][0]["prediction"]["unit"] == "pActivity"


def test_unknown_model_without_a_model_raises(tiny_env):
    from shared.errors import ModelNotFound

    message = {"model": {"name": "absent", "version": 1}, "molecules": []}
    with pytest.raises(ModelNotFound):
        predict_chunk(message)


# ---- per-molecule intervals ----------------------------------------------------------------------------------------

NORMALISED = {"method": "normalized_conformal", "sigma": {"kind": "tree_spread"}, "beta": 0.05,
              "quantiles": {"80": 1.2, "90": 1.6}, "half_width": 0.9, "half_width_80": 0.7}
OLD_ON_DISK = {"method": "cv_residual_conformal", "coverage": 0.9, "half_width": 0.9, "half_width_80": 0.7,
               "calibration_n": 40, "measured_coverage": {"80": 0.8, "90": 0.9, "n": 10, "on": "the held-out split"}}


def forest_model(interval):
    """SYNTHETIC: a 5-tree forest on random count features, with the given card interval."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, size=(40, 8)).astype(np.float32)
    forest = RandomForestRegressor(n_estimators=5, random_state=0, n_jobs=1).fit(x, x[:, 0] + rng.normal(0, 1, 40))
    manifest = {"name": "forest", "version": 1, "n_features": 8, "unit": "pActivity", "interval": interval}
    return LoadedModel(manifest, forest)


def forest_message():
    return {"model": {"name": "forest", "version": 1}, "molecules": [
        {"id": str(i), "error": None, "features": {"indices": indices, "values": values}}
        for i, (indices, values) in enumerate([([0], [2]), ([1, 3], [1, 2]), ([], []), ([0, 5], [1, 1])])]}


def test_a_normalised_card_gives_each_molecule_its_own_interval():
    model = forest_model(NORMALISED)
    message = forest_message()
    x = dense_matrix([m["features"] for m in message["molecules"]], 8)
    sigma = tree_spread(model.estimator, x)
    out = predict_chunk(message, model=model)
    for molecule, s in zip(out["molecules"], sigma, strict=True):
        prediction = molecule["prediction"]
        value = prediction["value"]
        for key, q in (("interval", 1.6), ("interval_80", 1.2)):
            half = q * (s + 0.05)
            assert prediction[key] == [round(value - half, 4), round(value + half, 4)]
        assert prediction["sigma"] == round(float(s), 4)
    assert len({round(float(s), 4) for s in sigma}) > 1  # the widths really differ between molecules


def test_an_old_manifest_on_disk_still_serves_one_constant_interval():
    out = predict_chunk(forest_message(), model=forest_model(OLD_ON_DISK))
    for molecule in out["molecules"]:
        prediction = molecule["prediction"]
        assert set(prediction) == {"value", "unit", "interval", "interval_80"}  # no sigma: as served before
        value = prediction["value"]
        assert prediction["interval"] == [round(value - 0.9, 4), round(value + 0.9, 4)]
        assert prediction["interval_80"] == [round(value - 0.7, 4), round(value + 0.7, 4)]


def test_a_sigma_of_another_kind_than_calibrated_falls_back_to_the_median_width(caplog):
    card = {**NORMALISED, "sigma": {"kind": "neighbour_distance", "k": 5}}
    out = predict_chunk(forest_message(), model=forest_model(card))
    prediction = out["molecules"][0]["prediction"]
    assert prediction["interval"] == [round(prediction["value"] - 0.9, 4), round(prediction["value"] + 0.9, 4)]
    assert "sigma" not in prediction and "serving the median width" in caplog.text


@pytest.mark.parametrize("estimator", [RandomForestRegressor(n_estimators=30, random_state=0),
                                       ExtraTreesRegressor(n_estimators=30, random_state=0)])
def test_one_pass_over_the_trees_gives_the_forests_own_predictions_and_spread(estimator):
    """The scoring step predicts from its per-tree pass: the same floats as the forest's single-threaded predict."""
    rng = np.random.default_rng(0)
    x = rng.poisson(0.3, (120, 64)).astype(np.float32)
    estimator.fit(x[:80], x[:80, :5].sum(axis=1) + rng.normal(0, 0.3, 80))
    per_tree = tree_predictions(estimator, x[80:])
    assert np.array_equal(forest_mean(per_tree), estimator.set_params(n_jobs=1).predict(x[80:]))
    np.testing.assert_allclose(forest_mean(per_tree), estimator.set_params(n_jobs=-1).predict(x[80:]), rtol=1e-12)
    assert np.array_equal(tree_spread(estimator, x[80:], per_tree), tree_spread(estimator, x[80:]))
    assert tree_predictions(DummyRegressor().fit(x, x[:, 0]), x) is None


def test_a_mondrian_card_takes_each_molecules_quantile_by_its_similarity(monkeypatch):
    """SYNTHETIC fingerprints: molecule 0 is a training molecule (similarity 1), molecule 1 shares nothing (0)."""
    from services.predictor import logic
    from shared.applicability import NearestNeighbourIndex, pack_fingerprints

    index = NearestNeighbourIndex(pack_fingerprints([[1, 2, 3], [4, 5]]))
    monkeypatch.setattr(logic, "training_index", lambda *args: index)
    card = {**NORMALISED, "mondrian": {"edges": [0.5], "quantiles": [{"80": 2.0, "90": 3.0}, {"80": 1.0, "90": 1.5}]}}
    message = forest_message()
    for molecule, bits in zip(message["molecules"], ([1, 2, 3], [7], [], [4, 5]), strict=True):
        molecule["ad_bits"] = bits
    out = predict_chunk(message, model=forest_model(card))
    # molecules 0 and 3 are in the training set (upper bin, q90 1.5); 1 and 2 share no bit with it (lower bin, 3.0)
    for molecule, q90 in zip(out["molecules"], (1.5, 3.0, 3.0, 1.5), strict=True):
        prediction = molecule["prediction"]
        low, high = prediction["interval"]
        assert (high - low) / 2 == pytest.approx(q90 * (prediction["sigma"] + 0.05), abs=2e-4)  # sigma rounded
