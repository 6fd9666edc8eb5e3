"""shared/catalog.py: featurizer and estimator names and defaults, and the check that specs are complete."""

from __future__ import annotations

import pytest

from shared.catalog import ESTIMATORS, FEATURIZERS, resolve_spec
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


def test_catalog_is_importable_without_the_heavy_libraries():
    # the gateway validates names with it, so it must not pull in RDKit or scikit-learn
    import subprocess
    import sys

    probe = "import sys, shared.catalog; print(sorted(m for m in ('rdkit', 'sklearn', 'numpy') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
