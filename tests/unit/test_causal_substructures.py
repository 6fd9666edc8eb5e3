"""services/causal/substructures.py: the partition into named units, on real medicinal-chemistry structures."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem

from services.causal.substructures import (
    _RING_SYSTEM_NAMES,
    FUNCTIONAL_GROUPS,
    fragment_smiles,
    has_unit,
    partition,
    ring_system_catalog,
    ring_system_name,
    unit_presence,
)
from services.causal.treatments import compile_smarts
from tests.unit.test_causal_synthetic import sample_smiles

CAPIVASERTIB = "NC(=O)C1(CCN(CC1)c1ncnc2[nH]ccc12)Cc1ccc(Cl)cc1"
IPATASERTIB = "C[C@@H]1C[C@@H](O)c2ncnc(N3CCN(C(=O)[C@@H](CNC(C)C)c4ccc(Cl)cc4)CC3)c21"
MK2206 = "NC1(c2ccc(-c3nc4ccn5c(=O)[nH]nc5c4cc3-c3ccccc3)cc2)CC1"  # as given: a cyclopropyl, MK-2206 has cyclobutyl
SULFONAMIDE = "CC(C)NS(=O)(=O)c1ccc(cc1)C(F)(F)F"  # also the CF3 case
CELECOXIB = "Cc1ccc(-c2cc(C(F)(F)F)nn2-c2ccc(S(N)(=O)=O)cc2)cc1"
GOLDEN = [CAPIVASERTIB, IPATASERTIB, MK2206, SULFONAMIDE, CELECOXIB]


def units_of(smiles: str) -> list[tuple[str, str, str]]:
    return [(u.kind, u.key, u.name) for u in partition(Chem.MolFromSmiles(smiles))]


def assert_partition(mol: Chem.Mol) -> None:
    atoms = [a for u in partition(mol) for a in u.atoms]
    assert sorted(atoms) == list(range(mol.GetNumAtoms())), "disjoint and covering"


@pytest.mark.parametrize("smiles", GOLDEN)
def test_golden_molecules_are_partitioned(smiles):
    mol = Chem.MolFromSmiles(smiles)
    assert_partition(mol)
    for unit in partition(mol):
        assert list(unit.atoms) == sorted(unit.atoms) and unit.kind in ("ring_system", "functional_group", "linker")
        assert mol.HasSubstructMatch(compile_smarts(unit.smarts)), unit


def test_capivasertib():
    assert units_of(CAPIVASERTIB) == [
        ("ring_system", "C1CCNCC1", "piperidine"),
        ("ring_system", "c1ncc2cc[nH]c2n1", "pyrrolo[2,3-d]pyrimidine"),
        ("ring_system", "c1ccccc1", "benzene"),
        ("functional_group", "fg:amide", "amide"),
        ("functional_group", "fg:chloro", "chloro"),
        ("linker", "C", "alkyl linker (1 C)"),
    ]


def test_ipatasertib():
    units = units_of(IPATASERTIB)
    rings = [(k, n) for kind, k, n in units if kind == "ring_system"]
    assert rings == [("c1ncc2c(n1)CCC2", "6,7-dihydro-5H-cyclopenta[d]pyrimidine"), ("C1CNCCN1", "piperazine"),
                     ("c1ccccc1", "benzene")]
    groups = sorted(k for kind, k, _ in units if kind == "functional_group")
    assert groups == ["fg:amide", "fg:chloro", "fg:hydroxyl", "fg:secondary_amine"]
    amide = next(u for u in partition(Chem.MolFromSmiles(IPATASERTIB)) if u.key == "fg:amide")
    assert len(amide.atoms) == 2, "the amide N is a piperazine atom: context, not taken from its ring"
    assert sorted(k for kind, k, _ in units if kind == "linker") == ["C", "CC", "CCC"]


def test_mk2206():
    units = units_of(MK2206)
    assert ("ring_system", "c1cnc2ccn3c[nH]nc3c2c1", "[1,2,4]triazolo[3,4-f][1,6]naphthyridine") in units
    assert [n for kind, _, n in units if kind == "ring_system"].count("benzene") == 2
    assert ("ring_system", "C1CC1", "cyclopropane") in units
    assert sorted(k for kind, k, _ in units if kind == "functional_group") == ["fg:primary_amine", "fg:ring_oxo"]
    assert not [u for u in units if u[0] == "linker"]


def test_sulfonamide_and_trifluoromethyl():
    units = units_of(SULFONAMIDE)
    by_key = {k: (kind, n) for kind, k, n in units}
    assert by_key["fg:sulfonamide"] == ("functional_group", "sulfonamide")
    assert by_key["fg:trifluoromethyl"] == ("functional_group", "trifluoromethyl")
    assert "fg:fluoro" not in by_key, "CF3 takes its fluorines before the halogen entry"
    assert by_key["CCC"] == ("linker", "alkyl linker (3 C)")
    cf3 = next(u for u in partition(Chem.MolFromSmiles(SULFONAMIDE)) if u.key == "fg:trifluoromethyl")
    assert len(cf3.atoms) == 4


def test_celecoxib_primary_sulfonamide_and_n_aryl_pyrazole():
    units = units_of(CELECOXIB)
    assert ("ring_system", "c1cnnc1", "pyrazole (N-substituted)") in units
    assert {k for _, k, _ in units} >= {"fg:sulfonamide", "fg:trifluoromethyl", "c1ccccc1", "C"}


@pytest.mark.parametrize("smiles", [
    "Cc1ccc2[nH]ccc2c1", "Cc1c[nH]c2ccccc12", "Clc1ccc2[nH]ccc2c1N", "OCCc1c[nH]c2ccc(F)cc12",
])
def test_ring_system_key_does_not_depend_on_substituents(smiles):
    # MolFragmentToSmiles alone writes an indole as c1ccc2[nH]ccc2c1 or c1ccc2c(c1)cc[nH]2 depending on substituents
    rings = [(k, n) for kind, k, n in units_of(smiles) if kind == "ring_system"]
    assert rings == [("c1ccc2[nH]ccc2c1", "indole")]


def test_n_substitution_and_tautomers_keep_the_parent_name():
    assert ring_system_name("Cn1ccc2ccccc21") == "indole (N-substituted)"
    assert ring_system_name("Cn1cnnc1") == ring_system_name("Cn1cncn1") == "1,2,4-triazole (N-substituted)"
    assert ring_system_name("c1ccccc1") == "benzene" and ring_system_name("O=c1cccc[nH]1") == "pyridinone"
    assert ring_system_name("Cc1ccc2[nH]c(=O)[nH]c2c1") == "benzimidazole (N-H form)"


def test_unknown_ring_systems_get_a_descriptive_name():
    assert ring_system_name("c1ccc2c(c1)Nc1ncccc1-n1cnnc1-2") == (
        "tetracyclic partly aromatic ring system (18 atoms: 13 C, 5 N)")
    assert ring_system_name("C1CC2CCC1C2") == "bicyclic non-aromatic ring system (7 atoms: 7 C)"
    assert ring_system_name("c1ccccc1") and ring_system_name("CCO") is None


def test_spiro_and_fused_rings_are_one_system():
    units = units_of("C1CCC2(CC1)CCNC2")  # spiro
    assert [kind for kind, _, _ in units] == ["ring_system"]
    assert len(partition(Chem.MolFromSmiles("c1ccc2ccccc2c1"))) == 1


def test_catalog_has_the_medchem_ring_systems_under_canonical_keys():
    exact, bare = ring_system_catalog()
    assert len(exact) == len(_RING_SYSTEM_NAMES) >= 40
    for smiles, name in _RING_SYSTEM_NAMES.items():
        mol = Chem.MolFromSmiles(smiles)
        (unit,) = [u for u in partition(mol) if u.kind == "ring_system"]
        assert unit.name == name and unit.key in exact
        assert fragment_smiles(mol, unit.atoms) == unit.key
    assert {"benzene", "pyrrolo[2,3-d]pyrimidine", "imidazo[1,2-b]pyridazine", "1,6-naphthyridine", "purine",
            "pyrazolo[3,4-d]pyrimidine", "morpholine", "quinazoline"} <= set(exact.values())


def test_functional_group_catalog_is_ordered_and_distinct():
    ids = [g[0] for g in FUNCTIONAL_GROUPS]
    assert len(ids) == len(set(ids))
    assert ids.index("sulfonamide") < ids.index("sulfone") and ids.index("urea") < ids.index("amide")
    assert ids.index("trifluoromethyl") < ids.index("fluoro") and ids.index("carboxylic_acid") < ids.index("hydroxyl")


@pytest.mark.parametrize(("smiles", "key"), [
    ("CC(=O)Nc1ccccc1", "fg:amide"), ("COC(=O)c1ccccc1", "fg:ester"), ("OC(=O)c1ccccc1", "fg:carboxylic_acid"),
    ("N#Cc1ccccc1", "fg:nitrile"), ("O=[N+]([O-])c1ccccc1", "fg:nitro"), ("NC(=O)Nc1ccccc1", "fg:urea"),
    ("CC(C)(C)OC(=O)Nc1ccccc1", "fg:carbamate"), ("NC(=N)Nc1ccccc1", "fg:guanidine"),
    ("CC(=O)c1ccccc1", "fg:ketone"), ("O=Cc1ccccc1", "fg:aldehyde"), ("Oc1ccccc1", "fg:hydroxyl"),
    ("COc1ccccc1", "fg:ether"), ("CN(C)Cc1ccccc1", "fg:tertiary_amine"), ("Brc1ccccc1", "fg:bromo"),
    ("CSc1ccccc1", "fg:thioether"), ("CS(=O)(=O)c1ccccc1", "fg:sulfone"), ("O=C1CCCN1", "fg:ring_oxo"),
])
def test_functional_groups(smiles, key):
    assert key in {u.key for u in partition(Chem.MolFromSmiles(smiles))}


def test_explicit_hydrogens_join_their_heavy_atom():
    mol = Chem.AddHs(Chem.MolFromSmiles(CAPIVASERTIB))
    assert_partition(mol)
    assert [u.key for u in partition(mol)] == [u.key for u in partition(Chem.MolFromSmiles(CAPIVASERTIB))]


def test_every_reference_structure_is_partitioned():
    for smiles in sample_smiles(300, step=16):
        assert_partition(Chem.MolFromSmiles(smiles))


def test_unit_presence_is_the_partition_not_a_substructure_match():
    mols = [Chem.MolFromSmiles(s) for s in ("c1ccccc1C", "c1ccc2ccccc2c1", CAPIVASERTIB, "CCO")]
    types, matrix = unit_presence(mols)
    keys = [t.key for t in types]
    assert matrix.shape == (4, len(types)) and matrix.dtype == bool
    benzene = keys.index("c1ccccc1")
    assert matrix[:, benzene].tolist() == [True, False, True, False], "a benzene unit does not fire on naphthalene"
    assert np.array_equal(matrix[:, benzene], has_unit(mols, "c1ccccc1"))
    assert {t.kind for t in types} == {"ring_system", "functional_group"}, "linkers are not columns by default"
    kinds = [t.kind for t in types]
    assert kinds == sorted(kinds, key=["ring_system", "functional_group"].index)


def _components_by_walk(mol, atoms):
    """The former implementation (a walk over RDKit's neighbour iterators): the reference for the union-find."""
    seen, parts = set(), []
    for start in sorted(atoms):
        if start in seen:
            continue
        stack, part = [start], set()
        while stack:
            a = stack.pop()
            if a not in part:
                part.add(a)
                stack.extend(n.GetIdx() for n in mol.GetAtomWithIdx(a).GetNeighbors() if n.GetIdx() in atoms)
        seen |= part
        parts.append(tuple(sorted(part)))
    return parts


def test_components_are_those_of_a_walk_on_real_molecules():
    import random

    from services.causal.substructures import _components
    from services.predictor.reference import load_akt1

    rng = random.Random(0)
    for smiles in load_akt1().smiles[:300]:
        mol = Chem.MolFromSmiles(smiles)
        atoms = {a for a in range(mol.GetNumAtoms()) if rng.random() < 0.6}
        assert _components(mol, atoms) == _components_by_walk(mol, atoms), smiles



def _partition_unit_by_unit(mol):
    """The former implementation (one RDKit SMILES call per unit, every catalog SMARTS matched): the reference for
    ``partition``'s one call per molecule and its skipping of SMARTS that cannot count."""
    from services.causal.substructures import (
        _GROUP_PATTERNS,
        Unit,
        _bonds,
        _components,
        _linker_unit,
        _ring_systems,
        _ring_unit,
    )

    bonds = _bonds(mol)
    alone = [Chem.MolFragmentToSmiles(mol, atomsToUse=list(atoms), isomericSmiles=False, canonical=False)
             for atoms in _ring_systems(mol)]
    units = [_ring_unit(mol, atoms, written, bonds) for atoms, written in zip(_ring_systems(mol), alone, strict=True)]
    taken = {a for u in units for a in u.atoms}
    ring_atoms = set(taken)
    for key, name, smarts, pattern, _ in _GROUP_PATTERNS:
        for match in mol.GetSubstructMatches(pattern, uniquify=True, maxMatches=1000):
            if match[0] not in taken:
                atoms = tuple(sorted(a for a in match if a not in taken and a not in ring_atoms))
                taken.update(atoms)
                units.append(Unit(key, "functional_group", name, smarts, atoms))
    rest = set(range(mol.GetNumAtoms())) - taken
    return units + [_linker_unit(mol, part) for part in _components(mol, rest)]


def test_partition_is_the_unit_by_unit_rule_on_real_molecules():
    from services.predictor.reference import load_akt1

    smiles = load_akt1().smiles[::12] + [*GOLDEN, "CCO", "C", "[Na+]", "c1ccccc1-c1ccccc1", "CC.CCN"]
    for s in smiles:
        mol = Chem.MolFromSmiles(s)
        assert partition(mol) == _partition_unit_by_unit(mol), s


def test_each_catalog_smarts_starts_with_the_element_partition_filters_on():
    from services.causal.substructures import _GROUP_PATTERNS

    table = Chem.GetPeriodicTable()
    for _, _, smarts, _, element in _GROUP_PATTERNS:
        first = smarts[1:].split(";")[0].split("]")[0]  # the first AND term of the defining atom
        symbol = table.GetElementSymbol(element)
        assert first.startswith(symbol) and not first[len(symbol):][:1].islower() and "," not in first, smarts


@pytest.mark.parametrize("smiles", [
    "C1CC12CC2", "C1CCCCCCCCCCCCCCCCCCCC1", "c1ccc2c(c1)c1ccccc1c1ccccc21", "C12C3C4C1C5C2C3C45", "C1CC2CCC1C2",
    "C12C3C4C5C1C6C2C3C4C56", "C=[S+](C)[O-]", "[NH3+]CC([O-])=O", "B1OC(C)(C)C(C)(C)O1", "C#CC#C", "N->[Fe]",
    "C" * 450, CAPIVASERTIB, MK2206, CELECOXIB,
])
def test_the_fragment_writer_ranks_as_rdkits(smiles):
    """partition writes its units' SMILES itself (RDKit's atom tokens, every bond written, ring closures depth
    first): ranked, the same keys as MolFragmentToSmiles' text, with or without hydrogens; a dative bond or a
    fragment over 400 atoms is written by RDKit."""
    from services.causal.fragment_smiles import canonical_fragment, rdkit_written, written_fragments
    from services.causal.substructures import _bonds

    mol = Chem.MolFromSmiles(smiles)
    fragments = [u.atoms for u in partition(mol) if u.kind != "functional_group"]
    ours, rdkits = written_fragments(mol, fragments, _bonds(mol)), rdkit_written(mol, fragments, _bonds(mol))
    for hydrogens in (True, False):
        assert [canonical_fragment(w, hydrogens) for w in ours] == [canonical_fragment(w, hydrogens) for w in rdkits]
