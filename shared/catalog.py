"""Names and default parameters of the featurizers and estimators a model may name.

Kept free of RDKit and scikit-learn so the gateway can reject an unknown name with a 400 listing the known ones;
the registries in ``services.featurizer`` and ``services.predictor`` take their defaults from here, and a unit
test checks that both sides name the same set. ``PARAMETERS`` bounds every parameter's value, so a value the
services could not use (``n_bits: 2**40``, ``n_estimators: 0``) is a 400 at the gateway, not a failed job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
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

# How a model's conformal intervals are calibrated (``services/predictor/conformal.py``). "single": one quantile over
# all calibration molecules, the default: Mondrian did not meet the criterion written in
# tests/benchmarks/intervals.py on its confirmation splits. "mondrian": one quantile per nearest-neighbour similarity
# tertile, for a lab that wants coverage held within each similarity bin rather than on average.
INTERVAL_RULES = ("single", "mondrian")
DEFAULT_INTERVAL_RULE = "single"


@dataclass(frozen=True)
class Integer:
    low: int
    high: int

    def allows(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high

    def describe(self) -> str:
        return f"an integer from {self.low} to {self.high}"


@dataclass(frozen=True)
class Fraction:
    """A number in (low, high]."""

    low: float
    high: float

    def allows(self, value: Any) -> bool:
        return (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
                and self.low < value <= self.high)

    def describe(self) -> str:
        return f"a number in ({self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class Choice:
    options: tuple[str, ...]

    def allows(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.options

    def describe(self) -> str:
        return "one of " + ", ".join(f"'{o}'" for o in self.options)


@dataclass(frozen=True)
class AnyOf:
    kinds: tuple[Integer | Fraction | Choice, ...]

    def allows(self, value: Any) -> bool:
        return any(kind.allows(value) for kind in self.kinds)

    def describe(self) -> str:
        return " or ".join(kind.describe() for kind in self.kinds)


Bound = Integer | Fraction | Choice | AnyOf

# The allowed values of every parameter above, by name (a name means the same wherever it appears). Wide enough
# for any sensible model, narrow enough that no value can exhaust a worker's memory or fit nothing.
PARAMETERS: dict[str, Bound] = {
    "radius": Integer(1, 4),
    "n_bits": Integer(64, 16_384),
    "n_estimators": Integer(1, 2_000),
    # scikit-learn's meanings: a float is a fraction of the features, an int a number of them
    "max_features": AnyOf((Fraction(0.0, 1.0), Integer(1, 100_000), Choice(("sqrt", "log2")))),
    "min_samples_leaf": Integer(1, 1_000),
    "max_iter": Integer(1, 5_000),
    "learning_rate": Fraction(0.0, 1.0),
    "max_leaf_nodes": Integer(2, 4_096),
    "n_neighbors": Integer(1, 100),
    "weights": Choice(("uniform", "distance")),
}


def check_parameters(kind: str, name: str, params: dict[str, Any]) -> None:
    """400 naming each parameter whose value is out of bounds, with what it allows."""
    bounds = {key: PARAMETERS[key] for key in params if key in PARAMETERS}  # all of the catalog's (unit-tested)
    bad = {key: bound.describe() for key, bound in bounds.items() if not bound.allows(params[key])}
    if bad:
        raise InvalidRequest(
            f"{kind} '{name}': " + "; ".join(f"{key} must be {allowed}" for key, allowed in bad.items()),
            {"fields": {f"{kind}.params.{key}": [f"must be {allowed}"] for key, allowed in bad.items()}},
        )


def resolve_spec(kind: str, catalog: dict[str, dict[str, Any]], spec: dict[str, Any]) -> dict[str, Any]:
    """``{"name", "params"}`` completed with defaults; an unknown name or parameter, or a value out of bounds
    (``PARAMETERS``), raises a 400 saying what is known or allowed."""
    name = spec.get("name", "")
    if name not in catalog:
        raise InvalidRequest(f"unknown {kind} '{name}'", {f"known_{kind}s": sorted(catalog)})
    unknown = set(spec.get("params") or {}) - set(catalog[name])
    if unknown:
        raise InvalidRequest(
            f"unknown parameters for {kind} '{name}': {sorted(unknown)}", {"known_parameters": sorted(catalog[name])}
        )
    params = {**catalog[name], **(spec.get("params") or {})}
    check_parameters(kind, name, params)
    return {"name": name, "params": params}
