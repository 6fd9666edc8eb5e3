"""Interpretable substructures ("treatments") mined from a training set: the units of ``substructures.py``.

Every molecule is partitioned into units (ring systems, functional groups, linkers: ``substructures.partition``).
A mined treatment is a unit key, a ring system (``c1ncc2cc[nH]c2n1``, "pyrrolo[2,3-d]pyrimidine") or a functional
group (``fg:amide``); linkers are not treatments. It is *present* in a molecule when the molecule's partition has a
unit with that key, so a benzene treatment does not fire on a naphthalene and a functional group only counts where
the partition gave it its atoms. User SMARTS (kind ``user``) are always kept, present where the SMARTS matches.

A mined treatment is kept when it is present in at least ``min_support`` of the molecules and ``min_rows``
molecules, and in at most ``max_support``. Candidates are ranked by their smaller arm, min(with, without): that is
what limits an effect estimate, and it ranks a unit found in nearly every molecule below a real chemotype. A
candidate is skipped when its presence pattern is near-identical (Jaccard >= ``max_overlap``) to a treatment
already kept or asked for (user treatments first), or when its SMARTS is, as text, one the user asked for (the
user's ``C1COCCN1`` and the mined morpholine unit would otherwise be two treatments under one SMARTS); at most
``max_treatments`` are mined.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
from rdkit import Chem

from services.causal.substructures import has_unit, unit_presence
from shared.errors import InvalidRequest

logger = logging.getLogger(__name__)

KIND_ORDER = ("user", "ring_system", "functional_group")


@dataclass(frozen=True)
class TreatmentRules:
    min_support: float = 0.02  # 2%: a hinge binder made by one lab series (capivasertib's, 123 of 4,831) is profiled
    min_rows: int = 20
    max_support: float = 0.95
    max_treatments: int = 60
    max_overlap: float = 0.9


@dataclass(frozen=True)
class Treatment:
    id: str
    smarts: str  # a unit's SMARTS (ring system: its SMILES read as SMARTS), or the user's
    kind: str
    support: int
    name: str = ""  # the chemist's name ("piperidine", "amide"); a user treatment's is its SMARTS
    key: str = ""  # the unit key presence is decided by; a user treatment's is its SMARTS

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
    """Per molecule: does it match the SMARTS (user treatments, causal questions)."""
    pattern = compile_smarts(smarts)
    return np.fromiter((m.HasSubstructMatch(pattern) for m in mols), dtype=bool, count=len(mols))


def treatment_presence(mols: list[Chem.Mol], treatment: Treatment) -> np.ndarray:
    """Presence as mining decides it: SMARTS match for a user treatment, a unit with its key for a mined one."""
    return presence(mols, treatment.smarts) if treatment.kind == "user" else has_unit(mols, treatment.key)


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = int(np.count_nonzero(a | b))
    return int(np.count_nonzero(a & b)) / union if union else 1.0


def mine_treatments(
    mols: list[Chem.Mol], extra_smarts: Iterable[str] = (), rules: TreatmentRules = TreatmentRules()
) -> tuple[list[Treatment], np.ndarray]:
    """The treatments and their presence matrix (molecules x treatments, bool), in id order: user SMARTS first."""
    n = len(mols)
    low, high = max(rules.min_rows, rules.min_support * n), rules.max_support * n
    # (kind, smarts, name, key, presence); user SMARTS are compiled first, so an unreadable one is a 400 at once
    kept = [("user", s, s, s, presence(mols, s)) for s in dict.fromkeys(extra_smarts)]
    asked = {c[1] for c in kept}
    types, matrix = unit_presence(mols)
    support = matrix.sum(axis=0)
    candidates = [j for j in range(len(types)) if low <= support[j] <= high]
    candidates.sort(key=lambda j: (-min(support[j], n - support[j]), KIND_ORDER.index(types[j].kind), types[j].key))
    n_mined = 0
    for j in candidates:
        if n_mined == rules.max_treatments:
            break
        if types[j].smarts in asked:
            continue  # one SMARTS text, one treatment: callers (effects, evidence) look treatments up by it
        if all(_jaccard(matrix[:, j], other[4]) < rules.max_overlap for other in kept):
            t = types[j]
            kept.append((t.kind, t.smarts, t.name, t.key, matrix[:, j]))
            n_mined += 1
    treatments = [Treatment(f"T{i + 1:02d}", s, k, int(p.sum()), name, key)
                  for i, (k, s, name, key, p) in enumerate(kept)]
    presence_matrix = np.column_stack([c[4] for c in kept]) if kept else np.zeros((n, 0), dtype=bool)
    logger.info("mined %d treatments from %d molecules (%d unit types)", len(treatments), n, len(types))
    return treatments, presence_matrix
