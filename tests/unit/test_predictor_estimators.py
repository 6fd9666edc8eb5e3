"""services/predictor/estimators.py: the estimator registry, parameter checking and determinism."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from services.predictor.estimators import BUILDERS, make_estimator
from shared.catalog import ESTIMATORS
from shared.errors import InvalidRequest


def synthetic_matrix(n=60, d=32, seed=0):
    """SYNTHETIC: sparse 0/1 'fingerprints'; y depends on two bits only (y = 5 + 2*x0 + x1), known effects."""
    rng = np.random.default_rng(seed)
    x = (rng.random((n, d)) < 0.3).astype(np.float32)
    x[: n // 2, 0] = 1  # make sure both values of the informative bits are well represented
    x[n // 2 :, 0] = 0
    y = 5.0 + 2.0 * x[:, 0] + 1.0 * x[:, 1]
    return x, y


def test_registered_names():
    assert set(ESTIMATORS) == {"random_forest", "extra_trees", "hist_gradient_boosting", "knn"}
    assert set(BUILDERS) == set(ESTIMATORS)  # every name the catalog accepts can be built


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_every_estimator_fits_and_predicts(name):
    x, y = synthetic_matrix()
    params = {"n_estimators": 20} if name in ("random_forest", "extra_trees") else {}
    if name == "hist_gradient_boosting":
        params = {"max_iter": 30}
    model, spec = make_estimator({"name": name, "params": params}, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no estimator warns on its own input (knn binarizes explicitly)
        model.fit(x, y)
        pred = model.predict(x)
    assert pred.shape == (len(y),)
    assert np.all(np.isfinite(pred))
    # the known effect is recovered: molecules with bit 0 set are predicted ~2 higher
    assert pred[x[:, 0] == 1].mean() - pred[x[:, 0] == 0].mean() == pytest.approx(2.0, abs=0.6)
    assert spec["name"] == name


def test_full_parameter_set_is_reported():
    _, spec = make_estimator({"name": "random_forest", "params": {"n_estimators": 7}}, seed=3)
    assert spec == {"name": "random_forest", "params": {"n_estimators": 7, "max_features": 0.2, "min_samples_leaf": 1}}


def test_params_and_seed_reach_the_regressor():
    model, _ = make_estimator({"name": "extra_trees", "params": {"n_estimators": 7}}, seed=42)
    assert model.n_estimators == 7 and model.random_state == 42


def test_knn_compares_presence_not_counts():
    """Tanimoto neighbours: a molecule with an environment counted three times is the same as with it once."""
    x = np.array([[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]], dtype=np.float32)
    model, _ = make_estimator({"name": "knn", "params": {"n_neighbors": 1}}, seed=0)
    model.fit(x, np.array([1.0, 2.0, 3.0]))
    assert model.predict(np.array([[3, 0, 0, 0], [0, 4, 2, 0]], dtype=np.float32)).tolist() == [1.0, 2.0]


def test_missing_params_means_defaults():
    model, spec = make_estimator({"name": "knn"}, seed=0)
    assert spec["params"] == {"n_neighbors": 5, "weights": "distance"}
    assert model.metric == "jaccard"


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_same_seed_same_predictions(name):
    x, y = synthetic_matrix()
    params = {"max_iter": 20} if name == "hist_gradient_boosting" else {} if name == "knn" else {"n_estimators": 10}
    predictions = []
    for _ in range(2):
        model, _ = make_estimator({"name": name, "params": params}, seed=7)
        predictions.append(model.fit(x, y).predict(x))
    np.testing.assert_array_equal(predictions[0], predictions[1])


@pytest.mark.parametrize("spec", [{"name": "svm"}, {"name": ""}, {}])
def test_unknown_estimator(spec):
    with pytest.raises(InvalidRequest) as info:
        make_estimator(spec, seed=0)
    assert info.value.details == {"known_estimators": sorted(ESTIMATORS)}


def test_unknown_param():
    with pytest.raises(InvalidRequest) as info:
        make_estimator({"name": "knn", "params": {"n_neighbors": 3, "leaf_size": 10}}, seed=0)
    assert "leaf_size" in info.value.message
    assert info.value.details == {"known_parameters": ["n_neighbors", "weights"]}
