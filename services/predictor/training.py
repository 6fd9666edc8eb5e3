"""Train a predictor and write it, with its held-out metrics, interval and domain threshold, as a model version.

The evaluation is a scaffold split (whole Murcko-scaffold groups held out, the honest test for new chemistry).
The held-out residuals calibrate the split-conformal prediction interval and the applicability-domain
threshold; the served estimator is then refit on all rows.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import rdkit
import sklearn
from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold
from scipy.stats import spearmanr

from services.featurizer.base import SparseVector
from services.featurizer.logic import featurize_molecule, make_featurizer
from services.predictor.estimators import make_estimator
from shared.applicability import AD_FILE, NearestNeighbourIndex, calibrate_threshold, pack_fingerprints
from shared.model_store import ModelStore

logger = logging.getLogger(__name__)

ESTIMATOR_FILE = "estimator.joblib"
INTERVAL_COVERAGE = 0.9


@dataclass
class TrainingSet:
    ids: list[str]
    smiles: list[str]
    y: np.ndarray


def dense_matrix(rows: list[SparseVector], n_features: int) -> np.ndarray:
    matrix = np.zeros((len(rows), n_features), dtype=np.float32)
    for i, row in enumerate(rows):
        matrix[i, row["indices"]] = row["values"]
    return matrix


def scaffold_split(
    canonical_smiles: list[str], test_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Balanced scaffold split (as in chemprop): whole Murcko-scaffold groups go to one side.

    Groups larger than half the test set always train (so the test set is not one series); the other groups
    are shuffled with ``seed`` and fill the training side up to its share, the rest is held out.
    """
    groups: dict[str, list[int]] = defaultdict(list)
    for i, smi in enumerate(canonical_smiles):
        groups[MurckoScaffold.MurckoScaffoldSmiles(mol=Chem.MolFromSmiles(smi))].append(i)
    n_test_target = int(len(canonical_smiles) * test_fraction)
    big = [g for g in groups.values() if len(g) > n_test_target / 2]
    small = [g for g in groups.values() if len(g) <= n_test_target / 2]
    order = np.random.default_rng(seed).permutation(len(small))
    train = [i for g in big for i in g]
    test: list[int] = []
    n_train_target = len(canonical_smiles) - n_test_target
    for k in order:
        (train if len(train) + len(small[k]) <= n_train_target else test).extend(small[k])
    return np.array(sorted(train)), np.array(sorted(test))


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    residuals = y_true - y_pred
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
    return {
        "rmse": round(float(np.sqrt(np.mean(residuals**2))), 4),
        "mae": round(float(np.mean(np.abs(residuals))), 4),
        "r2": round(1 - float(np.sum(residuals**2)) / ss_tot, 4) if ss_tot else 0.0,
        "spearman": round(float(spearmanr(y_true, y_pred).statistic), 4),
        "n": int(len(y_true)),
    }


def conformal_half_width(abs_residuals: np.ndarray, coverage: float) -> float:
    """Split-conformal quantile: the ceil((n+1)c)/n empirical quantile of held-out absolute residuals."""
    n = len(abs_residuals)
    level = min(1.0, math.ceil((n + 1) * coverage) / n)
    return round(float(np.quantile(abs_residuals, level, method="higher")), 4)


def train_model(
    store: ModelStore,
    name: str,
    data: TrainingSet,
    featurizer_spec: dict[str, Any],
    estimator_spec: dict[str, Any],
    seed: int = 0,
    dataset: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Featurize, evaluate on a scaffold split, calibrate, refit on everything, and write a new version."""
    started = time.perf_counter()
    featurizer = make_featurizer(featurizer_spec)
    molecules = [{"id": i, "smiles": s} for i, s in zip(data.ids, data.smiles, strict=True)]
    featurized = [featurize_molecule(m, featurizer) for m in molecules]
    keep = [i for i, f in enumerate(featurized) if f["error"] is None]
    rows = [featurized[i] for i in keep]
    y = data.y[keep].astype(np.float64)
    x = dense_matrix([r["features"] for r in rows], featurizer.n_features)

    train_idx, test_idx = scaffold_split([r["canonical_smiles"] for r in rows], seed=seed)
    model, estimator_full_spec = make_estimator(estimator_spec, seed)
    model.fit(x[train_idx], y[train_idx])
    y_test_pred = model.predict(x[test_idx])
    held_out = regression_metrics(y[test_idx], y_test_pred)
    abs_residuals = np.abs(y[test_idx] - y_test_pred)
    mean_rmse = float(np.sqrt(np.mean((y[test_idx] - y[train_idx].mean()) ** 2)))

    ad_train = NearestNeighbourIndex(pack_fingerprints([rows[i]["ad_bits"] for i in train_idx]))
    test_similarity = np.array([ad_train.max_similarity(rows[i]["ad_bits"]) for i in test_idx])
    threshold = calibrate_threshold(test_similarity, abs_residuals, mean_rmse)

    model, _ = make_estimator(estimator_spec, seed)
    model.fit(x, y)
    fit_seconds = round(time.perf_counter() - started, 2)

    def build(folder: Path) -> dict[str, Any]:
        joblib.dump(model, folder / ESTIMATOR_FILE)
        np.save(folder / AD_FILE, pack_fingerprints([r["ad_bits"] for r in rows]))
        return {
            "featurizer": featurizer.spec(),
            "n_features": featurizer.n_features,
            "estimator": estimator_full_spec,
            "seed": seed,
            "dataset": {**(dataset or {}), "rows_used": len(rows), "rows_rejected": len(featurized) - len(rows)},
            "unit": "pActivity",
            "metrics": {
                "split": "scaffold",
                "held_out": held_out,
                "mean_predictor_rmse": round(mean_rmse, 4),
                "n_train": int(len(train_idx)),
                "n_test": int(len(test_idx)),
            },
            "interval": {
                "method": "split_conformal_scaffold_holdout",
                "coverage": INTERVAL_COVERAGE,
                "half_width": conformal_half_width(abs_residuals, INTERVAL_COVERAGE),
            },
            "applicability_domain": {
                "fingerprint": {"name": "morgan_bits", "radius": 2, "n_bits": 2048},
                "threshold": threshold,
                "method": "held-out similarity below which the model is no better than the mean",
            },
            "training_seconds": fit_seconds,
            "library_versions": {"rdkit": rdkit.__version__, "scikit-learn": sklearn.__version__},
        }

    manifest = store.write_version(name, build)
    logger.info("trained %s@%s: scaffold RMSE %.3f", name, manifest["version"], held_out["rmse"])
    return manifest
