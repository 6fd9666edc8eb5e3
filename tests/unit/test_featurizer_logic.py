"""services/featurizer/logic.py: standardization golden values, per-molecule errors, chunk featurization."""

from __future__ import annotations

import copy

import pytest
from rdkit import Chem

from services.featurizer.base import make_featurizer
from services.featurizer.logic import featurize_chunk, featurize_molecule, standardize_smiles
from shared.errors import INVALID_SMILES, InvalidRequest

COUNTS = {"name": "morgan_counts", "params": {"radius": 2, "n_bits": 2048}}
CCO_FEATURES = {"indices": [80, 222, 294, 807, 1057, 1410], "values": [1, 1, 1, 1, 1, 1]}


@pytest.mark.parametrize(("smiles", "canonical"), [
    ("CCO", "CCO"),
    ("OCC", "CCO"),
    ("CCO.Cl", "CCO"),  # salt stripped
    ("Cl.CCO", "CCO"),
    ("CC(=O)[O-].[Na+]", "CC(=O)O"),  # sodium acetate -> neutral acetic acid
    ("C[NH3+].[Cl-]", "CN"),  # methylammonium chloride -> methylamine
    ("OC1=CC=CC=C1", "Oc1ccccc1"),  # Kekulé input, aromatic canonical output
    ("c1ccccc1O.O.O", "Oc1ccccc1"),  # hydrate water dropped
])
def test_golden_standardized_smiles(smiles, canonical):
    assert Chem.MolToSmiles(standardize_smiles(smiles)) == canonical


@pytest.mark.parametrize("smiles", ["C1CC", "not a smiles", "c1cccc1", "C(C", "", "[Xx]"])
def test_unparsable_smiles_give_none(smiles):
    assert standardize_smiles(smiles) is None


def test_featurize_valid_molecule():
    result = featurize_molecule({"id": "m1", "smiles": "CCO.Cl"}, make_featurizer(COUNTS))
    assert result == {
        "id": "m1",
        "input_smiles": "CCO.Cl",  # the caller's input is echoed untouched
        "canonical_smiles": "CCO",
        "features": CCO_FEATURES,
        "ad_bits": CCO_FEATURES["indices"],
        "error": None,
    }


def test_features_are_computed_on_the_standardized_parent():
    featurizer = make_featurizer(COUNTS)
    salt = featurize_molecule({"id": "a", "smiles": "CC(=O)[O-].[Na+]"}, featurizer)
    acid = featurize_molecule({"id": "b", "smiles": "CC(=O)O"}, featurizer)
    assert salt["features"] == acid["features"]
    assert salt["ad_bits"] == acid["ad_bits"]


@pytest.mark.parametrize("smiles", ["C1CC", "", "CC(C)(C)(C)(C)C", "\ud800", "CC\udfffO"])
def test_invalid_smiles_give_an_error_and_no_features(smiles):
    result = featurize_molecule({"id": "bad", "smiles": smiles}, make_featurizer(COUNTS))
    assert result["error"]["code"] == INVALID_SMILES == "invalid_smiles"
    assert result["error"]["message"]
    assert result["canonical_smiles"] is None
    assert "features" not in result and "ad_bits" not in result
    assert (result["id"], result["input_smiles"]) == ("bad", smiles)


def test_featurize_chunk_keeps_the_message_and_the_order():
    message = {
        "job_id": "j1",
        "chunk": 3,
        "model": {"name": "akt1", "version": 2, "featurizer": COUNTS},
        "molecules": [{"id": "x", "smiles": "C1CC"}, {"id": "y", "smiles": "CCO"}, {"id": "z", "smiles": "c1ccccc1"}],
    }
    original = copy.deepcopy(message)
    out = featurize_chunk(message)
    assert {k: out[k] for k in ("job_id", "chunk", "model")} == {k: original[k] for k in ("job_id", "chunk", "model")}
    assert [m["id"] for m in out["molecules"]] == ["x", "y", "z"]
    assert [m["error"] is None for m in out["molecules"]] == [False, True, True]
    assert out["molecules"][1]["features"] == CCO_FEATURES
    assert message == original  # the input message is not mutated


def test_a_lone_surrogate_fails_only_its_own_molecule():
    # JSON can carry "\ud800"; RDKit raises on it instead of answering None, which used to fail the whole chunk
    message = {"job_id": "j", "chunk": 0, "model": {"name": "m", "version": 1, "featurizer": COUNTS},
               "molecules": [{"id": "a", "smiles": "CCO"}, {"id": "b", "smiles": "C\ud800"},
                             {"id": "c", "molblock": "\ud800\n  RDKit\n\nM  END\n"}]}
    out = featurize_chunk(message)["molecules"]
    assert [m["error"] and m["error"]["code"] for m in out] == [None, "invalid_smiles", "invalid_structure"]
    assert out[0]["features"] == CCO_FEATURES


def test_featurize_chunk_uses_the_model_featurizer():
    message = {"job_id": "j", "chunk": 0, "molecules": [{"id": "0", "smiles": "CCO"}],
               "model": {"name": "m", "version": 1, "featurizer": {"name": "morgan_bits", "params": {"radius": 1,
                                                                                                   "n_bits": 64}}}}
    assert featurize_chunk(message)["molecules"][0]["features"] == {"indices": [2, 16, 30, 33, 38, 39],
                                                                    "values": [1] * 6}


def test_featurize_chunk_with_unknown_featurizer():
    message = {"job_id": "j", "chunk": 0, "molecules": [], "model": {"featurizer": {"name": "nope"}}}
    with pytest.raises(InvalidRequest):
        featurize_chunk(message)
