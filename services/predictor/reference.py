"""The bundled reference models, built deterministically from real data shipped in ``reference/``.

A reference model is built the way a lab's model is: its data go through ``ingest_dataset`` with a column mapping
(so they are standardized, validated and de-duplicated the same way), then through ``train_from_dataset``.
Sources, licences and the labelling rules are in ``reference/ATTRIBUTION.md``.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from services.featurizer.datasets import ingest_dataset
from services.predictor.training import TrainingSet, train_from_dataset
from shared.config import get_settings
from shared.errors import InvalidRequest
from shared.model_store import ModelStore, sha256_of

logger = logging.getLogger(__name__)

REFERENCE_DIR = Path(__file__).parent / "reference"
AKT1_FILE = REFERENCE_DIR / "akt1_chembl_binding_records_deepscreen2.csv"
AKT_PAPYRUS_FILE = REFERENCE_DIR / "akt_papyrus_kinase200_nonallosteric_meanpchembl.csv"
AKT_FLAGGED_FILE = REFERENCE_DIR / "akt_papyrus_allosteric_flagged_records.csv"
PIK3CA_FILE = REFERENCE_DIR / "pik3ca_CHEMBL4005-1_IC50_chembl32.csv"
REFERENCE_FEATURIZER = {"name": "morgan_counts", "params": {"radius": 2, "n_bits": 2048}}
# 100 trees: akt1 scaffold RMSE 0.708 vs 0.709 with 200, in half the build a newcomer waits for in `make run`.
REFERENCE_ESTIMATOR = {"name": "random_forest", "params": {"n_estimators": 100}}
REFERENCE_SPLIT = "scaffold"
REFERENCE_SEED = 0
LICENCE = "ChEMBL CC BY-SA 3.0"

# The mechanism hint of each AKT row (see ATTRIBUTION.md): the curated guess of the flagged file, else the motif.
ALLOSTERIC, ATP_OR_UNKNOWN, PH_DOMAIN = "allosteric", "atp_competitive_or_unknown", "ph_domain_lipid"
CURATED_MECHANISM = {
    "akt_allosteric_series": ALLOSTERIC,
    "ph_domain_lipid_like": PH_DOMAIN,
    "flag_probably_not_akt_allosteric": ATP_OR_UNKNOWN,
}


@dataclass
class ReferenceUpload:
    content: bytes
    mapping: dict[str, Any]
    filename: str
    sources: list[Path]


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def every_kth(rows: list[Any], limit: int | None) -> list[Any]:
    """A small but representative sample: every k-th row, in file order (all rows when ``limit`` is unset)."""
    if limit and limit < len(rows):
        return rows[:: max(1, len(rows) // limit)][:limit]
    return rows


def _csv_bytes(columns: list[str], rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def _file_upload(path: Path, mapping: dict[str, Any], limit: int | None) -> ReferenceUpload:
    """The file's own bytes, or (with ``limit``) its every k-th row rewritten as CSV."""
    content = path.read_bytes()
    if limit:
        rows = _read(path)
        content = _csv_bytes(list(rows[0]), every_kth(rows, limit))
    return ReferenceUpload(content, mapping, path.name, [path])


def akt1_upload(limit: int | None = None) -> ReferenceUpload:
    mapping = {"structure": "canonical_smiles", "activity": "pchembl_value", "id": "molecule_chembl_id"}
    return _file_upload(AKT1_FILE, mapping, limit)


def pik3ca_upload(limit: int | None = None) -> ReferenceUpload:
    mapping = {"structure": "canonical_smiles", "activity": "pchembl_value", "id": "compound_chembl_id",
               "context": ["assay_chembl_id"]}
    return _file_upload(PIK3CA_FILE, mapping, limit)


def _akt_row(row_id: str, source: dict[str, str], mechanism: str) -> dict[str, str]:
    return {"id": row_id, "smiles": source["SMILES"], "gene": source["gene"],
            "pchembl_value_mean": source["pchembl_value_Mean"], "mechanism_hint": mechanism}


def akt_upload(limit: int | None = None) -> ReferenceUpload:
    """AKT1/2/3 Papyrus means: the kinase200 rows, then the allosteric-flagged rows, with isoform and mechanism."""
    rows = [
        # Papyrus's own Activity_ID format, so ids of both files look alike
        _akt_row(f"{r['InChIKey'][:14]}_on_{r['target_id']}", r,
                 ALLOSTERIC if r["aminocyclobutylphenyl_motif"] == "True" else ATP_OR_UNKNOWN)
        for r in _read(AKT_PAPYRUS_FILE)
    ] + [
        _akt_row(r["Activity_ID"], r, CURATED_MECHANISM[r["curated_mechanism_guess"]])
        for r in _read(AKT_FLAGGED_FILE)
    ]
    content = _csv_bytes(["id", "smiles", "gene", "pchembl_value_mean", "mechanism_hint"], every_kth(rows, limit))
    mapping = {"structure": "smiles", "activity": "pchembl_value_mean", "id": "id", "context": ["gene"],
               "mechanism": "mechanism_hint"}
    return ReferenceUpload(content, mapping, "akt_papyrus_combined.csv", [AKT_PAPYRUS_FILE, AKT_FLAGGED_FILE])


REFERENCES: dict[str, Callable[[int | None], ReferenceUpload]] = {
    "akt1": akt1_upload,
    "akt": akt_upload,
    "pik3ca": pik3ca_upload,
}


def load_akt1(limit: int | None = None) -> TrainingSet:
    """AKT1 records in file order, as an in-memory set (tests, benchmarks); ``limit`` keeps every k-th row."""
    rows = every_kth(_read(AKT1_FILE), limit)
    return TrainingSet(
        ids=[r["molecule_chembl_id"] for r in rows],
        smiles=[r["canonical_smiles"] for r in rows],
        y=np.array([float(r["pchembl_value"]) for r in rows]),
    )


def build_reference(
    store: ModelStore, name: str = "akt1", limit: int | None = None, datasets_dir: Path | None = None,
    seed: int = REFERENCE_SEED,
) -> dict[str, Any]:
    """Ingest the reference data as a dataset (reused if already there), train, and write a new model version;
    ``seed`` (of the held-out split and the forest) other than the reference's only for benchmarks."""
    if name not in REFERENCES:
        raise InvalidRequest(f"no reference model '{name}'", {"known_references": sorted(REFERENCES)})
    datasets_dir = Path(datasets_dir or get_settings().datasets_dir)
    upload = REFERENCES[name](limit)
    meta = ingest_dataset(upload.content, "csv", upload.mapping, datasets_dir, upload.filename)
    provenance = {
        "sources": [{"file": path.name, "sha256": sha256_of(path)} for path in upload.sources],
        "licence": LICENCE,
        "limit": limit,
        "attribution": "services/predictor/reference/ATTRIBUTION.md",
    }
    return train_from_dataset(store, name, meta["dataset_id"], datasets_dir, REFERENCE_FEATURIZER,
                              REFERENCE_ESTIMATOR, REFERENCE_SPLIT, seed, provenance)


def ensure_reference(store: ModelStore, name: str = "akt1") -> dict[str, Any] | None:
    """Build the reference model only when no version exists yet; None if it was already there."""
    if store.versions(name):
        return None
    return build_reference(store, name)
