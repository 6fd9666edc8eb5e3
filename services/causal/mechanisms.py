"""Mechanisms: the given labels, or chemical series discovered from structure alone; and how to assign new molecules.

Mechanisms are effect modifiers (a substructure may matter in one binding mode and not in another), never backdoor
adjusters, and they are made from structure only: a grouping computed from the outcome would be a descendant of
both the treatment and the outcome, and anything stratified on it would be biased toward zero.

Discovery (no labels): the applicability-domain fingerprints (Morgan radius 2, 2048 bits) are reduced to 16
components (``TruncatedSVD``), rows L2-normalised; the activity plays no part. k-means (10 starts) runs
for k = 2..6; k is scored by the silhouette on Tanimoto (Jaccard) distances of the bits, over a seeded sample of
at most 1,500 molecules. k whose smallest cluster holds fewer than 3% of the molecules (or 10) are skipped, and
the smallest k scoring within 0.05 of the best silhouette is chosen (sub-series of one series stay one mechanism).
Everything is seeded. Mechanisms are numbered by size (M1 the largest).

Labels: each given label with at least 10 rows is a mechanism; rarer labels are pooled into ``other``, empty
ones are ``unlabelled``.

Assignment of a new molecule uses structure only: a multinomial logistic regression on the same 2048 bits,
trained on the training molecules' mechanisms, stored sparsely in the profile; its probability is reported.
Chemotypes: per mechanism, its three most common Murcko scaffolds and the treatments most enriched in it
(present in at least 20% of its members, ranked by lift = share inside / share overall).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import numpy as np
from rdkit.Chem.Scaffolds import MurckoScaffold
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import normalize
from threadpoolctl import threadpool_limits

from services.causal.treatments import Treatment
from shared.applicability import N_BITS

logger = logging.getLogger(__name__)

K_RANGE = range(2, 7)
SVD_COMPONENTS = 16
SILHOUETTE_SAMPLE, PARSIMONY = 1500, 0.05
MIN_CLUSTER_SHARE, MIN_CLUSTER_ROWS = 0.03, 10
UNLABELLED, OTHER = "unlabelled", "other"
METHOD = {
    "discovered": "k-means on 16 SVD components of Morgan bits (structure only, never the activity), k in 2..6 by "
                  "Tanimoto silhouette (smallest k within 0.05 of the best)",
    "labels": "the dataset's mechanism labels (labels under 10 rows pooled into 'other')",
    "assignment": "multinomial logistic regression on Morgan bits (radius 2, 2048), structure only",
}


def tanimoto_distances(bits: np.ndarray) -> np.ndarray:
    x = bits.astype(np.float32)
    shared = x @ x.T
    counts = x.sum(axis=1)
    union = counts[:, None] + counts[None, :] - shared
    return 1.0 - np.divide(shared, union, out=np.ones_like(shared), where=union > 0)


def discover(bits: np.ndarray, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Cluster ids (0 = largest) and the selection record (silhouette per k, chosen k), from the bits alone."""
    n = len(bits)
    components = min(SVD_COMPONENTS, bits.shape[1] - 1, max(n - 1, 1))
    features = normalize(TruncatedSVD(n_components=components, random_state=seed).fit_transform(bits.astype(float)))
    sample = np.random.default_rng(seed).permutation(n)[:SILHOUETTE_SAMPLE]
    distances = tanimoto_distances(bits[sample])
    min_size = max(MIN_CLUSTER_ROWS, int(MIN_CLUSTER_SHARE * n))
    scores: dict[int, float] = {}
    candidates: dict[int, np.ndarray] = {}
    for k in K_RANGE:
        if k * min_size > n:
            break
        with threadpool_limits(limits=1):  # small problems: OpenMP threads cost more than they save
            labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(features)
        if np.bincount(labels).min() < min_size:
            continue
        two = len(set(labels[sample])) > 1
        score = silhouette_score(distances, labels[sample], metric="precomputed") if two else -1.0
        scores[k], candidates[k] = round(float(score), 4), labels
    if not scores:
        return np.zeros(n, dtype=int), {"silhouette": {}, "k": 1}
    best = max(scores.values())
    # Parsimony: the smallest k scoring within PARSIMONY of the best (sub-series of one series stay together).
    k = min(k for k, s in scores.items() if s >= best - PARSIMONY)
    by_size = np.argsort(-np.bincount(candidates[k]), kind="stable")
    return np.argsort(by_size)[candidates[k]], {"silhouette": {str(k): s for k, s in scores.items()}, "k": k}


def from_labels(labels: list[str]) -> tuple[np.ndarray, list[str]]:
    cleaned = [str(v).strip() or UNLABELLED for v in labels]
    counts = Counter(cleaned)
    cleaned = [v if counts[v] >= MIN_CLUSTER_ROWS else OTHER for v in cleaned]
    order = sorted(set(cleaned), key=lambda v: (-cleaned.count(v), v))
    return np.array([order.index(v) for v in cleaned]), order


def fit_assigner(bits: np.ndarray, ids: np.ndarray, k: int, seed: int) -> dict[str, Any]:
    """Sparse multinomial logits: {"intercepts": [k], "weights": [{bit: w}]} (binary case written as two rows)."""
    if k < 2:
        return {"intercepts": [0.0], "weights": [{}]}
    model = LogisticRegression(C=0.5, max_iter=2000, random_state=seed).fit(bits.astype(float), ids)
    coef, intercept = model.coef_, model.intercept_
    if k == 2:  # scikit-learn keeps one row for two classes: the logit of class 1 against class 0
        coef, intercept = np.vstack([np.zeros_like(coef[0]), coef[0]]), np.array([0.0, intercept[0]])
    weights = [{str(b): round(float(w), 4) for b, w in enumerate(row) if abs(w) >= 1e-3} for row in coef]
    return {"intercepts": [round(float(c), 4) for c in intercept], "weights": weights}


class Assigner:
    """The stored logits as a dense matrix, compiled once per profile: a molecule costs one gather and a softmax."""

    def __init__(self, stored: dict[str, Any], n_bits: int = N_BITS) -> None:
        self.intercepts = np.asarray(stored["intercepts"], dtype=float)
        self.weights = np.zeros((len(self.intercepts), n_bits))
        for k, row in enumerate(stored["weights"]):
            for bit, w in row.items():
                self.weights[k, int(bit)] = w

    def probabilities(self, on_bits: list[list[int]]) -> np.ndarray:
        """Mechanism probabilities, molecules x mechanisms."""
        logits = np.array([self.weights[:, bits].sum(axis=1) for bits in on_bits]).reshape(len(on_bits), -1)
        logits = logits + self.intercepts
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)


def chemotypes(members: np.ndarray, smiles: list[str], treatments: list[Treatment], presence: np.ndarray) -> dict:
    scaffolds = Counter(MurckoScaffold.MurckoScaffoldSmiles(smiles=smiles[i]) or "(acyclic)" for i in members)
    overall = presence.mean(axis=0) if len(presence) else np.zeros(len(treatments))
    inside = presence[members].mean(axis=0) if len(members) else np.zeros(len(treatments))
    enriched: list[dict[str, Any]] = [
        {"treatment": t.id, "smarts": t.smarts, "share": round(float(inside[j]), 3),
         "lift": round(float(inside[j] / overall[j]), 2)}
        for j, t in enumerate(treatments) if inside[j] >= 0.2 and overall[j] > 0
    ]
    enriched.sort(key=lambda e: (-e["lift"], e["treatment"]))
    return {
        "scaffolds": [{"smiles": s, "n": c} for s, c in sorted(scaffolds.items(), key=lambda kv: (-kv[1], kv[0]))[:3]],
        "enriched_treatments": enriched[:5],
    }


def mechanism_section(
    bits: np.ndarray, y: np.ndarray, labels: list[str] | None, seed: int,
    smiles: list[str], treatments: list[Treatment], presence: np.ndarray,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Mechanism index per training row, and the profile's ``mechanisms`` section (``y`` is reported per mechanism,
    never used to form one)."""
    if labels is not None:
        ids, names, selection = *from_labels(labels), None
    else:
        ids, selection = discover(bits, seed)
        names = None
    items = []
    for m in range(int(ids.max()) + 1):
        members = np.flatnonzero(ids == m)
        chem = chemotypes(members, smiles, treatments, presence)
        top = chem["enriched_treatments"][0]["smarts"] if chem["enriched_treatments"] else None
        label = names[m] if names else (f"M{m + 1} (rich in {top})" if top else f"M{m + 1}")
        items.append({
            "id": f"M{m + 1}", "label": label, "size": int(len(members)),
            "mean_pactivity": round(float(y[members].mean()), 3), "chemotypes": chem,
        })
    section = {
        "source": "labels" if labels is not None else "discovered",
        "method": METHOD["labels"] if labels is not None else METHOD["discovered"],
        "selection": selection,
        "assignment_method": METHOD["assignment"],
        "items": items,
        "assigner": fit_assigner(bits, ids, len(items), seed),
    }
    logger.info("mechanisms (%s): %s", section["source"], [(i["id"], i["size"]) for i in items])
    return ids, section
