"""Draw a result's structure as SVG with its relied-on substructures highlighted by atom (RDKit's MolDraw2D).

Atom indices in the evidence refer to the canonical SMILES the result carries, which is parsed here unchanged, so
they name the same atoms. A structure above ``MAX_ATOMS`` heavy atoms is not drawn (``TOO_LARGE``).
"""

from __future__ import annotations

import logging
from typing import Any

from rdkit import Chem
from rdkit.Chem.Draw import rdMolDraw2D

from shared.depiction import HEIGHT, MAX_ATOMS, STATUS_COLOURS, STATUS_PRIORITY, TOO_LARGE, WIDTH

logger = logging.getLogger(__name__)


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    red, green, blue = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return red, green, blue


def atom_colours(highlights: list[dict[str, Any]], n_atoms: int) -> dict[int, tuple[float, float, float]]:
    """Each highlighted atom's colour; where substructures overlap, the status first in ``STATUS_PRIORITY`` wins."""
    rank = {status: i for i, status in enumerate(STATUS_PRIORITY)}
    chosen: dict[int, str] = {}
    for item in highlights:
        status = item["status"] if item["status"] in STATUS_COLOURS else "not_profiled"
        for atom in item["atoms"]:
            if 0 <= atom < n_atoms and (atom not in chosen or rank[status] < rank[chosen[atom]]):
                chosen[atom] = status
    return {atom: _rgb(STATUS_COLOURS[status]) for atom, status in chosen.items()}


def depict_svg(smiles: str | None, highlights: list[dict[str, Any]], width: int = WIDTH,
               height: int = HEIGHT) -> str:
    """The SVG text, ``TOO_LARGE`` above the atom limit; an empty drawing for a structure that does not parse."""
    mol = Chem.MolFromSmiles(smiles) if smiles else None
    if mol is not None and mol.GetNumHeavyAtoms() > MAX_ATOMS:
        return TOO_LARGE
    drawer = rdMolDraw2D.MolDraw2DSVG(width, height)
    if mol is None:
        drawer.DrawMolecule(Chem.Mol())
    else:
        colours = atom_colours(highlights, mol.GetNumAtoms())
        bonds = {bond.GetIdx(): colours[bond.GetBeginAtomIdx()] for bond in mol.GetBonds()
                 if bond.GetBeginAtomIdx() in colours and colours.get(bond.GetEndAtomIdx()) ==
                 colours[bond.GetBeginAtomIdx()]}
        rdMolDraw2D.PrepareAndDrawMolecule(drawer, mol, highlightAtoms=list(colours), highlightAtomColors=colours,
                                           highlightBonds=list(bonds), highlightBondColors=bonds)
    drawer.FinishDrawing()
    return drawer.GetDrawingText()
