"""Train a predictor and write it, with its model card, as a model version.

Two ways in. ``train_from_dataset`` (what labs use, and the reference models) works on a stored dataset in two
steps: ``featurize_dataset`` on the featurizer queue writes a features file, ``fit_from_features`` on the
predictor queue evaluates and fits. ``train_model`` is the older, single-split path over an in-memory set.

The served estimator is always refit on all rows; everything measured before that refit is in the card.
Intervals: ``fit_from_features`` calibrates per-molecule normalised conformal intervals (``conformal.py``), with one
quantile or, when the request asks ``"intervals": "mondrian"``, one per similarity tertile;
``train_model`` keeps the older single constant split-conformal width.
"""

from __future__ import annotations

import csv
import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import rdkit
import sklearn
from sklearn.base import RegressorMixin

from services.featurizer.base import SparseVector
from services.featurizer.logic import featurize_dataset, featurize_molecule, load_features, make_featurizer, to_csr
from services.predictor.conformal import interval_section
from services.predictor.estimators import make_estimator
from services.predictor.evaluation import (
    MIN_GROUP_SIZE,
    N_FOLDS,
    conformal_half_width,
    cross_validate,
    evaluate_holdout,
    group_metrics,
    group_split,
    grouped_folds,
    regression_metrics,
    rmse,
    scaffold_split,
    split_keys,
)
from shared.applicability import AD_FILE, calibrate_threshold, pack_fingerprints
from shared.catalog import DEFAULT_INTERVAL_RULE
from shared.datasets import MECHANISM_COLUMN, read_meta, read_rows
from shared.errors import InvalidRequest
from shared.model_store import PREDICTIONS_FILE, ModelStore, parse_model_ref
from shared.neighbours import TRAINING_ROWS_FILE, training_rows_csv

logger = logging.getLogger(__name__)

ESTIMATOR_FILE = "estimator.joblib"
INTERVAL_COVERAGE = 0.9
MIN_ROWS = 20
AD_FINGERPRINT = {"name": "morgan_bits", "radius": 2, "n_bits": 2048}
FOLDS_GROUPED_BY = {"scaffold": "murcko_scaffold", "random": "none (shuffled)"}


@dataclass
class TrainingSet:
    ids: list[str]
    smiles: list[str]
    y: np.ndarray


def dense_from_csr(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, n_features: int) -> np.ndarray:
    matrix = np.zeros((len(indptr) - 1, n_features), dtype=np.float32)
    matrix[np.repeat(np.arange(len(indptr) - 1), np.diff(indptr)), indices] = values
    return matrix


def dense_matrix(rows: list[SparseVector], n_features: int) -> np.ndarray:
    return dense_from_csr(*to_csr(rows), n_features)


def _fit_all(x: np.ndarray, y: np.ndarray, estimator_spec: dict[str, Any], seed: int) -> RegressorMixin:
    model, _ = make_estimator(estimator_spec, seed)
    model.fit(x, y)
    return model


def _write(
    store: ModelStore, name: str, model: RegressorMixin, ad_packed: np.ndarray, body: dict[str, Any],
    extra: Callable[[Path], None] | None = None,
) -> dict[str, Any]:
    def build(folder: Path) -> dict[str, Any]:
        joblib.dump(model, folder / ESTIMATOR_FILE)
        np.save(folder / AD_FILE, ad_packed)
        if extra:
            extra(folder)
        return body

    return store.write_version(name, build)


def train_model(
    store: ModelStore,
    name: str,
    data: TrainingSet,
    featurizer_spec: dict[str, Any],
    estimator_spec: dict[str, Any],
    seed: int = 0,
    dataset: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Featurize, evaluate on one scaffold split, calibrate on its held-out side, refit on everything, write."""
    started = time.perf_counter()
    featurizer = make_featurizer(featurizer_spec)
    molecules = [{"id": i, "smiles": s} for i, s in zip(data.ids, data.smiles, strict=True)]
    featurized = [featurize_molecule(m, featurizer) for m in molecules]
    keep = [i for i, f in enumerate(featurized) if f["error"] is None]
    rows = [featurized[i] for i in keep]
    y = data.y[keep].astype(np.float64)
    x = dense_matrix([r["features"] for r in rows], featurizer.n_features)
    ad_packed = pack_fingerprints([r["ad_bits"] for r in rows])

    train_idx, test_idx = scaffold_split([r["canonical_smiles"] for r in rows], seed=seed)
    holdout = evaluate_holdout(x, y, ad_packed, train_idx, test_idx, estimator_spec, seed)
    abs_residuals = np.abs(y[test_idx] - holdout.predictions)
    threshold = calibrate_threshold(holdout.similarity, abs_residuals, holdout.mean_predictor_rmse)
    model = _fit_all(x, y, estimator_spec, seed)
    body = {
        "featurizer": featurizer.spec(),
        "n_features": featurizer.n_features,
        "estimator": make_estimator(estimator_spec, seed)[1],
        "seed": seed,
        "dataset": {**(dataset or {}), "rows_used": len(rows), "rows_rejected": len(featurized) - len(rows)},
        "unit": "pActivity",
        "metrics": {
            "split": "scaffold",
            "held_out": holdout.metrics,
            "mean_predictor_rmse": round(holdout.mean_predictor_rmse, 4),
            "n_train": int(len(train_idx)),
            "n_test": int(len(test_idx)),
        },
        "interval": {
            "method": "split_conformal_scaffold_holdout",
            "coverage": INTERVAL_COVERAGE,
            "half_width": conformal_half_width(abs_residuals, INTERVAL_COVERAGE),
        },
        "applicability_domain": {
            "fingerprint": AD_FINGERPRINT,
            "threshold": threshold,
            "method": "held-out similarity below which the model is no better than the mean",
        },
        "training_seconds": round(time.perf_counter() - started, 2),
        "library_versions": {"rdkit": rdkit.__version__, "scikit-learn": sklearn.__version__},
    }
    manifest = _write(store, name, model, ad_packed, body)
    logger.info("trained %s@%s: scaffold RMSE %.3f", name, manifest["version"], holdout.metrics["rmse"])
    return manifest


# ---- from a stored dataset ----------------------------------------------------------------------------------------


def train_from_dataset(
    store: ModelStore, name: str, dataset_id: str, datasets_dir: Path, featurizer_spec: dict[str, Any],
    estimator_spec: dict[str, Any], split: str = "scaffold", seed: int = 0, provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Both steps in one process: featurize the dataset (cached), then evaluate, fit and write."""
    key = featurize_dataset(dataset_id, datasets_dir, featurizer_spec)
    return fit_from_features(store, name, dataset_id, datasets_dir, key, featurizer_spec, estimator_spec, split, seed,
                             provenance)


def _held_out_split(split: str, keys: list[str], seed: int) -> tuple[np.ndarray, np.ndarray]:
    train, test = group_split(keys, 0.2, seed, big_groups_train=split != "context")
    if len(train) == 0 or len(test) == 0:
        raise InvalidRequest(f"split '{split}' cannot hold out whole groups here: there are too few distinct groups",
                             {"split": split, "n_groups": len(set(keys))})
    return train, test


def fit_from_features(
    store: ModelStore, name: str, dataset_id: str, datasets_dir: Path, features_key: str,
    featurizer_spec: dict[str, Any], estimator_spec: dict[str, Any], split: str = "scaffold", seed: int = 0,
    provenance: dict[str, Any] | None = None, interval_rule: str = DEFAULT_INTERVAL_RULE,
) -> dict[str, Any]:
    """Evaluate (held-out split + K-fold CV on its training side), calibrate, refit on all rows, write the card."""
    started = time.perf_counter()
    parse_model_ref(name)  # a bad name is a 400 now, not after minutes of training
    estimator_full_spec = make_estimator(estimator_spec, seed)[1]
    featurizer = make_featurizer(featurizer_spec)
    meta, rows = read_meta(datasets_dir, dataset_id), read_rows(datasets_dir, dataset_id)
    features = load_features(datasets_dir, dataset_id, features_key)
    if features["spec"] != featurizer.spec() or list(features["ids"]) != [r["id"] for r in rows]:
        raise InvalidRequest(f"features {features_key} were not made from {dataset_id} with this featurizer",
                             {"features_key": features_key, "featurizer": featurizer.spec()})
    ok = np.flatnonzero(features["ok"])
    if len(ok) < MIN_ROWS:
        raise InvalidRequest(f"dataset {dataset_id} has {len(ok)} usable rows; training needs {MIN_ROWS}",
                             {"rows_used": int(len(ok))})
    x = features_matrix(features)[ok]
    ad_packed = features["ad_packed"][ok]
    used = [rows[i] for i in ok]
    y = np.array([float(r["pactivity"]) for r in used])
    smiles = [r["canonical_smiles"] for r in used]
    contexts = {c: [r[c] for r in used] for c in meta["context_columns"]}
    mechanisms = [r[MECHANISM_COLUMN] for r in used] if meta.get("mechanism_column") else None

    keys = split_keys(split, smiles, contexts, stored_scaffolds(features, ok))
    train, test = _held_out_split(split, keys, seed)
    holdout = evaluate_holdout(x, y, ad_packed, train, test, estimator_spec, seed)
    folds = grouped_folds([keys[i] for i in train], N_FOLDS, seed)
    if folds.max() < 1:
        raise InvalidRequest(f"split '{split}': the training side holds one group, so it cannot be cross-validated",
                             {"split": split})
    oof, oof_mean, oof_similarity, oof_sigma = cross_validate(x[train], y[train], ad_packed[train], folds,
                                                              estimator_spec, seed)
    abs_oof = np.abs(y[train] - oof)
    interval = interval_section(y[train] - oof, oof_sigma, holdout.sigma_kind, y[test] - holdout.predictions,
                                holdout.sigma, holdout.similarity, f"the {split} held-out split",
                                cal_similarity=oof_similarity if interval_rule == "mondrian" else None)
    interval["rule"] = interval_rule  # as asked; ``method`` says what was calibrated (too few rows: one quantile)
    threshold = calibrate_threshold(oof_similarity, abs_oof, rmse(y[train] - oof_mean))
    model = _fit_all(x, y, estimator_spec, seed)

    def cv_by(labels: list[str]) -> dict[str, Any]:
        return group_metrics(y[train], oof, [labels[i] for i in train])

    body: dict[str, Any] = {
        "featurizer": featurizer.spec(),
        "n_features": featurizer.n_features,
        "features_key": features_key,
        "estimator": estimator_full_spec,
        "split": split,
        "seed": seed,
        "unit": "pActivity",
        "dataset": {
            "id": dataset_id, "sha256": meta["sha256"], "filename": meta.get("filename", ""),
            "rows_read": meta["report"]["rows_read"], "rows_rejected": meta["report"]["rows_rejected"],
            "rows_in_dataset": len(rows), "rows_used": int(len(ok)),
            "context_columns": meta["context_columns"], "mechanism_column": meta.get("mechanism_column"),
            "standardization": meta["standardization"],
        },
        "provenance": provenance or {},  # who asked for this version: a training job id, a reference's sources
        "metrics": {
            "split": split,
            "held_out": holdout.metrics,
            "mean_predictor_rmse": round(holdout.mean_predictor_rmse, 4),
            "nearest_neighbour_rmse": round(holdout.nearest_neighbour_rmse, 4),
            "n_train": int(len(train)),
            "n_test": int(len(test)),
            "n_test_groups": len({keys[i] for i in test}),
            "cross_validation": {
                "on": "the training side of the held-out split",
                "n_folds": int(folds.max()) + 1,
                "folds_grouped_by": FOLDS_GROUPED_BY.get(split, next(iter(contexts), "")),
                "overall": regression_metrics(y[train], oof),
                "mean_predictor_rmse": round(rmse(y[train] - oof_mean), 4),
                "min_group_size": MIN_GROUP_SIZE,
                "per_context": {column: cv_by(values) for column, values in contexts.items()},
                "per_mechanism": cv_by(mechanisms) if mechanisms else {},
            },
        },
        "interval": interval,
        "applicability_domain": {
            "fingerprint": AD_FINGERPRINT,
            "threshold": threshold,
            "method": "out-of-fold similarity (to the other folds) below which the model is no better than the mean",
        },
        "training_seconds": round(time.perf_counter() - started, 2),
        "library_versions": {"rdkit": rdkit.__version__, "scikit-learn": sklearn.__version__,
                             "numpy": np.__version__, "python": platform.python_version()},
    }

    def write_predictions(folder: Path) -> None:
        with (folder / PREDICTIONS_FILE).open("w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["id", "side", "fold", "pactivity", "prediction", "sigma", "similarity"])
            for side, index, predicted, fold, sigma, similarity in (
                ("cv", train, oof, folds, oof_sigma, oof_similarity),
                ("held_out", test, holdout.predictions, [""] * len(test), holdout.sigma, holdout.similarity),
            ):
                for i, p, f, s, sim in zip(index, predicted, fold, sigma, similarity, strict=True):
                    writer.writerow([used[i]["id"], side, f, used[i]["pactivity"], round(float(p), 4),
                                     round(float(s), 6), round(float(sim), 4)])
        # The rows behind the domain fingerprints, in their order: the scoring step names a query's neighbours.
        (folder / TRAINING_ROWS_FILE).write_text(training_rows_csv([r["id"] for r in used], smiles, list(y)))

    manifest = _write(store, name, model, ad_packed, body, write_predictions)
    logger.info("trained %s@%s on %s: %s RMSE %.3f (mean predictor %.3f), 90%% coverage %.2f", name,
                manifest["version"], dataset_id, split, holdout.metrics["rmse"], holdout.mean_predictor_rmse,
                body["interval"]["measured_coverage"]["90"])
    return manifest


def stored_scaffolds(features: dict[str, Any], rows: np.ndarray) -> list[str] | None:
    """The Murcko scaffolds of ``rows`` as the features file holds them; None for a file written before them."""
    return [str(s) for s in features["scaffolds"][rows]] if "scaffolds" in features else None


def features_matrix(features: dict[str, Any]) -> np.ndarray:
    """The dense matrix of a features file (``services.featurizer.logic.load_features``)."""
    return dense_from_csr(features["indptr"], features["indices"], features["values"], features["n_features"])
