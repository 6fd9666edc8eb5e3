"""Semi-synthetic data of known truth for the causal engine: REAL structures and REAL assay ids, GENERATED outcomes.

Structures and ChEMBL assay ids are the bundled public records (``services/predictor/reference``; ChEMBL,
CC BY-SA 3.0): the PIK3CA IC50 records (36 assays) cut to at most ``per_assay`` compounds each, plus the Papyrus
AKT records with their first assay id (28 assays, most with a handful of compounds): 64 assays, nearly all under 20
compounds, the normal case in ChEMBL. Each row keeps the real id prefixed ``SYNTHETIC-``: the pActivity values are
made here and are not measurements.

Outcome: ``pActivity = 6 + sum_k effect_k(mechanism) * has_k + shift[assay] + noise``, with
``shift[assay] = sum_k assay_link_k * (share of assay's compounds with k - overall share) + N(0, 0.3)`` and noise
N(0, 0.3). ``assay_link`` is how strongly an assay's potency level follows the share of a substructure among the
compounds it chose to measure: the confounding. A substructure with effect 0 and a strong link looks potent
pooled (an assay-confounded null); a negative effect with a strong positive link looks positive pooled (a Simpson
reversal). The mechanism label (``series_a`` / ``series_b``) is read off the structure by a stated SMARTS, so the
per-mechanism truth is known too.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rdkit import Chem

REFERENCE = Path(__file__).resolve().parents[1] / "services/predictor/reference"
MECHANISM_SMARTS = "c1ccncc1"  # series_a: molecules with a pyridine ring; series_b: the rest


@dataclass(frozen=True)
class TrueEffect:
    smarts: str
    effect: float  # the true effect on pActivity of having the substructure (both mechanisms unless given below)
    assay_link: float = 0.0
    effect_in: dict[str, float] = field(default_factory=dict)  # mechanism -> effect, overriding ``effect`` there


# The three cases the issue names: a true effect, an assay-confounded null, a Simpson reversal. Chosen, before any
# estimate was run, as the common substructures that co-occur least inside assays (a substructure's estimate also
# carries the effects of substructures that come with it in a series, which is not what these cases test).
KNOWN_TRUTH = (
    TrueEffect("[CH3]O", 1.0),  # methoxy: +1, unrelated to which assay measured it
    TrueEffect("C(=O)N", 0.0, assay_link=5.0),  # amide: no effect, but the potent assays made amides
    TrueEffect("C1COCCN1", -0.5, assay_link=6.0),  # morpholine: -0.5, yet the potent assays made morpholines
)
MODIFIED = (TrueEffect("[OH]", 0.0, effect_in={"series_a": 1.0, "series_b": 0.0}),)  # +1 in one mechanism only
TOLERANCE = 0.15  # every adjusted effect within this of the truth, its 95% interval covering it
EXPECTED_STATUS = {"[CH3]O": "causal", "C(=O)N": "confounded", "C1COCCN1": "confounded"}


def assert_profile_recovers_the_truth(profile: dict) -> None:
    """The profile's effects of the ``KNOWN_TRUTH`` SMARTS: within tolerance, covered, with the expected status,
    adjusted for the assay only."""
    by_smarts = {e["smarts"]: e for e in profile["effects"]}
    for truth in KNOWN_TRUTH:
        effect = by_smarts[truth.smarts]
        assert abs(effect["adjusted_effect"]["value"] - truth.effect) <= TOLERANCE, truth
        assert effect["adjusted_effect"]["ci"][0] <= truth.effect <= effect["adjusted_effect"]["ci"][1], truth
        assert effect["status"] == EXPECTED_STATUS[truth.smarts], truth
        assert effect["adjusted_for"] == ["assay_chembl_id"]
    assert profile["confounders"]["columns"] == ["assay_chembl_id"]  # the mechanism labels modify, never adjust


def real_structures(per_assay: int = 15, seed: int = 0) -> list[dict[str, str]]:
    """id, smiles, assay_chembl_id of the real records, PIK3CA assays cut to ``per_assay`` compounds."""
    rng = np.random.default_rng(seed)
    with (REFERENCE / "pik3ca_CHEMBL4005-1_IC50_chembl32.csv").open(newline="") as handle:
        pik3ca = list(csv.DictReader(handle))
    by_assay: dict[str, list[dict[str, str]]] = {}
    for row in pik3ca:
        by_assay.setdefault(row["assay_chembl_id"], []).append(row)
    rows = []
    for assay in sorted(by_assay):
        chosen = rng.permutation(len(by_assay[assay]))[:per_assay]
        rows += [{"id": f"SYNTHETIC-{by_assay[assay][i]['compound_chembl_id']}-{assay}",
                  "smiles": by_assay[assay][i]["canonical_smiles"], "assay_chembl_id": assay} for i in sorted(chosen)]
    with (REFERENCE / "akt_papyrus_allosteric_flagged_records.csv").open(newline="") as handle:
        rows += [{"id": f"SYNTHETIC-{r['Activity_ID']}", "smiles": r["SMILES"],
                  "assay_chembl_id": r["AID"].split(";")[0]} for r in csv.DictReader(handle)]
    return rows


def generate(
    structures: list[dict[str, str]], effects: tuple[TrueEffect, ...], seed: int = 0, with_context: bool = True,
) -> list[dict[str, str]]:
    """Rows as ``shared.datasets.read_rows`` gives them (id, canonical_smiles, pactivity, context, mechanism)."""
    rng = np.random.default_rng(seed)
    mols = [Chem.MolFromSmiles(s["smiles"]) for s in structures]
    assays = np.array([s["assay_chembl_id"] for s in structures])
    series = Chem.MolFromSmarts(MECHANISM_SMARTS)
    mechanism = np.array(["series_a" if m.HasSubstructMatch(series) else "series_b" for m in mols])
    names, inverse = np.unique(assays, return_inverse=True)
    shift = rng.normal(0, 0.3, len(names))
    y = np.full(len(mols), 6.0)
    for truth in effects:
        pattern = Chem.MolFromSmarts(truth.smarts)
        has = np.array([m.HasSubstructMatch(pattern) for m in mols], dtype=float)
        share = np.bincount(inverse, weights=has) / np.bincount(inverse)
        shift += truth.assay_link * (share - has.mean())
        per_row = np.array([truth.effect_in.get(m, truth.effect) for m in mechanism])
        y += per_row * has
    y += shift[inverse] + rng.normal(0, 0.3, len(mols))
    rows = []
    for s, value, label in zip(structures, y, mechanism, strict=True):
        row = {"id": s["id"], "canonical_smiles": Chem.MolToSmiles(Chem.MolFromSmiles(s["smiles"])),
               "pactivity": f"{value:.4f}", "mechanism": str(label)}
        if with_context:
            row["assay_chembl_id"] = s["assay_chembl_id"]
        rows.append(row)
    return rows


def assay_sizes(rows: list[dict[str, str]]) -> Counter:
    return Counter(r["assay_chembl_id"] for r in rows)


def as_csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()
