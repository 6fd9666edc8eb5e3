"""Additive attributions of a prediction, grouped to the molecule's substructure units.

Rule. For a tree model (scikit-learn ``RandomForestRegressor``, ``ExtraTreesRegressor``,
``HistGradientBoostingRegressor``) each feature's attribution comes from ``shap.TreeExplainer(model).shap_values(X,
approximate=True)``: Saabas path attributions (per tree, the change of the node mean along the molecule's path,
credited to the feature split on), not exact TreeSHAP: on the served AKT1 forest (100 trees, 61-178 deep) exact
TreeSHAP takes ~2 s per molecule and, in shap 0.51.0, returns values of order 1e28 (cancellation in deep trees,
shap/shap#4042). Saabas attributions are exactly additive: baseline (the explainer's expected value) + sum of
attributions = the prediction (measured 1.6e-14), and cost ~0.1 ms per molecule.

Grouping. Features are Morgan environments (``morgan_counts``, ``morgan_bits``, and the Morgan block of
``morgan_counts+rdkit2d``). A feature the molecule has is split evenly over its occurrences (the centre atom of
each environment counted in it), and each occurrence is credited to the unit (``substructures.partition``) holding
its centre atom. What features the molecule does *not* have contribute (a zero count also moves a tree) and the
non-Morgan columns (the rdkit2d descriptors) go to one remainder entry, ``absent_or_global``. So, per molecule:
baseline + sum(unit attributions) + remainder == prediction.

A SMARTS (a user treatment) gets the sum of the per-atom attributions over the atoms it matches
(``smarts_attribution``): a view, not a part of the additive partition (it may overlap several units or none).

Not attributed (``None``): estimators without trees (``knn``) and featurizers without atoms (``rdkit2d``).
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator
from sklearn.ensemble import ExtraTreesRegressor, HistGradientBoostingRegressor, RandomForestRegressor

from services.causal.substructures import Unit, partition
from services.causal.treatments import compile_smarts
from services.featurizer.morgan import _generator

logger = logging.getLogger(__name__)

REMAINDER_KEY = "absent_or_global"
MORGAN_FEATURIZERS = ("morgan_counts", "morgan_bits", "morgan_counts+rdkit2d")  # Morgan block in [0, n_bits)
TREE_MODELS = (RandomForestRegressor, ExtraTreesRegressor, HistGradientBoostingRegressor)
METHOD = "saabas path attributions (shap.TreeExplainer, approximate=True), grouped to substructure units"
_CACHE_SIZE = 4  # a worker serves a handful of models; each entry keeps its estimator alive so id() stays unique

_explainers: OrderedDict[int, tuple[Any, Any]] = OrderedDict()
_lock = threading.Lock()


@dataclass(frozen=True)
class MoleculeAttribution:
    baseline: float  # the explainer's expected value
    prediction: float  # baseline + every feature's attribution (== the estimator's prediction)
    units: tuple[dict[str, Any], ...]  # the partition: key, kind, name, smarts, atoms, attribution
    remainder: float  # absent features and non-Morgan columns
    atom_attributions: tuple[float, ...]  # per atom (Morgan features present, split over their centres)

    def to_dict(self, digits: int = 4) -> dict[str, Any]:
        return {
            "baseline": round(self.baseline, digits), "prediction": round(self.prediction, digits),
            "units": [u | {"attribution": round(u["attribution"], digits)} for u in self.units],
            "remainder": {"key": REMAINDER_KEY, "attribution": round(self.remainder, digits)},
        }


def morgan_block(featurizer: dict[str, Any]) -> tuple[int, int] | None:
    """(radius, n_bits) of the featurizer's Morgan columns; None for a featurizer without atoms (rdkit2d)."""
    if featurizer.get("name") not in MORGAN_FEATURIZERS:
        return None
    params = featurizer.get("params", {})
    return int(params.get("radius", 2)), int(params.get("n_bits", 2048))


def environment_centres(mol: Chem.Mol, radius: int, n_bits: int) -> dict[int, list[int]]:
    """Feature bit -> the centre atom of each environment counted in it, with the featurizer's own generator."""
    output = rdFingerprintGenerator.AdditionalOutput()
    output.AllocateBitInfoMap()
    _generator(radius, n_bits).GetCountFingerprint(mol, additionalOutput=output)
    return {bit: [atom for atom, _ in envs] for bit, envs in output.GetBitInfoMap().items()}


def explainer(estimator: Any) -> Any | None:
    """The cached ``shap.TreeExplainer`` of a fitted tree model; None for other estimators (knn)."""
    if not isinstance(estimator, TREE_MODELS) or not hasattr(estimator, "n_features_in_"):
        return None
    with _lock:
        hit = _explainers.get(id(estimator))
        if hit is not None and hit[0] is estimator:
            _explainers.move_to_end(id(estimator))
            return hit[1]
    with warnings.catch_warnings():  # shap's plotting colours warn about matplotlib at import: not ours to fix
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap  # ~1 s to import: only the processes that attribute pay it

    made = shap.TreeExplainer(estimator)
    with _lock:
        _explainers[id(estimator)] = (estimator, made)
        while len(_explainers) > _CACHE_SIZE:
            _explainers.popitem(last=False)
    return made


def feature_attributions(estimator: Any, x: np.ndarray) -> tuple[float, np.ndarray] | None:
    """(baseline, rows x features attributions) of a tree model; None for other estimators."""
    tree_explainer = explainer(estimator)
    if tree_explainer is None:
        return None
    phi = tree_explainer.shap_values(np.asarray(x), approximate=True, check_additivity=False)
    return float(np.ravel(tree_explainer.expected_value)[0]), np.asarray(phi, dtype=np.float64).reshape(len(x), -1)


def atom_attributions(phi: np.ndarray, x: np.ndarray, centres: dict[int, list[int]], n_atoms: int,
                      n_morgan: int) -> np.ndarray:
    """Per atom: each present Morgan feature's attribution split evenly over its centre atoms."""
    per_atom = np.zeros(n_atoms, dtype=np.float64)
    # a bit the vector lacks is "absent": its attribution stays in the remainder
    pairs = [(bit, atom, len(atoms)) for bit, atoms in centres.items() if bit < n_morgan and x[bit] > 0
             for atom in atoms]
    if pairs:
        bits, atoms, counts = np.array(pairs).T
        np.add.at(per_atom, atoms, phi[bits] / counts)  # add.at: one atom can be the centre of two radii in a bit
    return per_atom


def chunk_atom_attributions(phi: np.ndarray, x: np.ndarray, mols: list[Chem.Mol], radius: int,
                            n_morgan: int) -> list[np.ndarray]:
    """``atom_attributions`` of every molecule (row of ``phi`` and ``x``) in a few array operations for the chunk.

    The (bit, centre atom) pairs come from the generator's atom-to-bits output (the same pairs as its bit-info map,
    without building that dict per molecule) and are added in the same order, by bit, so the floats are the same.
    """
    lengths: list[int] = []  # pairs per atom, every molecule's atoms in turn
    bits: list[int] = []
    per_molecule: list[int] = []  # pairs per molecule
    output = rdFingerprintGenerator.AdditionalOutput()
    output.AllocateAtomToBits()
    generator = _generator(radius, n_morgan)
    for mol in mols:
        generator.GetCountFingerprint(mol, additionalOutput=output)
        atom_bits = output.GetAtomToBits()
        lengths.extend(map(len, atom_bits))
        start = len(bits)
        bits.extend(chain.from_iterable(atom_bits))
        per_molecule.append(len(bits) - start)
    n_atoms = [mol.GetNumAtoms() for mol in mols]
    per_atom = np.zeros(sum(n_atoms), dtype=np.float64)
    if bits:
        bit = np.asarray(bits, dtype=np.int64)
        atom = np.repeat(np.arange(len(lengths)), lengths)
        row = np.repeat(np.arange(len(mols)), per_molecule)
        order = np.argsort(row * phi.shape[1] + bit, kind="stable")  # by molecule, then bit: the old adding order
        bit, atom, row = bit[order], atom[order], row[order]
        _, which, centres = np.unique(row * phi.shape[1] + bit, return_inverse=True, return_counts=True)
        present = (bit < n_morgan) & (x[row, bit] > 0)  # an absent bit's attribution stays in the remainder
        np.add.at(per_atom, atom[present], phi[row, bit][present] / centres[which][present])
    ends = np.cumsum(n_atoms)
    return [per_atom[end - n:end].copy() for n, end in zip(n_atoms, ends, strict=True)]  # fresh, as one alone


def by_units(phi: np.ndarray, per_atom: np.ndarray, units: list[Unit]) -> tuple[list[float], float]:
    """(attribution per unit, remainder) of one molecule, from its feature and per-atom attributions."""
    return [float(per_atom[list(u.atoms)].sum()) for u in units], float(phi.sum() - per_atom.sum())


def group(phi: np.ndarray, x: np.ndarray, centres: dict[int, list[int]], units: list[Unit], n_atoms: int,
          n_morgan: int) -> tuple[list[float], float, np.ndarray]:
    """(attribution per unit, remainder, per-atom attributions) of one molecule's feature attributions."""
    per_atom = atom_attributions(phi, x, centres, n_atoms, n_morgan)
    return *by_units(phi, per_atom, units), per_atom


def attribute(
    estimator: Any, featurizer: dict[str, Any], mols: list[Chem.Mol | None], x: np.ndarray
) -> list[MoleculeAttribution | None] | None:
    """Per molecule (row of ``x``, the model's features of that molecule), its attribution grouped to units; None
    when the estimator has no trees or the featurizer no atoms; None in the list for a molecule that is None."""
    block = morgan_block(featurizer)
    if block is None or explainer(estimator) is None:
        return None
    radius, n_morgan = block
    present = [(i, m) for i, m in enumerate(mols) if m is not None]
    out: list[MoleculeAttribution | None] = [None] * len(mols)
    if not present:
        return out
    rows = [i for i, _ in present]
    x_rows = np.asarray(x)[rows]
    attributions = feature_attributions(estimator, x_rows)
    if attributions is None:  # cannot happen: the explainer exists (checked above)
        return None
    baseline, phi = attributions
    per_atoms = chunk_atom_attributions(phi, x_rows, [m for _, m in present], radius, n_morgan)
    for row, ((i, mol), per_atom) in enumerate(zip(present, per_atoms, strict=True)):
        units = partition(mol)
        by_unit, remainder = by_units(phi[row], per_atom, units)
        entries = tuple(u.to_dict() | {"attribution": a} for u, a in zip(units, by_unit, strict=True))
        out[i] = MoleculeAttribution(baseline, baseline + float(phi[row].sum()), entries, remainder,
                                     tuple(per_atom.tolist()))
    return out


def smarts_attribution(mol: Chem.Mol, attribution: MoleculeAttribution, smarts: str) -> float | None:
    """Sum of per-atom attributions over the atoms a SMARTS matches (all matches); None when it does not match.
    Not part of the additive partition. An unreadable SMARTS is a 400 (``compile_smarts``)."""
    matched = {a for match in mol.GetSubstructMatches(compile_smarts(smarts), maxMatches=1000) for a in match}
    return float(sum(attribution.atom_attributions[a] for a in matched)) if matched else None
