"""A job's molecule results as an SDF file: 2D structures with the CSV export's fields as SD properties.

One record per result, in input order, so the record count always equals the input count: a molecule that
failed (or whose structure cannot be drawn) is written as an empty molecule carrying its id and error fields.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from rdkit import Chem
from rdkit.Chem import rdDepictor

from shared.export import CSV_COLUMNS, PROVENANCE_COLUMNS, flat_result, safe_text

logger = logging.getLogger(__name__)


def _molecule(canonical_smiles: str | None) -> Chem.Mol:
    mol = Chem.MolFromSmiles(canonical_smiles) if canonical_smiles else None
    if mol is None:
        return Chem.Mol()  # the empty record: its properties still say which input it was and what went wrong
    rdDepictor.Compute2DCoords(mol)
    return mol


def _prop(value: Any) -> str:
    text = safe_text(str(value).lower() if isinstance(value, bool) else str(value))  # RDKit takes UTF-8 only
    text = " ".join(text.splitlines())  # a line break inside a value would end the SD data item early
    return " " + text if text.startswith("$$$$") else text  # and "$$$$" at a line start would end the record


def results_to_sdf(results: list[dict[str, Any]], provenance: dict[str, Any] | None = None) -> str:
    """``provenance`` (``shared.export.export_provenance``): the job and model version, on every record."""
    out = io.StringIO()
    writer = Chem.SDWriter(out)
    writer.SetForceV3000(False)
    for result in results:
        flat = flat_result(result)
        mol = _molecule(flat["canonical_smiles"])
        mol.SetProp("_Name", _prop(flat["id"] if flat["id"] is not None else ""))
        flat.update(provenance or {})
        for column in CSV_COLUMNS + PROVENANCE_COLUMNS:
            if flat.get(column) is not None:
                mol.SetProp(column, _prop(flat[column]))
        writer.write(mol)
    writer.close()
    return out.getvalue()
