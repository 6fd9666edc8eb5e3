"""Parse, standardize and featurize molecules: a chunk for predictions, or a whole dataset for training.

Standardization is a named list of steps, recorded in every dataset's metadata, and the same for training rows and
queries, so a molecule submitted exactly as it was trained on is featurized identically. Canonical tautomers are
deliberately not a step: RDKit's canonicalizer costs ~16 ms per molecule on AKT1 ligands (worst 1.4 s), 60 times
the other two steps, and applying it to training data only would featurize queries differently from training.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import rdkit
from rdkit import Chem, rdBase
from rdkit.Chem.MolStandardize import rdMolStandardize
from rdkit.Chem.Scaffolds import MurckoScaffold

from services.featurizer import descriptors, morgan  # noqa: F401  (registers every featurizer)
from services.featurizer.base import Featurizer, SparseVector, make_featurizer
from services.featurizer.morgan import ad_bits
from shared.applicability import pack_fingerprints
from shared.datasets import dataset_dir, read_rows
from shared.errors import INVALID_SMILES, INVALID_STRUCTURE, InvalidRequest
from shared.export import LONE_SURROGATE

logger = logging.getLogger(__name__)
rdBase.DisableLog("rdApp.*")  # parse failures are reported per molecule, not as log noise


_fragment_chooser = rdMolStandardize.LargestFragmentChooser()
_uncharger = rdMolStandardize.Uncharger()
_STEPS = {
    "largest_fragment": _fragment_chooser.choose,  # drops salts and solvents
    "neutralize": _uncharger.uncharge,
}
STANDARDIZATION: tuple[str, ...] = ("largest_fragment", "neutralize")

FEATURES_DIR = "features"
_KEY_PATTERN = re.compile(r"^[a-z0-9_]+-[0-9a-f]{16}$")


def standardize_mol(mol: Chem.Mol | None, steps: tuple[str, ...] = STANDARDIZATION) -> Chem.Mol | None:
    """The parent molecule after ``steps``, in order; None for no molecule or one a step cannot handle."""
    if mol is None or mol.GetNumAtoms() == 0:
        return None
    try:
        for step in steps:
            mol = _STEPS[step](mol)
    except (RuntimeError, ValueError):  # RDKit's own errors on pathological inputs
        logger.debug("standardization failed at %s", step, exc_info=True)
        return None
    return mol


def _readable(text: str) -> bool:
    """RDKit takes UTF-8 only: a lone surrogate (which JSON can carry) would raise instead of returning None."""
    return bool(text) and not LONE_SURROGATE.search(text)


def standardize_smiles(smiles: str, steps: tuple[str, ...] = STANDARDIZATION) -> Chem.Mol | None:
    """The standardized parent of a SMILES. None if unparsable."""
    return standardize_mol(Chem.MolFromSmiles(smiles) if _readable(smiles) else None, steps)


def parse_molblock(molblock: str) -> Chem.Mol | None:
    mol = Chem.MolFromMolBlock(molblock) if _readable(molblock) else None
    return mol if mol is not None and mol.GetNumAtoms() > 0 else None


def featurize_molecule(molecule: dict[str, Any], featurizer: Featurizer) -> dict[str, Any]:
    """One molecule, given as ``smiles`` or (SDF uploads) ``molblock``; a bad structure gets a per-molecule error."""
    if "smiles" not in molecule and "molblock" in molecule:
        parsed = parse_molblock(molecule["molblock"])
        base = {"id": molecule["id"], "input_smiles": Chem.MolToSmiles(parsed) if parsed is not None else None}
        mol = standardize_mol(parsed)
        code, message = INVALID_STRUCTURE, "RDKit could not read this molblock into a molecule"
    else:
        base = {"id": molecule["id"], "input_smiles": molecule["smiles"]}
        mol = standardize_smiles(molecule["smiles"])
        code, message = INVALID_SMILES, "RDKit could not parse this SMILES into a molecule"
    if mol is None:
        return {**base, "canonical_smiles": None, "error": {"code": code, "message": message}}
    return {
        **base,
        "canonical_smiles": Chem.MolToSmiles(mol),
        "features": featurizer.featurize(mol),
        "ad_bits": ad_bits(mol),
        "error": None,
    }


def murcko_scaffold(smiles: str) -> str:
    """The Murcko scaffold SMILES: the scaffold split's groups and the causal profile's series."""
    return MurckoScaffold.MurckoScaffoldSmiles(mol=Chem.MolFromSmiles(smiles))


def featurize_chunk(message: Mapping[str, Any]) -> dict[str, Any]:
    """Pipeline step 1: the chunk message gains per-molecule canonical SMILES, features and AD bits."""
    featurizer = make_featurizer(message["model"]["featurizer"])
    molecules = [featurize_molecule(m, featurizer) for m in message["molecules"]]
    return {**message, "molecules": molecules}


# ---- a whole dataset, handed to the predictor as one file ---------------------------------------------------------


def to_csr(vectors: list[SparseVector]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse vectors as CSR arrays (indptr, indices, values): what the features file stores."""
    indptr = np.zeros(len(vectors) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(v["indices"]) for v in vectors])
    indices = np.fromiter((i for v in vectors for i in v["indices"]), dtype=np.int64, count=int(indptr[-1]))
    values = np.fromiter((x for v in vectors for x in v["values"]), dtype=np.float32, count=int(indptr[-1]))
    return indptr, indices, values


def features_key(featurizer: Featurizer) -> str:
    """Names a dataset's features: the full featurizer spec, the RDKit version and the standardization."""
    identity = {"spec": featurizer.spec(), "rdkit": rdkit.__version__, "standardization": STANDARDIZATION}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return f"{re.sub(r'[^a-z0-9]+', '_', featurizer.name)}-{digest[:16]}"


def features_path(datasets_dir: Path, dataset_id: str, key: str) -> Path:
    if not _KEY_PATTERN.match(key):  # the key travels in task messages: never let it name another path
        raise InvalidRequest(f"'{key}' is not a features key", {"features_key": key})
    return dataset_dir(datasets_dir, dataset_id) / FEATURES_DIR / f"{key}.npz"


def featurize_dataset(dataset_id: str, datasets_dir: Path, featurizer_spec: dict[str, Any]) -> str:
    """Featurize every row of a dataset into ``features/<key>.npz``, once; returns the key.

    Rows are featurized from their stored canonical SMILES through ``featurize_molecule``, the function
    predictions use, so a model sees training and query molecules through the same code.
    """
    featurizer = make_featurizer(featurizer_spec)
    key = features_key(featurizer)
    path = features_path(datasets_dir, dataset_id, key)
    if path.is_file():
        return key
    rows = read_rows(datasets_dir, dataset_id)
    featurized = [featurize_molecule({"id": r["id"], "smiles": r["canonical_smiles"]}, featurizer) for r in rows]
    ok = np.array([f["error"] is None for f in featurized], dtype=bool)
    indptr, indices, values = to_csr([f.get("features", {"indices": [], "values": []}) for f in featurized])
    path.parent.mkdir(exist_ok=True)
    staging = path.parent / f".{key}.{uuid.uuid4().hex}"
    with staging.open("wb") as handle:  # a handle, so numpy does not append its own suffix
        np.savez(
            handle, indptr=indptr, indices=indices, values=values, ok=ok,
            n_features=np.int64(featurizer.n_features),
            ids=np.array([r["id"] for r in rows], dtype=str),
            canonical_smiles=np.array([r["canonical_smiles"] for r in rows], dtype=str),
            # Written once here, read by the scaffold split and the causal profile's series check alike.
            scaffolds=np.array([murcko_scaffold(r["canonical_smiles"]) if f["error"] is None else ""
                                for r, f in zip(rows, featurized, strict=True)], dtype=str),
            ad_packed=pack_fingerprints([f.get("ad_bits", []) for f in featurized]),
            spec=np.array(json.dumps(featurizer.spec(), sort_keys=True)),
        )
    os.replace(staging, path)
    logger.info("featurized %s with %s: %d rows (%d failed)", dataset_id, key, len(rows), int((~ok).sum()))
    return key


def load_features(datasets_dir: Path, dataset_id: str, key: str) -> dict[str, Any]:
    """The arrays ``featurize_dataset`` wrote, plus ``spec`` decoded."""
    path = features_path(datasets_dir, dataset_id, key)
    if not path.is_file():
        raise InvalidRequest(f"dataset {dataset_id} has no features {key}", {"features_key": key})
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["spec"] = json.loads(str(arrays["spec"]))
    arrays["n_features"] = int(arrays["n_features"])
    return arrays
