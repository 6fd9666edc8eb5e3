"""Parse, standardize and featurize a chunk of molecules: plain functions the task and the trainer share."""

from __future__ import annotations

import logging
from typing import Any

from rdkit import Chem, RDLogger
from rdkit.Chem.MolStandardize import rdMolStandardize

from services.featurizer import morgan  # noqa: F401  (registers the Morgan featurizers)
from services.featurizer.base import Featurizer, make_featurizer
from services.featurizer.morgan import ad_bits
from shared.errors import INVALID_SMILES

logger = logging.getLogger(__name__)
RDLogger.DisableLog("rdApp.*")  # parse failures are reported per molecule, not as log noise

_fragment_chooser = rdMolStandardize.LargestFragmentChooser()
_uncharger = rdMolStandardize.Uncharger()


def standardize_smiles(smiles: str) -> Chem.Mol | None:
    """The parent molecule: largest fragment (drops salts and solvents), then neutralized. None if unparsable."""
    mol = Chem.MolFromSmiles(smiles) if smiles else None
    if mol is None or mol.GetNumAtoms() == 0:
        return None
    return _uncharger.uncharge(_fragment_chooser.choose(mol))


def featurize_molecule(molecule: dict[str, Any], featurizer: Featurizer) -> dict[str, Any]:
    smiles = molecule["smiles"]
    base = {"id": molecule["id"], "input_smiles": smiles}
    mol = standardize_smiles(smiles)
    if mol is None:
        message = "RDKit could not parse this SMILES into a molecule"
        return {**base, "canonical_smiles": None, "error": {"code": INVALID_SMILES, "message": message}}
    return {
        **base,
        "canonical_smiles": Chem.MolToSmiles(mol),
        "features": featurizer.featurize(mol),
        "ad_bits": ad_bits(mol),
        "error": None,
    }


def featurize_chunk(message: dict[str, Any]) -> dict[str, Any]:
    """Pipeline step 1: the chunk message gains per-molecule canonical SMILES, features and AD bits."""
    featurizer = make_featurizer(message["model"]["featurizer"])
    molecules = [featurize_molecule(m, featurizer) for m in message["molecules"]]
    return {**message, "molecules": molecules}
