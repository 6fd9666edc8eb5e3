"""Molecules to predict from a ``.sdf``, ``.csv`` or ``.smi`` file, read in plain Python (no RDKit).

CSV and SDF are read by the gateway's own upload reader, so a file means the same molecules (the same ids and the
same column and SD-property mapping) whether it is uploaded or sent by the client; SDF records travel as molblocks.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from shared.errors import InvalidRequest

logger = logging.getLogger(__name__)

SMILES_SUFFIXES = (".smi", ".smiles", ".txt")


def read_smi(text: str) -> list[dict[str, str]]:
    """``SMILES [name]`` per line (blank lines and ``#`` comments skipped, a ``smiles`` header line too); the id is
    the name, else the 0-based position among the molecules."""
    molecules: list[dict[str, str]] = []
    for line_number, line in enumerate(text.splitlines()):
        fields = line.split(maxsplit=1)
        if not fields or fields[0].startswith("#") or (line_number == 0 and fields[0].lower() == "smiles"):
            continue
        name = fields[1].strip() if len(fields) > 1 else ""
        molecules.append({"id": name or str(len(molecules)), "smiles": fields[0]})
    return molecules


def read_molecules(path: Path, id_column: str | None = None, smiles_column: str | None = None
                   ) -> list[dict[str, Any]]:
    """The file's molecules in file order. ``id_column`` is a CSV column or an SD property (default: the row
    index, or the SDF record title); ``smiles_column`` a CSV column (default ``smiles``) or an SD property holding
    SMILES (default: the record's molblock). A mapped column the file lacks raises ``InvalidRequest``."""
    suffix = path.suffix.lower()
    if suffix in SMILES_SUFFIXES:
        return read_smi(path.read_text(encoding="utf-8-sig"))
    from services.gateway.uploads import FORMATS, molecules_from_upload  # plain Python; imported only when needed

    if suffix not in FORMATS:
        known = sorted({*FORMATS, *SMILES_SUFFIXES})
        raise InvalidRequest(f"cannot read {path.name}: name it one of {', '.join(known)}", {"path": str(path)})
    mapping = {role: column for role, column in (("id", id_column), ("structure", smiles_column)) if column}
    return molecules_from_upload(path.read_bytes(), FORMATS[suffix], mapping)
