"""Canonical SMILES of parts of a molecule (the keys of ``substructures.py``'s units), written fast.

``fragment_smiles`` is the rule: ``MolFragmentToSmiles`` of the atoms, then ranked again as a molecule of its own
(``canonical_fragment``). ``written_fragments`` writes many disjoint fragments at once, in the text
``canonical_fragment`` ranks to the same key (a unit test checks it against ``rdkit_written`` on real molecules).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import lru_cache

from rdkit import Chem

logger = logging.getLogger(__name__)


def fragment_smiles(mol: Chem.Mol, atoms: Iterable[int], hydrogens: bool = True) -> str:
    """Canonical non-isomeric SMILES of some atoms of ``mol`` (the bonds between them), ranked as a molecule of
    their own: ``MolFragmentToSmiles`` alone ranks atoms with whole-molecule invariants, so one ring would be written
    differently under different substituents. ``hydrogens=False`` drops every H count (the name lookup)."""
    written = Chem.MolFragmentToSmiles(mol, atomsToUse=list(atoms), isomericSmiles=False, canonical=False)
    return canonical_fragment(written, hydrogens)  # ranking the whole molecule per fragment was the cost: rank once


_BOND_SYMBOLS = {Chem.BondType.SINGLE: "-", Chem.BondType.DOUBLE: "=", Chem.BondType.TRIPLE: "#",
                 Chem.BondType.AROMATIC: ":"}
_MAX_WRITTEN_ATOMS = 400  # the writer below recurses once per atom: a larger fragment goes to RDKit's writer


def written_fragments(mol: Chem.Mol, fragments: list[tuple[int, ...]], bonds: list[tuple[int, int]]) -> list[str]:
    """A SMILES of each fragment (disjoint, connected) that ``canonical_fragment`` ranks as it ranks
    ``fragment_smiles``'s: the same atoms, each as RDKit's SMILES writer writes it (``Atom.GetSmarts``, its token),
    and the same bonds, every one written out. Written here, depth first, at about half the cost of
    ``MolFragmentToSmiles``, which walks the whole molecule once per fragment; a bond of another kind (dative) or a
    very large fragment goes to RDKit."""
    owner = {a: i for i, fragment in enumerate(fragments) for a in fragment}
    neighbours: dict[int, list[tuple[int, str, int]]] = {a: [] for a in owner}
    for k, (begin, end) in enumerate(bonds):
        if owner.get(begin, -1) == owner.get(end, -2):
            symbol = _BOND_SYMBOLS.get(mol.GetBondWithIdx(k).GetBondType())
            if symbol is None:
                return rdkit_written(mol, fragments, bonds)
            neighbours[begin].append((end, symbol, k))
            neighbours[end].append((begin, symbol, k))
    if any(len(fragment) > _MAX_WRITTEN_ATOMS for fragment in fragments):
        return rdkit_written(mol, fragments, bonds)
    token = {a: mol.GetAtomWithIdx(a).GetSmarts(isomericSmiles=False) for a in owner}
    try:
        return [_depth_first(fragment[0], neighbours, token) for fragment in fragments]
    except IndexError:  # more than 99 ring closures open at once
        return rdkit_written(mol, fragments, bonds)


def _depth_first(start: int, neighbours: dict[int, list[tuple[int, str, int]]], token: dict[int, str]) -> str:
    """The SMILES of the atoms connected to ``start``: a depth-first tree, each other bond a ring closure opened at
    the atom written first."""
    children: dict[int, list[tuple[int, str]]] = {}
    closures: dict[int, list[tuple[bool, int, str]]] = {}  # atom -> (opened here?, the other atom, bond symbol)
    used: set[int] = set()

    def visit(atom: int) -> None:
        children[atom] = []
        for other, symbol, bond in neighbours[atom]:
            if bond not in used:
                used.add(bond)
                if other in children:  # reached already, so written before this atom: the closure opens there
                    closures.setdefault(other, []).append((True, atom, symbol))
                    closures.setdefault(atom, []).append((False, other, symbol))
                else:
                    children[atom].append((other, symbol))
                    visit(other)

    free, labels = list(range(1, 100)), {}

    def write(atom: int) -> str:
        text = token[atom]
        for opens, other, symbol in closures.get(atom, ()):
            if opens:
                label = labels[(atom, other)] = free.pop(0)
                text += symbol
            else:
                label = labels.pop((other, atom))
                free.append(label)
                free.sort()
            text += str(label) if label < 10 else f"%{label}"
        branches = [symbol + write(other) for other, symbol in children[atom]]
        return text + "".join(f"({b})" for b in branches[:-1]) + "".join(branches[-1:])

    visit(start)
    return write(start)


def rdkit_written(mol: Chem.Mol, fragments: list[tuple[int, ...]], bonds: list[tuple[int, int]]) -> list[str]:
    """Each fragment as ``fragment_smiles`` writes it before ranking, from one ``MolFragmentToSmiles`` call (only
    the bonds inside a fragment written); RDKit's atom output order says which dot-separated piece is which."""
    if not fragments:
        return []
    owner = {a: i for i, fragment in enumerate(fragments) for a in fragment}
    inside = [k for k, (begin, end) in enumerate(bonds) if owner.get(begin, -1) == owner.get(end, -2)]
    text = Chem.MolFragmentToSmiles(mol, atomsToUse=list(owner), bondsToUse=inside or None, isomericSmiles=False,
                                    canonical=False)
    pieces, written = text.split("."), [""] * len(fragments)
    if len(pieces) == len(fragments):
        order, at = mol.GetProp("_smilesAtomOutputOrder").strip("[]").split(","), 0
        for piece in pieces:  # a piece's first atom names its fragment; the next piece starts after its atoms
            fragment = owner[int(order[at])]
            written[fragment], at = piece, at + len(fragments[fragment])
    if "" in written:  # not one piece per fragment (never seen): write them one by one
        logger.warning("fragments of %s not written in one piece each; writing them one by one", text)
        return [Chem.MolFragmentToSmiles(mol, atomsToUse=list(f), isomericSmiles=False, canonical=False)
                for f in fragments]
    return written


@lru_cache(maxsize=65536)  # the same few thousand fragments recur across a training set: ranking is the cost
def canonical_fragment(written: str, hydrogens: bool) -> str:
    fragment = Chem.MolFromSmiles(written, sanitize=False)  # a bare ring may not kekulize: read it as written
    if not hydrogens:
        for atom in fragment.GetAtoms():
            atom.SetNoImplicit(True)
            atom.SetNumExplicitHs(0)
    fragment.UpdatePropertyCache(strict=False)
    return Chem.MolToSmiles(fragment, isomericSmiles=False)
