"""services/causal/evidence.py: what the per-prediction evidence reads of a molecule."""

from __future__ import annotations

from rdkit import Chem

from services.causal.attributions import environment_centres
from services.causal.evidence import parse
from services.causal.substructures import partition
from services.predictor.reference import load_akt1

ODD = ["C[C@H](N)C(=O)O", "F/C=C/F", "[2H]C([2H])([2H])c1ccccc1", "[H]OC", "C[N+](C)(C)C.[Cl-]", "c1cc[nH]c1",
       "O=[N+]([O-])c1ccccc1", "[Na+].[O-]C(=O)C", "C1CC1[C@@H]1CCN1", "*c1ccccc1"]


def read(mol: Chem.Mol) -> tuple:
    """Everything annotating reads of a parsed molecule."""
    return (mol.GetNumAtoms(), Chem.MolToSmiles(mol, isomericSmiles=False, canonical=False), partition(mol),
            environment_centres(mol, 2, 2048), [a.GetTotalNumHs() for a in mol.GetAtoms()],
            [a.GetIsAromatic() for a in mol.GetAtoms()], mol.GetRingInfo().AtomRings(),
            mol.GetSubstructMatches(Chem.MolFromSmarts("[#7;R]~[#6]"), maxMatches=1000))


def test_parse_reads_a_molecule_as_molfromsmiles_does():
    smiles = [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in load_akt1().smiles[::10]] + ODD
    for s in smiles:
        assert read(parse(s)) == read(Chem.MolFromSmiles(s)), s


def test_parse_of_an_unreadable_smiles_is_none():
    assert parse("c1cccc1") is None and parse("C(C") is None and parse("[Xx]") is None
