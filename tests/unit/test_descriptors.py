"""services/featurizer/descriptors.py: the rdkit2d featurizer, its golden values, and morgan_counts+rdkit2d."""

from __future__ import annotations

import math

import pytest
from rdkit import Chem
from rdkit.Chem import Descriptors

from services.featurizer.base import FEATURIZERS, make_featurizer
from services.featurizer.descriptors import DESCRIPTOR_NAMES, MorganCountsRDKit2D, RDKit2D, descriptor_values
from services.featurizer.logic import featurize_molecule
from shared import catalog
from shared.errors import InvalidRequest

COLUMN = {name: i for i, name in enumerate(DESCRIPTOR_NAMES)}
GASTEIGER = ("MaxPartialCharge", "MinPartialCharge", "MaxAbsPartialCharge", "MinAbsPartialCharge", "BCUT2D_MWHI")


def values_of(smiles):
    return descriptor_values(Chem.MolFromSmiles(smiles))


@pytest.mark.parametrize(("smiles", "golden"), [
    ("CCO", {"MolWt": 46.069, "TPSA": 20.23, "NumHDonors": 1, "NumHAcceptors": 1, "HeavyAtomCount": 3,
             "RingCount": 0}),
    ("CC(=O)Oc1ccccc1C(=O)O", {"MolWt": 180.159, "TPSA": 63.6, "NumHDonors": 1, "NumHAcceptors": 3,
                               "NumAromaticRings": 1, "fr_ester": 1}),  # aspirin
    ("c1ccccc1", {"MolWt": 78.114, "TPSA": 0.0, "RingCount": 1, "fr_benzene": 1, "FractionCSP3": 0.0}),
])
def test_golden_values(smiles, golden):
    values = values_of(smiles)
    for name, expected in golden.items():
        assert values[COLUMN[name]] == pytest.approx(expected, abs=1e-3), name


def test_the_list_is_fixed_unique_and_known_to_rdkit():
    assert len(DESCRIPTOR_NAMES) == len(set(DESCRIPTOR_NAMES)) == 216
    assert DESCRIPTOR_NAMES[:3] == ("MaxAbsEStateIndex", "MaxEStateIndex", "MinAbsEStateIndex")
    assert DESCRIPTOR_NAMES[-1] == "fr_urea"
    assert "Ipc" not in DESCRIPTOR_NAMES  # unbounded: overflows float32
    assert set(DESCRIPTOR_NAMES) <= {name for name, _ in Descriptors._descList}


def test_values_agree_with_rdkit_in_list_order():
    mol = Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O")
    reference = Descriptors.CalcMolDescriptors(mol)
    assert descriptor_values(mol) == pytest.approx([reference[name] for name in DESCRIPTOR_NAMES])


def test_uncomputable_descriptors_become_zero():
    # Gasteiger has no parameters for selenium: RDKit returns NaN for the charge descriptors
    raw = Descriptors.CalcMolDescriptors(Chem.MolFromSmiles("C[Se]C"))
    assert all(math.isnan(raw[name]) for name in GASTEIGER)
    values = values_of("C[Se]C")
    assert all(math.isfinite(v) for v in values)
    assert [values[COLUMN[name]] for name in GASTEIGER] == [0.0] * len(GASTEIGER)
    assert values[COLUMN["MolWt"]] == pytest.approx(109.03, abs=1e-2)  # the others are still computed


def test_rdkit2d_featurizer_is_sparse_and_deterministic():
    featurizer = make_featurizer({"name": "rdkit2d"})
    assert isinstance(featurizer, RDKit2D) and featurizer.n_features == 216
    assert featurizer.spec() == {"name": "rdkit2d", "params": {}}
    mol = Chem.MolFromSmiles("CCO")
    vector = featurizer.featurize(mol)
    assert vector == featurizer.featurize(mol)
    assert vector["indices"] == sorted(vector["indices"]) and 0 not in vector["values"]
    dense = [0.0] * 216
    for i, v in zip(vector["indices"], vector["values"], strict=True):
        dense[i] = v
    assert dense == values_of("CCO")


def test_rdkit2d_takes_no_parameters():
    with pytest.raises(InvalidRequest):
        make_featurizer({"name": "rdkit2d", "params": {"radius": 2}})


def test_both_is_morgan_counts_then_descriptors():
    both = make_featurizer({"name": "morgan_counts+rdkit2d", "params": {"n_bits": 1024}})
    assert isinstance(both, MorganCountsRDKit2D)
    assert both.n_features == 1024 + 216
    assert both.spec() == {"name": "morgan_counts+rdkit2d", "params": {"radius": 2, "n_bits": 1024}}
    mol = Chem.MolFromSmiles("c1ccccc1O")
    morgan = make_featurizer({"name": "morgan_counts", "params": {"n_bits": 1024}}).featurize(mol)
    descriptors = make_featurizer({"name": "rdkit2d"}).featurize(mol)
    vector = both.featurize(mol)
    assert vector["indices"] == morgan["indices"] + [1024 + i for i in descriptors["indices"]]
    assert vector["values"] == morgan["values"] + descriptors["values"]
    assert max(vector["indices"]) < both.n_features


def test_registry_and_catalog_name_the_new_featurizers():
    assert FEATURIZERS["rdkit2d"] is RDKit2D
    assert FEATURIZERS["morgan_counts+rdkit2d"] is MorganCountsRDKit2D
    assert catalog.FEATURIZERS["rdkit2d"] == {}
    assert catalog.FEATURIZERS["morgan_counts+rdkit2d"] == {"radius": 2, "n_bits": 2048}


def test_featurize_molecule_with_descriptors_uses_the_standardized_parent():
    featurizer = make_featurizer({"name": "rdkit2d"})
    salt = featurize_molecule({"id": "a", "smiles": "CC(=O)[O-].[Na+]"}, featurizer)
    acid = featurize_molecule({"id": "b", "smiles": "CC(=O)O"}, featurizer)
    assert salt["features"] == acid["features"]
    assert salt["features"]["values"][salt["features"]["indices"].index(COLUMN["MolWt"])] == pytest.approx(60.052)
