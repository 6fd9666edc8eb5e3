"""services/featurizer/morgan.py: golden Morgan fingerprints.

The expected indices and values were computed once with RDKit 2026.9.1 (the pinned version). A change here
means RDKit or the fingerprint parameters changed, which silently changes every model's input: retrain and
re-pin deliberately, never just update the numbers.
"""

from __future__ import annotations

import pytest
from rdkit import Chem

from services.featurizer.base import make_featurizer
from services.featurizer.morgan import AD_BITS, AD_RADIUS, MorganBits, MorganCounts, ad_bits

GOLDEN_COUNTS = {  # radius 2, 2048 bits
    "CCO": ([80, 222, 294, 807, 1057, 1410], [1, 1, 1, 1, 1, 1]),
    "c1ccccc1": ([389, 1088, 1873], [6, 6, 6]),
    "CC(=O)O": ([389, 508, 650, 807, 1017, 1057, 1917], [1, 1, 1, 2, 1, 1, 1]),
}


@pytest.mark.parametrize("smiles", sorted(GOLDEN_COUNTS))
def test_golden_morgan_counts(smiles):
    indices, values = GOLDEN_COUNTS[smiles]
    assert MorganCounts().featurize(Chem.MolFromSmiles(smiles)) == {"indices": indices, "values": values}


@pytest.mark.parametrize("smiles", sorted(GOLDEN_COUNTS))
def test_golden_morgan_bits(smiles):
    indices, _ = GOLDEN_COUNTS[smiles]
    assert MorganBits().featurize(Chem.MolFromSmiles(smiles)) == {"indices": indices, "values": [1] * len(indices)}


def test_golden_small_fingerprint():
    featurizer = make_featurizer({"name": "morgan_counts", "params": {"radius": 1, "n_bits": 64}})
    assert featurizer.featurize(Chem.MolFromSmiles("CCO")) == {"indices": [2, 16, 30, 33, 38, 39],
                                                               "values": [1, 1, 1, 1, 1, 1]}


@pytest.mark.parametrize("smiles", sorted(GOLDEN_COUNTS))
def test_golden_ad_bits(smiles):
    assert ad_bits(Chem.MolFromSmiles(smiles)) == GOLDEN_COUNTS[smiles][0]


def test_ad_fingerprint_is_fixed_ecfp4_2048():
    assert (AD_RADIUS, AD_BITS) == (2, 2048)


def test_ad_bits_do_not_depend_on_the_model_featurizer():
    mol = Chem.MolFromSmiles("CC(=O)O")
    small = make_featurizer({"name": "morgan_bits", "params": {"radius": 1, "n_bits": 64}})
    assert small.featurize(mol)["indices"] != ad_bits(mol)
    assert ad_bits(mol) == GOLDEN_COUNTS["CC(=O)O"][0]


def test_indices_sorted_and_within_width():
    mol = Chem.MolFromSmiles("Cn1ccc2ccc3c4[nH]c5c(CCCN[C@H]6CC[C@H](O)CC6)cccc5c4c4c(c3c21)C(=O)NC4=O")
    for featurizer in (MorganCounts(), MorganBits(n_bits=256)):
        vector = featurizer.featurize(mol)
        assert vector["indices"] == sorted(set(vector["indices"]))
        assert all(0 <= i < featurizer.n_features for i in vector["indices"])
        assert len(vector["values"]) == len(vector["indices"])
        assert all(v >= 1 for v in vector["values"])


def test_counts_and_bits_share_on_positions():
    mol = Chem.MolFromSmiles("c1ccccc1CCN")
    assert MorganCounts().featurize(mol)["indices"] == MorganBits().featurize(mol)["indices"]
