"""Verdicts on the held-out split, judged by the serving annotation, and the held-out error of each verdict.

The card's held-out predictions (``cv_predictions.csv``, side ``held_out``) come from the evaluation model, fit on
the training side only. Each held-out molecule is annotated by ``annotate_molecules``, the function that serves,
with the two inputs a verdict's footing rests on taken from that held-out side: the applicability domain and the
coverage condition read the nearest-neighbour similarity to the training side only (an index without the held-out
molecules), and the tree-spread condition reads the evaluation model's spread (the stored held-out sigma, when the
card's sigma is the tree spread). The substructure evidence comes from the served estimator and the profile, both
fit on every row, held-out ones included: that part is not held out, and the stored ``method`` says so.
"""

from __future__ import annotations

import csv
import io
import logging
from typing import Any

import numpy as np

from services.causal.evidence import CausalContext, compile_profile
from services.causal.logic import annotate_molecules
from services.causal.profile import TrainingArrays, featurized_arrays
from services.predictor.loader import ModelCache
from services.predictor.spread import TREE_SPREAD
from shared.applicability import N_BITS, NearestNeighbourIndex
from shared.model_store import PREDICTIONS_FILE, ModelStore

logger = logging.getLogger(__name__)

VERDICTS = ("supported", "caution", "unsupported", "unknown")
METHOD = (
    "each held-out molecule (the card's held-out split, predicted by the evaluation model fit on the training side) "
    "annotated by the serving function; its domain and coverage similarity are to the training side only, its "
    "tree spread the evaluation model's when the card's sigma is the tree spread (spread_held_out), else the served "
    "model's; its substructure evidence is the served model's and the profile's, "
    "which were fit on every row, held-out ones included. MAE is |measured - held-out prediction|."
)


def held_out_side(text: str) -> list[dict[str, Any]]:
    """The held-out rows of a ``cv_predictions.csv``: id, measured, predicted, sigma, similarity (None if absent)."""
    return [{"id": r["id"], "measured": float(r["pactivity"]), "predicted": float(r["prediction"]),
             "sigma": float(r["sigma"]) if r.get("sigma") else None}
            for r in csv.DictReader(io.StringIO(text)) if r["side"] == "held_out"]


def index_without(ad_bits: list[list[int]], excluded: set[int]) -> NearestNeighbourIndex:
    """The domain index over every row but ``excluded`` (the held-out molecules): the training side only."""
    bits = np.zeros((len(ad_bits) - len(excluded), N_BITS), dtype=bool)
    for row, on in enumerate(on for i, on in enumerate(ad_bits) if i not in excluded):
        bits[row, on] = True
    return NearestNeighbourIndex(np.packbits(bits, axis=1))


def summarize(verdicts: list[str], measured: list[float], predicted: list[float]) -> dict[str, Any]:
    """n and MAE (and RMSE) of the held-out rows per verdict, and overall."""
    errors = np.abs(np.array(measured) - np.array(predicted))
    per_verdict = {}
    for verdict in VERDICTS:
        mask = np.array([v == verdict for v in verdicts], dtype=bool)
        if mask.any():
            per_verdict[verdict] = {"n": int(mask.sum()), "mae": round(float(errors[mask].mean()), 4),
                                    "rmse": round(float(np.sqrt((errors[mask] ** 2).mean())), 4)}
    return {"n": len(verdicts), "mae": round(float(errors.mean()), 4) if len(errors) else None,
            "per_verdict": per_verdict}


def held_out_verdicts(models: ModelStore, manifest: dict[str, Any], profile: dict[str, Any],
                      rows: list[dict[str, str]], arrays: TrainingArrays | None) -> dict[str, Any] | None:
    """The profile's ``held_out_verdicts`` section; None when the card keeps no held-out predictions. A failure is
    logged and recorded (``status: failed``): it annotates the card, it never fails the profile."""
    if profile.get("status") != "ready" or PREDICTIONS_FILE not in manifest.get("files", {}):
        return None
    try:
        held = held_out_side(models.verified_file(manifest, PREDICTIONS_FILE).read_text())
        data = arrays or featurized_arrays(rows, manifest["featurizer"])
        position = {r["id"]: i for i, r in enumerate(data.rows)}
        held = [h for h in held if h["id"] in position]
        if not held:
            return None
        indices = [position[h["id"]] for h in held]
        estimator = ModelCache(models, 1).get(manifest["name"], manifest["version"]).estimator
        causal = CausalContext(compile_profile(profile), estimator, manifest["featurizer"],
                               int(manifest["n_features"]), (manifest["interval"].get("sigma") or {}).get("kind"))
        molecules = [{"id": h["id"], "error": None, "canonical_smiles": data.smiles[i], "ad_bits": data.ad_bits[i],
                      "prediction": {"value": h["predicted"], "sigma": h["sigma"]}}
                     for h, i in zip(held, indices, strict=True)]
        annotate_molecules(molecules, index_without(data.ad_bits, set(indices)),
                           float(manifest["applicability_domain"]["threshold"]), causal, x=data.x[indices])
        verdicts = [m["causal_validity"]["verdict"] for m in molecules]
        section = summarize(verdicts, [h["measured"] for h in held], [h["predicted"] for h in held])
    except Exception as exc:  # noqa: BLE001  (an annotation of the card: never a reason to lose the profile)
        logger.exception("held-out verdicts of %s@%s failed", manifest["name"], manifest["version"])
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    logger.info("held-out verdicts of %s@%s: %s", manifest["name"], manifest["version"],
                {v: s["n"] for v, s in section["per_verdict"].items()})
    return {"status": "ready", "method": METHOD, "spread_held_out": causal.sigma_kind == TREE_SPREAD, **section}
