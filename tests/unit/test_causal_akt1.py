"""The engine on the real AKT1 records (bundled ChEMBL binding data, measured pActivity, no assay recorded): the
hinge binder of capivasertib is a named substructure with its atoms, and with no context nothing is confounded."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from rdkit import Chem

from services.causal.evidence import CausalContext, compile_profile
from services.causal.logic import annotate_molecules
from services.causal.profile import build_profile
from services.causal.substructures import has_unit, partition
from services.featurizer.logic import featurize_chunk
from services.predictor.estimators import make_estimator
from services.predictor.reference import AKT1_FILE
from services.predictor.training import dense_matrix
from shared.applicability import NearestNeighbourIndex, pack_fingerprints

CAPIVASERTIB = "NC(=O)C1(CCN(CC1)c1ncnc2[nH]ccc12)Cc1ccc(Cl)cc1"
HINGE_BINDER = "pyrrolo[2,3-d]pyrimidine"
MODEL = {"featurizer": {"name": "morgan_counts", "params": {"radius": 2, "n_bits": 2048}},
         "estimator": {"name": "random_forest", "params": {"n_estimators": 30}}, "seed": 0}


@pytest.fixture(scope="module")
def akt1():
    """Every AKT1 record with capivasertib's hinge binder, and 600 others (a seeded sample)."""
    with AKT1_FILE.open(newline="") as handle:
        records = list(csv.DictReader(handle))
    mols = [Chem.MolFromSmiles(r["canonical_smiles"]) for r in records]
    hinge = next(u.key for u in partition(Chem.MolFromSmiles(CAPIVASERTIB)) if u.name == HINGE_BINDER)
    with_hinge = has_unit(mols, hinge)
    others = np.random.default_rng(0).permutation(np.flatnonzero(~with_hinge))[:600]
    chosen = sorted(np.flatnonzero(with_hinge).tolist() + others.tolist())
    rows = [{"id": records[i]["molecule_chembl_id"], "canonical_smiles": Chem.MolToSmiles(mols[i]),
             "pactivity": records[i]["pchembl_value"]} for i in chosen]
    return rows, hinge, int(with_hinge.sum())


def test_the_hinge_binder_is_profiled_and_untestable_never_confounded(akt1):
    rows, hinge, n_hinge = akt1
    assert n_hinge >= 100
    profile = build_profile(rows, [], None, MODEL, 0)
    by_key = {t["key"]: t for t in profile["treatments"]}
    assert by_key[hinge]["name"] == HINGE_BINDER
    assert {e["status"] for e in profile["effects"]} == {"untestable"}  # no context: confounding cannot be checked

    featurized = featurize_chunk({"model": {"featurizer": MODEL["featurizer"]},
                                  "molecules": [{"id": r["id"], "smiles": r["canonical_smiles"]} for r in rows]
                                  + [{"id": "capivasertib", "smiles": CAPIVASERTIB}]})["molecules"]
    x = dense_matrix([m["features"] for m in featurized], 2048)
    y = np.array([float(r["pactivity"]) for r in rows])
    model, _ = make_estimator(MODEL["estimator"], 0)
    model.fit(x[:-1], y)
    index = NearestNeighbourIndex(pack_fingerprints([m["ad_bits"] for m in featurized[:-1]]))
    query = featurized[-1:]
    annotate_molecules(query, index, 0.3, CausalContext(compile_profile(profile), model, MODEL["featurizer"], 2048))
    validity = query[0]["causal_validity"]
    hinge_item = next(e for e in validity["evidence"] if e["name"] == HINGE_BINDER)
    assert hinge_item["status"] == "untestable" and hinge_item["reliance"] == "untestable"
    assert len(hinge_item["atoms"]) == 9 and hinge_item["contribution"] is not None
    assert all(e["status"] != "confounded" for e in validity["evidence"])
    assert validity["verdict"] != "supported"  # nothing it relies on could be tested
