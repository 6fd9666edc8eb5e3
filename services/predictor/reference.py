"""The bundled reference models, built deterministically from real data shipped in ``reference/``."""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import numpy as np

from services.predictor.training import TrainingSet, train_model
from shared.model_store import ModelStore, sha256_of

logger = logging.getLogger(__name__)

REFERENCE_DIR = Path(__file__).parent / "reference"
AKT1_FILE = REFERENCE_DIR / "akt1_chembl_binding_records_deepscreen2.csv"
REFERENCE_FEATURIZER = {"name": "morgan_counts", "params": {"radius": 2, "n_bits": 2048}}
REFERENCE_ESTIMATOR = {"name": "random_forest", "params": {}}
REFERENCE_SEED = 0


def load_akt1(limit: int | None = None) -> TrainingSet:
    """AKT1 records in file order; ``limit`` keeps every k-th row for a small but representative sample."""
    with AKT1_FILE.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if limit and limit < len(rows):
        rows = rows[:: max(1, len(rows) // limit)][:limit]
    return TrainingSet(
        ids=[r["molecule_chembl_id"] for r in rows],
        smiles=[r["canonical_smiles"] for r in rows],
        y=np.array([float(r["pchembl_value"]) for r in rows]),
    )


def build_reference(store: ModelStore, name: str = "akt1", limit: int | None = None) -> dict[str, Any]:
    data = load_akt1(limit)
    dataset = {
        "source": AKT1_FILE.name,
        "sha256": sha256_of(AKT1_FILE),
        "licence": "ChEMBL CC BY-SA 3.0",
        "rows_read": len(data.ids),
        "limit": limit,
    }
    return train_model(store, name, data, REFERENCE_FEATURIZER, REFERENCE_ESTIMATOR, REFERENCE_SEED, dataset)


def ensure_reference(store: ModelStore, name: str = "akt1") -> dict[str, Any] | None:
    """Build the reference model only when no version exists yet; None if it was already there."""
    if store.versions(name):
        return None
    return build_reference(store, name)
