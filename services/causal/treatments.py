"""Interpretable substructures ("treatments") mined from a training set, each defined by a SMARTS.

Three kinds are mined, then every candidate's presence is recomputed by SMARTS matching, so a treatment means
exactly "the molecule matches this SMARTS", for training rows and for new molecules alike:

- ``ring_system``: fused ring systems (rings sharing an atom are merged), written without substituents;
- ``scaffold``: Bemis-Murcko scaffolds that recur (the same scaffold in at least ``min_rows`` molecules);
- ``environment``: Morgan atom environments of radius 1-2 (``FindAtomEnvironmentOfRadiusN``), written out as the
  fragment's SMILES read as SMARTS (aromatic and aliphatic atoms kept apart, hydrogens and degree left open).

User SMARTS (kind ``user``) are always kept. A mined treatment is kept when it is present in at least
``min_support`` of the molecules and ``min_rows`` molecules, and in at most ``max_support``. Mined treatments are
chosen kind by kind, the most readable first: up to ``ring_quota`` ring systems, then up to ``scaffold_quota``
scaffolds, then environments (of at least ``min_environment_atoms`` atoms) up to ``max_treatments`` in all.
Within a kind they are ranked by their smaller arm, min(with, without): that is what limits an effect estimate,
and it ranks a fragment found in nearly every molecule below a real chemotype. A candidate is skipped when its
presence pattern is near-identical (Jaccard >= ``max_overlap``) to a treatment already kept or asked for.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator
from rdkit.Chem.Scaffolds import MurckoScaffold

from shared.errors import InvalidRequest

logger = logging.getLogger(__name__)

KIND_ORDER = ("user", "ring_system", "scaffold", "environment")


@dataclass(frozen=True)
class TreatmentRules:
    min_support: float = 0.05
    min_rows: int = 20
    max_support: float = 0.95
    max_treatments: int = 40
    max_overlap: float = 0.9
    min_environment_atoms: int = 3
    ring_quota: int = 12
    scaffold_quota: int = 8
    radii: tuple[int, ...] = (1, 2)
    candidates_per_kind: int = 80  # most frequent mined candidates matched exactly (matching is the cost)


@dataclass(frozen=True)
class Treatment:
    id: str
    smarts: str
    kind: str
    support: int

    def to_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=4096)
def compile_smarts(smarts: str) -> Chem.Mol:
    """The query molecule of a SMARTS; a 400 naming the SMARTS when RDKit cannot read it."""
    pattern = Chem.MolFromSmarts(smarts) if smarts and len(smarts) <= 1000 else None
    if pattern is None or pattern.GetNumAtoms() == 0:
        raise InvalidRequest(f"'{smarts}' is not a valid SMARTS", {"smarts": smarts})
    return pattern


def presence(mols: list[Chem.Mol], smarts: str) -> np.ndarray:
    pattern = compile_smarts(smarts)
    return np.fromiter((m.HasSubstructMatch(pattern) for m in mols), dtype=bool, count=len(mols))


def _ring_systems(mol: Chem.Mol) -> list[set[int]]:
    systems: list[set[int]] = []
    for ring in mol.GetRingInfo().AtomRings():
        merged = set(ring)
        for system in [s for s in systems if s & merged]:
            systems.remove(system)
            merged |= system
        systems.append(merged)
    return systems


def _environment_smiles(mol: Chem.Mol, atom: int, radius: int) -> str | None:
    bonds = list(Chem.FindAtomEnvironmentOfRadiusN(mol, radius, atom))
    if not bonds:
        return None
    atoms = {a for b in bonds for a in (mol.GetBondWithIdx(b).GetBeginAtomIdx(), mol.GetBondWithIdx(b).GetEndAtomIdx())}
    return Chem.MolFragmentToSmiles(mol, atomsToUse=sorted(atoms), bondsToUse=bonds, isomericSmiles=False)


def _mine_candidates(mols: list[Chem.Mol], rules: TreatmentRules) -> dict[str, dict[str, int]]:
    """kind -> {SMARTS: number of molecules it was mined from}, before exact matching."""
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=max(rules.radii))
    counts: dict[str, dict[str, int]] = {k: defaultdict(int) for k in KIND_ORDER[1:]}
    env_molecules: dict[int, int] = defaultdict(int)
    env_example: dict[int, tuple[int, int, int]] = {}
    for i, mol in enumerate(mols):
        output = rdFingerprintGenerator.AdditionalOutput()
        output.AllocateBitInfoMap()
        generator.GetSparseCountFingerprint(mol, additionalOutput=output)
        for bit, envs in output.GetBitInfoMap().items():
            atom, radius = envs[0]
            if radius in rules.radii:
                env_molecules[bit] += 1
                env_example.setdefault(bit, (i, atom, radius))
        for smiles in {Chem.MolFragmentToSmiles(mol, sorted(s), isomericSmiles=False) for s in _ring_systems(mol)}:
            counts["ring_system"][smiles] += 1
        scaffold = MurckoScaffold.MurckoScaffoldSmiles(mol=mol)
        if scaffold and "." not in scaffold:
            counts["scaffold"][scaffold] += 1
    # Only frequent environments are written out: the SMARTS of a bit is taken from its first occurrence.
    floor = max(rules.min_rows, rules.min_support * len(mols))
    for bit, n in env_molecules.items():
        if n >= floor:
            smiles = _environment_smiles(mols[env_example[bit][0]], env_example[bit][1], env_example[bit][2])
            if smiles and Chem.MolFromSmarts(smiles).GetNumAtoms() >= rules.min_environment_atoms:
                counts["environment"][smiles] = max(counts["environment"][smiles], n)
    return counts


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = int(np.count_nonzero(a | b))
    return int(np.count_nonzero(a & b)) / union if union else 1.0


def _select(
    candidates: list[tuple[str, str, np.ndarray]], n: int, rules: TreatmentRules
) -> list[tuple[str, str, np.ndarray]]:
    """Kinds fill their quota in order (ring systems, scaffolds, then environments), each ranked by smaller arm."""
    def rank(c: tuple[str, str, np.ndarray]) -> tuple:
        support = int(c[2].sum())
        return (KIND_ORDER.index(c[0]), -min(support, n - support), -compile_smarts(c[1]).GetNumAtoms(), c[1])

    quota = {"ring_system": rules.ring_quota, "scaffold": rules.scaffold_quota, "environment": rules.max_treatments}
    kept: list[tuple[str, str, np.ndarray]] = []
    for kind, smarts, present in sorted(candidates, key=rank):
        if len(kept) == rules.max_treatments:
            break
        if quota[kind] and all(_jaccard(present, other) < rules.max_overlap for _, _, other in kept):
            quota[kind] -= 1
            kept.append((kind, smarts, present))
    return kept


def mine_treatments(
    mols: list[Chem.Mol], extra_smarts: Iterable[str] = (), rules: TreatmentRules = TreatmentRules()
) -> tuple[list[Treatment], np.ndarray]:
    """The treatments and their presence matrix (molecules x treatments, bool), in id order: user SMARTS first."""
    n = len(mols)
    low, high = max(rules.min_rows, rules.min_support * n), rules.max_support * n
    users = [("user", s, presence(mols, s)) for s in dict.fromkeys(extra_smarts)]
    mined: list[tuple[str, str, np.ndarray]] = []
    for kind, counts in _mine_candidates(mols, rules).items():
        # Scaffolds are counted as exact scaffolds, so they only need to recur; matching widens their support.
        floor = rules.min_rows if kind == "scaffold" else low
        ranked = sorted((s for s, c in counts.items() if c >= floor), key=lambda s: (-min(counts[s], n - counts[s]), s))
        for smarts in ranked[: rules.candidates_per_kind]:
            try:
                present = presence(mols, smarts)
            except InvalidRequest:
                continue  # a mined fragment RDKit cannot read back as SMARTS is simply skipped
            if low <= int(present.sum()) <= high:
                mined.append((kind, smarts, present))
    # What the user asked for blocks its own near-duplicates among the mined treatments.
    mined = [c for c in mined if all(_jaccard(c[2], u[2]) < rules.max_overlap for u in users)]
    final = users + _select(mined, n, rules)
    treatments = [Treatment(f"T{i + 1:02d}", s, k, int(p.sum())) for i, (k, s, p) in enumerate(final)]
    matrix = np.column_stack([p for _, _, p in final]) if final else np.zeros((n, 0), dtype=bool)
    logger.info("mined %d treatments from %d molecules", len(treatments), n)
    return treatments, matrix
