"""Names and default parameters of the featurizers and estimators a model may name.

Kept free of RDKit and scikit-learn so the gateway can reject an unknown name with a 400 listing the known ones;
the registries in ``services.featurizer`` and ``services.predictor`` take their defaults from here, and a unit
test checks that both sides name the same set.
"""

from __future__ import annotations

from typing import Any

from shared.errors import InvalidRequest

FEATURIZERS: dict[str, dict[str, Any]] = {
    "morgan_counts": {"radius": 2, "n_bits": 2048},
    "morgan_bits": {"radius": 2, "n_bits": 2048},
    "rdkit2d": {},  # a fixed list of RDKit 2D descriptors (services/featurizer/descriptors.py): nothing to choose
    "morgan_counts+rdkit2d": {"radius": 2, "n_bits": 2048},  # Morgan counts, then the descriptors
}

ESTIMATORS: dict[str, dict[str, Any]] = {
    "random_forest": {"n_estimators": 200, "max_features": 0.2, "min_samples_leaf": 1},
    "extra_trees": {"n_estimators": 200, "max_features": 0.2, "min_samples_leaf": 1},
    "hist_gradient_boosting": {"max_iter": 300, "learning_rate": 0.1, "max_leaf_nodes": 31},
    "knn": {"n_neighbors": 5, "weights": "distance"},
}


def resolve_spec(kind: str, catalog: dict[str, dict[str, Any]], spec: dict[str, Any]) -> dict[str, Any]:
    """``{"name", "params"}`` completed with defaults; unknown names or parameters raise a 400 listing the known."""
    name = spec.get("name", "")
    if name not in catalog:
        raise InvalidRequest(f"unknown {kind} '{name}'", {f"known_{kind}s": sorted(catalog)})
    unknown = set(spec.get("params") or {}) - set(catalog[name])
    if unknown:
        raise InvalidRequest(
            f"unknown parameters for {kind} '{name}': {sorted(unknown)}", {"known_parameters": sorted(catalog[name])}
        )
    return {"name": name, "params": {**catalog[name], **(spec.get("params") or {})}}
