"""Predict a featurized chunk: molecules that failed earlier pass through with their error.

Rule: a model whose card has normalised-conformal ``quantiles`` gives each molecule its own interval,
value +/- q_level x (sigma + beta), with sigma from ``spread.sigmas`` (the served estimator's tree spread on the
chunk, or the neighbour distance of the molecule's ``ad_bits`` to the version's training fingerprints) and
``prediction.sigma``; a card with ``mondrian`` quantiles takes each molecule's by its nearest-neighbour similarity
to the version's training fingerprints; an older card (``half_width`` only) gives every molecule the same interval.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

import numpy as np

from services.predictor.conformal import served_half_widths
from services.predictor.loader import LoadedModel, get_model_cache
from services.predictor.spread import forest_mean, sigmas, tree_predictions
from services.predictor.training import dense_matrix
from shared.applicability import AD_FILE, NearestNeighbourIndex
from shared.config import get_settings
from shared.messages import FeaturizedChunk, FeaturizedMolecule
from shared.model_store import ModelStore

logger = logging.getLogger(__name__)


def _around(value: float, half_width: float | None) -> list[float] | None:
    return None if half_width is None else [round(value - half_width, 4), round(value + half_width, 4)]


@lru_cache(maxsize=8)
def training_index(models_dir: str, name: str, version: int) -> NearestNeighbourIndex:
    """The version's training fingerprints (checksum-verified), for the neighbour-distance sigma."""
    store = ModelStore(models_dir)
    manifest = store.resolve(f"{name}@{version}", allow_retired=True)
    return NearestNeighbourIndex(np.load(store.verified_file(manifest, AD_FILE)))


def _sigmas(model: LoadedModel, x: np.ndarray, molecules: list[FeaturizedMolecule],
            per_tree: np.ndarray | None = None) -> np.ndarray | None:
    """Per molecule sigma of the card's kind; None (constant widths) for an older card or a kind that differs."""
    interval = model.manifest["interval"]
    if "quantiles" not in interval:
        return None
    manifest = model.manifest
    kind, sigma = sigmas(model.estimator, x, lambda: [m.get("ad_bits") or [] for m in molecules],
                         lambda: training_index(str(get_settings().models_dir), manifest["name"], manifest["version"]),
                         per_tree)
    if kind != interval["sigma"]["kind"]:
        logger.warning("%s@%s: card calibrated on %s, estimator gives %s; serving the median width",
                       manifest["name"], manifest["version"], interval["sigma"]["kind"], kind)
        return None
    return sigma


def _similarities(model: LoadedModel, molecules: list[FeaturizedMolecule]) -> np.ndarray | None:
    """Nearest-neighbour similarity of each molecule, only for a card whose quantiles are by similarity bin."""
    if "mondrian" not in model.manifest["interval"]:
        return None
    manifest = model.manifest
    index = training_index(str(get_settings().models_dir), manifest["name"], manifest["version"])
    return np.array([index.max_similarity(m.get("ad_bits") or []) for m in molecules])


def chunk_matrix(message: FeaturizedChunk, n_features: int) -> np.ndarray:
    """The dense features of the chunk's parsed molecules, in order (built once per chunk by the scoring step)."""
    return dense_matrix([m["features"] for m in message["molecules"] if m["error"] is None], n_features)


def predict_chunk(message: FeaturizedChunk, model: LoadedModel | None = None,
                  x: np.ndarray | None = None) -> FeaturizedChunk:
    """Scoring, first half: each parsed molecule gains ``prediction`` with its conformal intervals (and sigma);
    ``x``: the chunk's ``chunk_matrix`` when the caller has it already."""
    ref = message["model"]
    model = model or get_model_cache().get(ref["name"], ref["version"])
    molecules = message["molecules"]
    ok = [m for m in molecules if m["error"] is None]
    if ok:
        x = chunk_matrix(message, model.manifest["n_features"]) if x is None else x
        per_tree = tree_predictions(model.estimator, x)  # one pass over the trees: the value and the spread
        values = model.estimator.predict(x) if per_tree is None else forest_mean(per_tree)
        sigma = _sigmas(model, x, ok, per_tree)
        widths = served_half_widths(model.manifest["interval"], sigma, len(ok), _similarities(model, ok))
        levels = [(key, widths[level]) for key, level in (("interval", "90"), ("interval_80", "80"))]
        for i, (molecule, value) in enumerate(zip(ok, values, strict=True)):
            value = round(float(value), 4)
            prediction: dict[str, Any] = {
                "value": value,
                "unit": model.manifest["unit"],
                **{key: _around(value, None if w is None else float(w[i])) for key, w in levels},
            }
            if sigma is not None:
                prediction["sigma"] = round(float(sigma[i]), 4)
            molecule["prediction"] = prediction
    for molecule in molecules:
        molecule.setdefault("prediction", None)
    return message
