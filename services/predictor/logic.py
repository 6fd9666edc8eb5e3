"""Predict a featurized chunk: molecules that failed earlier pass through with their error."""

from __future__ import annotations

from typing import Any

from services.predictor.loader import LoadedModel, get_model_cache
from services.predictor.training import dense_matrix


def _around(value: float, half_width: float | None) -> list[float] | None:
    return None if half_width is None else [round(value - half_width, 4), round(value + half_width, 4)]


def predict_chunk(message: dict[str, Any], model: LoadedModel | None = None) -> dict[str, Any]:
    """Pipeline step 2: each parsed molecule gains ``prediction`` with its conformal interval."""
    ref = message["model"]
    model = model or get_model_cache().get(ref["name"], ref["version"])
    molecules = message["molecules"]
    ok = [m for m in molecules if m["error"] is None]
    if ok:
        n_features = model.manifest["n_features"]
        values = model.estimator.predict(dense_matrix([m["features"] for m in ok], n_features))
        interval = model.manifest["interval"]
        for molecule, value in zip(ok, values, strict=True):
            value = round(float(value), 4)
            molecule["prediction"] = {
                "value": value,
                "unit": model.manifest["unit"],
                "interval": _around(value, interval["half_width"]),
                "interval_80": _around(value, interval.get("half_width_80")),
            }
    for molecule in molecules:
        molecule.setdefault("prediction", None)
    return message
