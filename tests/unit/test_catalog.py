"""shared/catalog.py: featurizer and estimator names and defaults, and the check that specs are complete."""

from __future__ import annotations

import pytest

from shared.catalog import ESTIMATORS, FEATURIZERS, PARAMETERS, resolve_spec
from shared.errors import InvalidRequest


def test_both_sides_name_the_same_featurizers():
    from services.featurizer.base import FEATURIZERS as REGISTERED
    from services.featurizer.logic import featurize_chunk  # noqa: F401  (registers every featurizer)

    assert set(REGISTERED) == set(FEATURIZERS)


def test_both_sides_name_the_same_estimators():
    from services.predictor.estimators import BUILDERS

    assert set(BUILDERS) == set(ESTIMATORS)


def test_reference_defaults():
    assert FEATURIZERS["morgan_counts"] == {"radius": 2, "n_bits": 2048}
    assert ESTIMATORS["random_forest"] == {"n_estimators": 200, "max_features": 0.2, "min_samples_leaf": 1}


def test_resolve_fills_defaults():
    assert resolve_spec("featurizer", FEATURIZERS, {"name": "morgan_bits", "params": {"n_bits": 64}}) == {
        "name": "morgan_bits", "params": {"radius": 2, "n_bits": 64},
    }


@pytest.mark.parametrize("params", [None, {}])
def test_resolve_without_params(params):
    spec = {"name": "knn"} if params is None else {"name": "knn", "params": params}
    assert resolve_spec("estimator", ESTIMATORS, spec) == {"name": "knn",
                                                           "params": {"n_neighbors": 5, "weights": "distance"}}


def test_resolve_does_not_modify_the_catalog():
    resolve_spec("estimator", ESTIMATORS, {"name": "knn", "params": {"n_neighbors": 1}})
    assert ESTIMATORS["knn"]["n_neighbors"] == 5


@pytest.mark.parametrize("spec", [{"name": "svm"}, {}, {"name": None}])
def test_unknown_name_lists_the_known(spec):
    with pytest.raises(InvalidRequest) as info:
        resolve_spec("estimator", ESTIMATORS, spec)
    assert info.value.details == {"known_estimators": sorted(ESTIMATORS)}


def test_unknown_parameter_lists_the_known():
    with pytest.raises(InvalidRequest) as info:
        resolve_spec("featurizer", FEATURIZERS, {"name": "morgan_counts", "params": {"radius": 1, "useChirality": 1}})
    assert "useChirality" in info.value.message
    assert info.value.details == {"known_parameters": ["n_bits", "radius"]}


def test_every_parameter_is_bounded_and_every_default_allowed():
    for catalog in (FEATURIZERS, ESTIMATORS):
        for defaults in catalog.values():
            for key, value in defaults.items():
                assert PARAMETERS[key].allows(value), key
    named = {key for catalog in (FEATURIZERS, ESTIMATORS) for defaults in catalog.values() for key in defaults}
    assert named == set(PARAMETERS)


@pytest.mark.parametrize(("kind", "catalog", "name", "params", "allowed"), [
    ("featurizer", FEATURIZERS, "morgan_counts", {"n_bits": 2**40}, "an integer from 64 to 16384"),
    ("featurizer", FEATURIZERS, "morgan_bits", {"n_bits": 32}, "an integer from 64 to 16384"),
    ("featurizer", FEATURIZERS, "morgan_counts+rdkit2d", {"radius": 5}, "an integer from 1 to 4"),
    ("featurizer", FEATURIZERS, "morgan_counts", {"radius": 2.0}, "an integer from 1 to 4"),
    ("featurizer", FEATURIZERS, "morgan_counts", {"radius": True}, "an integer from 1 to 4"),
    ("estimator", ESTIMATORS, "random_forest", {"n_estimators": 0}, "an integer from 1 to 2000"),
    ("estimator", ESTIMATORS, "extra_trees", {"n_estimators": "100"}, "an integer from 1 to 2000"),
    ("estimator", ESTIMATORS, "random_forest", {"max_features": 0},
     "a number in (0, 1] or an integer from 1 to 100000 or one of 'sqrt', 'log2'"),
    ("estimator", ESTIMATORS, "random_forest", {"max_features": 1.5},
     "a number in (0, 1] or an integer from 1 to 100000 or one of 'sqrt', 'log2'"),
    ("estimator", ESTIMATORS, "random_forest", {"min_samples_leaf": 0}, "an integer from 1 to 1000"),
    ("estimator", ESTIMATORS, "hist_gradient_boosting", {"learning_rate": float("nan")}, "a number in (0, 1]"),
    ("estimator", ESTIMATORS, "hist_gradient_boosting", {"max_iter": 10**9}, "an integer from 1 to 5000"),
    ("estimator", ESTIMATORS, "hist_gradient_boosting", {"max_leaf_nodes": 1}, "an integer from 2 to 4096"),
    ("estimator", ESTIMATORS, "knn", {"n_neighbors": 0}, "an integer from 1 to 100"),
    ("estimator", ESTIMATORS, "knn", {"weights": "gaussian"}, "one of 'uniform', 'distance'"),
])
def test_a_value_out_of_bounds_is_a_400_naming_the_parameter_and_what_it_allows(kind, catalog, name, params, allowed):
    with pytest.raises(InvalidRequest) as info:
        resolve_spec(kind, catalog, {"name": name, "params": params})
    (key,) = params
    assert info.value.code == "validation_error"
    assert info.value.message == f"{kind} '{name}': {key} must be {allowed}"
    assert info.value.details == {"fields": {f"{kind}.params.{key}": [f"must be {allowed}"]}}


@pytest.mark.parametrize("params", [{"max_features": 1.0}, {"max_features": 7}, {"max_features": "sqrt"},
                                    {"n_estimators": 1}, {"n_estimators": 2000}])
def test_values_within_bounds_are_kept(params):
    assert resolve_spec("estimator", ESTIMATORS, {"name": "random_forest", "params": params})["params"].items() >= (
        params.items())


def test_every_bad_parameter_is_named_at_once():
    with pytest.raises(InvalidRequest) as info:
        resolve_spec("featurizer", FEATURIZERS, {"name": "morgan_bits", "params": {"radius": 0, "n_bits": 1}})
    assert set(info.value.details["fields"]) == {"featurizer.params.radius", "featurizer.params.n_bits"}


def test_catalog_is_importable_without_the_heavy_libraries():
    # the gateway validates names with it, so it must not pull in RDKit or scikit-learn
    import subprocess
    import sys

    probe = "import sys, shared.catalog; print(sorted(m for m in ('rdkit', 'sklearn', 'numpy') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
