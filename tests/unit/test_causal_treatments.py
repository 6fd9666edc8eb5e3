"""services/causal/treatments.py: interpretable substructures mined from real AKT1 structures."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem

from services.causal.treatments import KIND_ORDER, TreatmentRules, compile_smarts, mine_treatments, presence
from shared.errors import InvalidRequest
from tests.unit.test_causal_synthetic import ALLOSTERIC_SMARTS, sample_smiles

RULES = TreatmentRules()


@pytest.fixture(scope="module")
def mined():
    mols = [Chem.MolFromSmiles(s) for s in sample_smiles(400)]
    treatments, matrix = mine_treatments(mols, [ALLOSTERIC_SMARTS])
    return mols, treatments, matrix


def test_user_smarts_come_first_and_are_kept(mined):
    _, treatments, _ = mined
    assert treatments[0].smarts == ALLOSTERIC_SMARTS and treatments[0].kind == "user"
    assert [t.id for t in treatments] == [f"T{i + 1:02d}" for i in range(len(treatments))]


def test_mined_treatments_respect_support_and_cap(mined):
    mols, treatments, matrix = mined
    n = len(mols)
    mined_only = [t for t in treatments if t.kind != "user"]
    assert 10 <= len(mined_only) <= RULES.max_treatments
    for t in mined_only:
        assert max(RULES.min_rows, RULES.min_support * n) <= t.support <= RULES.max_support * n
    assert sum(t.kind == "ring_system" for t in treatments) <= RULES.ring_quota
    assert {t.kind for t in treatments} <= set(KIND_ORDER)
    assert {"ring_system", "environment"} <= {t.kind for t in treatments}


def test_presence_matrix_is_exactly_smarts_matching(mined):
    mols, treatments, matrix = mined
    assert matrix.shape == (len(mols), len(treatments)) and matrix.dtype == bool
    for j, t in enumerate(treatments):
        assert np.array_equal(matrix[:, j], presence(mols, t.smarts))
        assert matrix[:, j].sum() == t.support


def test_no_two_treatments_are_near_duplicates(mined):
    _, _, matrix = mined
    for i in range(matrix.shape[1]):
        for j in range(i + 1, matrix.shape[1]):
            union = (matrix[:, i] | matrix[:, j]).sum()
            assert (matrix[:, i] & matrix[:, j]).sum() / union < RULES.max_overlap


def test_mining_is_deterministic(mined):
    mols, treatments, _ = mined
    again, _ = mine_treatments(mols, [ALLOSTERIC_SMARTS])
    assert again == treatments


@pytest.mark.parametrize("smarts", ["", "C1CC((", "c1ccc", "[C"])
def test_invalid_smarts_is_a_400(smarts):
    with pytest.raises(InvalidRequest) as raised:
        compile_smarts(smarts)
    assert raised.value.details == {"smarts": smarts}


def test_invalid_user_smarts_is_refused(mined):
    mols, _, _ = mined
    with pytest.raises(InvalidRequest):
        mine_treatments(mols[:50], ["C1CC(("])
