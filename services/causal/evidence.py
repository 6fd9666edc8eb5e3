"""Per-prediction causal evidence from a profile: the molecule's mechanism, and the substructures it relies on.

Contribution of a substructure to a prediction (ablation, the model's own attribution): the molecule's feature
vector is recomputed with every Morgan environment *centred* on an atom the substructure's SMARTS matches
removed (a count drops by those environments; a bit is cleared when no other environment sets it), and the
contribution is the prediction of the full vector minus that of the ablated one. Every ablation of a chunk goes
to the estimator in one ``predict`` call. Featurizers other than the Morgan ones give no contribution (null).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator
from sklearn.base import RegressorMixin

from services.causal import uncertainty
from services.causal.mechanisms import Assigner
from services.causal.treatments import compile_smarts
from services.predictor.training import dense_matrix

logger = logging.getLogger(__name__)

MAX_EVIDENCE = 8
ABLATABLE = {"morgan_counts": False, "morgan_bits": True}  # featurizer -> values are bits (else counts)


class ProfileUnusable(Exception):
    """The stored profile cannot be used (failed build, unknown version): judged as if there were none."""


@dataclass
class ServingProfile:
    treatments: list[dict[str, Any]]  # smarts, pattern, adjusted_effect, status
    mechanisms: list[dict[str, Any]]  # id, label, focus
    assigner: Assigner
    well_covered_similarity: float | None = None  # None: a profile built before the level existed
    confident_spread: float | None = None  # None: not a tree ensemble, or a profile built before the level existed

    def summary(self) -> dict[str, Any]:
        return {"treatments": len(self.treatments), "mechanisms": [m["id"] for m in self.mechanisms],
                "well_covered_similarity": self.well_covered_similarity, "confident_spread": self.confident_spread}


@dataclass
class CausalContext:
    """What annotating one model's chunk needs beyond the domain: its profile, estimator and featurizer."""

    profile: ServingProfile
    estimator: RegressorMixin | None
    featurizer: dict[str, Any]
    n_features: int


def compile_profile(profile: dict[str, Any]) -> ServingProfile:
    if profile.get("status", "ready") != "ready":
        raise ProfileUnusable(f"the causal profile is {profile.get('status')}: {profile.get('error', 'no detail')}")
    effects = {e["treatment"]: e for e in profile["effects"]}
    treatments = [
        {"smarts": t["smarts"], "pattern": compile_smarts(t["smarts"]),
         "adjusted_effect": effects[t["id"]]["adjusted_effect"]["value"], "status": effects[t["id"]]["status"]}
        for t in profile["treatments"]
    ]
    items = profile["mechanisms"]["items"]
    mechanisms = [{"id": m["id"], "label": m["label"], "focus": m.get("focus")} for m in items]
    level = (profile.get("coverage") or {}).get("well_covered_similarity")
    spread = (profile.get("uncertainty") or {}).get("confident_spread")
    return ServingProfile(treatments, mechanisms, Assigner(profile["mechanisms"]["assigner"]),
                          None if level is None else float(level), None if spread is None else float(spread))


def spreads(molecules: list[dict[str, Any]], ctx: CausalContext) -> list[float | None]:
    """Each molecule's tree spread (``uncertainty.tree_spread``) under the served estimator; None each when the
    profile has no ``confident_spread``, the estimator is not a tree ensemble, or a molecule lacks features."""
    none: list[float | None] = [None] * len(molecules)
    if not molecules or ctx.profile.confident_spread is None or not uncertainty.has_trees(ctx.estimator):
        return none
    if any(m.get("features") is None for m in molecules):
        return none
    spread = uncertainty.tree_spread(ctx.estimator, dense_matrix([m["features"] for m in molecules], ctx.n_features))
    return none if spread is None else [round(float(s), 4) for s in spread]


@lru_cache(maxsize=8)
def _generator(radius: int, n_bits: int) -> rdFingerprintGenerator.FingerprintGenerator64:
    return rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)


def environment_centres(mol: Chem.Mol, radius: int, n_bits: int) -> dict[int, list[int]]:
    """Feature bit -> the centre atom of each environment counted in it (as the count featurizer counts)."""
    output = rdFingerprintGenerator.AdditionalOutput()
    output.AllocateBitInfoMap()
    _generator(radius, n_bits).GetCountFingerprint(mol, additionalOutput=output)
    return {bit: [atom for atom, _ in envs] for bit, envs in output.GetBitInfoMap().items()}


def _vector(centres: dict[int, list[int]], removed: set[int], n_features: int, as_bits: bool) -> np.ndarray:
    row = np.zeros(n_features, dtype=np.float32)
    for bit, atoms in centres.items():
        left = sum(a not in removed for a in atoms)
        row[bit] = min(left, 1) if as_bits else left
    return row


def _mechanism(profile: ServingProfile, probabilities: np.ndarray) -> dict[str, Any]:
    best = int(np.argmax(probabilities))
    item = profile.mechanisms[best]
    return {"id": item["id"], "label": item["label"], "probability": round(float(probabilities[best]), 3),
            "focus": item["focus"]}


def gather(molecules: list[dict[str, Any]], ctx: CausalContext) -> list[tuple[dict | None, list[dict]]]:
    """(mechanism, evidence) for each molecule, in order; the molecules are parsed ones (``error`` is None)."""
    if not molecules:
        return []
    profile = ctx.profile
    probabilities = profile.assigner.probabilities([m["ad_bits"] for m in molecules])
    params = ctx.featurizer.get("params", {})
    as_bits = ABLATABLE.get(ctx.featurizer.get("name"))
    ablate = ctx.estimator is not None and as_bits is not None
    rows: list[np.ndarray] = []
    plans: list[tuple[int, list[tuple[dict, int | None]]]] = []  # (full row, [(treatment, ablated row)])
    for molecule in molecules:
        mol = Chem.MolFromSmiles(molecule["canonical_smiles"])
        present = [t for t in profile.treatments if mol is not None and mol.HasSubstructMatch(t["pattern"])]
        if not ablate or not present:
            plans.append((-1, [(t, None) for t in present]))
            continue
        centres = environment_centres(mol, int(params["radius"]), int(params["n_bits"]))
        full = len(rows)
        rows.append(_vector(centres, set(), ctx.n_features, as_bits))
        plan = []
        for t in present:
            matched = {a for match in mol.GetSubstructMatches(t["pattern"], maxMatches=100) for a in match}
            plan.append((t, len(rows)))
            rows.append(_vector(centres, matched, ctx.n_features, as_bits))
        plans.append((full, plan))
    predicted = ctx.estimator.predict(np.vstack(rows)) if rows else np.zeros(0)
    gathered = []
    for i, (full, plan) in enumerate(plans):
        evidence = [
            {"substructure": t["smarts"],
             "contribution": None if row is None else round(float(predicted[full] - predicted[row]), 4),
             "adjusted_effect": t["adjusted_effect"], "status": t["status"]}
            for t, row in plan
        ]
        evidence.sort(key=lambda e: -abs(e["contribution"] or 0.0))
        gathered.append((_mechanism(profile, probabilities[i]), evidence[:MAX_EVIDENCE]))
    return gathered
