"""Per-prediction causal evidence from a profile: the molecule's mechanism, and how its reliance meets the effects.

The prediction minus the model's baseline is split additively over the molecule's substructure units (ring
systems, functional groups, linkers: ``attributions.attribute``); every unit is one evidence item, with its atoms
and a chemist's name. A unit that is a profiled treatment carries that treatment's causal effect: the effect inside
the molecule's mechanism when the effect differs between mechanisms (and the mechanism has its own estimate),
otherwise the overall one. ``verdict.reliance`` then says whether the model's contribution is consistent with it.
A user SMARTS the molecule matches is one more item, ``additive: false`` (it may overlap the units). Estimators
without trees and featurizers without atoms give no contribution (null): the units are still listed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rdkit import Chem
from sklearn.base import RegressorMixin

from services.causal import uncertainty
from services.causal.attributions import MoleculeAttribution, attribute, smarts_attribution
from services.causal.mechanisms import Assigner
from services.causal.substructures import partition
from services.causal.treatments import compile_smarts
from services.causal.verdict import reliance
from services.predictor.spread import TREE_SPREAD
from shared.schemas import NOT_PROFILED

logger = logging.getLogger(__name__)

PROFILE_VERSION = 2  # profiles of the first engine (pooled assays, outcome-made mechanisms) are not served


class ProfileUnusable(Exception):
    """The stored profile cannot be used (failed build, unknown version): judged as if there were none."""


@dataclass
class ServingProfile:
    by_key: dict[str, dict[str, Any]]  # mined unit key -> its effect (status, value, ci, per-mechanism values)
    users: list[dict[str, Any]]  # user SMARTS treatments, with their compiled pattern
    mechanisms: list[dict[str, Any]]  # id, label, focus
    assigner: Assigner
    well_covered_similarity: float | None = None
    confident_spread: float | None = None
    treatments: list[dict[str, Any]] = field(default_factory=list)

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
    sigma_kind: str | None = None  # the card's interval sigma: "tree_spread" makes each prediction carry the spread


def _effect(treatment: dict[str, Any], effect: dict[str, Any]) -> dict[str, Any]:
    modification = effect.get("per_mechanism") or {}
    per_mechanism = {g["mechanism"]: (g["value"], g["ci"]) for g in modification.get("groups", [])
                     if g.get("value") is not None}
    return {"id": treatment["id"], "kind": treatment["kind"], "key": treatment.get("key") or treatment["smarts"],
            "name": treatment.get("name") or treatment["smarts"], "smarts": treatment["smarts"],
            "status": effect["status"], "value": effect["adjusted_effect"]["value"],
            "ci": effect["adjusted_effect"]["ci"], "heterogeneous": bool(modification.get("heterogeneous")),
            "per_mechanism": per_mechanism}


def compile_profile(profile: dict[str, Any]) -> ServingProfile:
    if profile.get("status", "ready") != "ready":
        raise ProfileUnusable(f"the causal profile is {profile.get('status')}: {profile.get('error', 'no detail')}")
    if profile.get("version") != PROFILE_VERSION:
        raise ProfileUnusable(f"the causal profile was built by an earlier engine (version {profile.get('version')}); "
                              "train a new version to profile it")
    effects = {e["treatment"]: e for e in profile["effects"]}
    treatments = [_effect(t, effects[t["id"]]) for t in profile["treatments"]]
    users = [t | {"pattern": compile_smarts(t["smarts"])} for t in treatments if t["kind"] == "user"]
    items = profile["mechanisms"]["items"]
    mechanisms = [{"id": m["id"], "label": m["label"], "focus": m.get("focus")} for m in items]
    level = (profile.get("coverage") or {}).get("well_covered_similarity")
    spread = (profile.get("uncertainty") or {}).get("confident_spread")
    return ServingProfile({t["key"]: t for t in treatments if t["kind"] != "user"}, users, mechanisms,
                          Assigner(profile["mechanisms"]["assigner"]), None if level is None else float(level),
                          None if spread is None else float(spread), treatments)


def spreads(
    x: np.ndarray | None, ctx: CausalContext, n: int, predicted: list[float | None] | None = None
) -> list[float | None]:
    """Each molecule's tree spread (``uncertainty.tree_spread``) under the served estimator; None each when the
    profile has no ``confident_spread``, the estimator is not a tree ensemble, or there are no features.

    ``predicted``: the ``prediction.sigma`` of each molecule. When the card's sigma is the tree spread the predictor
    has already computed exactly this number on the same estimator, and it is used instead of a second pass.
    """
    none: list[float | None] = [None] * n
    if ctx.profile.confident_spread is None or not uncertainty.has_trees(ctx.estimator):
        return none
    if ctx.sigma_kind == TREE_SPREAD and predicted is not None and len(predicted) == n and None not in predicted:
        return list(predicted)
    if x is None:
        return none
    spread = uncertainty.tree_spread(ctx.estimator, x)
    return none if spread is None else [round(float(s), 4) for s in spread]


def _mechanism(profile: ServingProfile, probabilities: np.ndarray) -> dict[str, Any]:
    best = int(np.argmax(probabilities))
    item = profile.mechanisms[best]
    return {"id": item["id"], "label": item["label"], "probability": round(float(probabilities[best]), 3),
            "focus": item["focus"]}


def _item(unit: dict[str, Any], contribution: float | None, treatment: dict[str, Any] | None, mechanism: str,
          additive: bool = True) -> dict[str, Any]:
    status, value, ci, scope = NOT_PROFILED, None, None, "all"
    if treatment is not None:
        status, value, ci = treatment["status"], treatment["value"], treatment["ci"]
        if treatment["heterogeneous"] and mechanism in treatment["per_mechanism"]:
            (value, ci), scope = treatment["per_mechanism"][mechanism], mechanism
    return {"substructure": unit["smarts"], "name": unit["name"], "kind": unit["kind"], "atoms": unit["atoms"],
            "contribution": None if contribution is None else round(contribution, 4), "additive": additive,
            "adjusted_effect": value, "effect_ci": ci, "effect_scope": scope, "status": status,
            "reliance": reliance(contribution, status, value, ci)}


def _evidence(mol: Chem.Mol, attribution: MoleculeAttribution | None, profile: ServingProfile,
              mechanism: str) -> list[dict[str, Any]]:
    units = attribution.units if attribution is not None else tuple(u.to_dict() for u in partition(mol))
    items = [_item(u, u.get("attribution"), profile.by_key.get(u["key"]), mechanism) for u in units]
    for user in profile.users:
        if mol.HasSubstructMatch(user["pattern"]):
            matched = sorted({a for m in mol.GetSubstructMatches(user["pattern"], maxMatches=100) for a in m})
            contribution = None if attribution is None else smarts_attribution(mol, attribution, user["smarts"])
            unit = {"smarts": user["smarts"], "name": user["name"], "kind": "user", "atoms": matched}
            items.append(_item(unit, contribution, user, mechanism, additive=False))
    return sorted(items, key=lambda e: -abs(e["contribution"] or 0.0))


def parse(smiles: str) -> Chem.Mol | None:
    """The molecule of a canonical SMILES as ``Chem.MolFromSmiles`` reads it (atoms, bonds, rings, aromaticity, H
    counts), without its stereo perception: ~40% of the parse, and nothing here reads stereo (the partition writes
    non-isomeric SMILES, Morgan environments ignore chirality, SMARTS match without it). With H atoms (which
    ``MolFromSmiles`` removes) or a failed sanitization it is ``MolFromSmiles`` itself."""
    mol = Chem.MolFromSmiles(smiles, sanitize=False)
    if mol is None or mol.GetNumAtoms() != mol.GetNumHeavyAtoms():
        return Chem.MolFromSmiles(smiles)
    try:
        Chem.SanitizeMol(mol)
    except Exception:  # noqa: BLE001  (RDKit raises several kinds: let MolFromSmiles give its answer)
        return Chem.MolFromSmiles(smiles)
    return mol


def gather(
    molecules: list[dict[str, Any]], ctx: CausalContext, x: np.ndarray | None
) -> list[tuple[dict | None, list[dict], dict | None]]:
    """(mechanism, evidence, attribution summary) per parsed molecule, in order; ``x`` is their feature matrix
    (None: no attributions)."""
    if not molecules:
        return []
    profile = ctx.profile
    probabilities = profile.assigner.probabilities([m["ad_bits"] for m in molecules])
    mols = [parse(m["canonical_smiles"]) for m in molecules]
    attributed = attribute(ctx.estimator, ctx.featurizer, mols, x) if x is not None and ctx.estimator else None
    gathered: list[tuple[dict | None, list[dict], dict | None]] = []
    for i, mol in enumerate(mols):
        mechanism = _mechanism(profile, probabilities[i])
        attribution = attributed[i] if attributed is not None else None
        evidence = [] if mol is None else _evidence(mol, attribution, profile, mechanism["id"])
        summary = None if attribution is None else {
            "baseline": round(attribution.baseline, 4), "remainder": round(attribution.remainder, 4),
            "sum_of_substructures": round(sum(u["attribution"] for u in attribution.units), 4)}
        gathered.append((mechanism, evidence, summary))
    return gathered
