"""services/causal/treatments.py: treatments are units (ring systems, functional groups) of real AKT1 structures."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem

from services.causal.substructures import has_unit, unit_presence
from services.causal.treatments import (
    KIND_ORDER,
    Treatment,
    TreatmentRules,
    compile_smarts,
    mine_treatments,
    presence,
    treatment_presence,
)
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
    first = treatments[0]
    assert (first.smarts, first.kind, first.key, first.name) == (ALLOSTERIC_SMARTS, "user", ALLOSTERIC_SMARTS,
                                                                 ALLOSTERIC_SMARTS)
    assert [t.id for t in treatments] == [f"T{i + 1:02d}" for i in range(len(treatments))]


def test_mined_treatments_respect_support_and_cap(mined):
    mols, treatments, _ = mined
    n = len(mols)
    mined_only = [t for t in treatments if t.kind != "user"]
    assert 10 <= len(mined_only) <= RULES.max_treatments
    for t in mined_only:
        assert max(RULES.min_rows, RULES.min_support * n) <= t.support <= RULES.max_support * n
    assert {t.kind for t in treatments} == set(KIND_ORDER), "user SMARTS, ring systems and functional groups"


def test_treatments_carry_a_chemists_name(mined):
    _, treatments, _ = mined
    names = {t.name for t in treatments}
    assert {"benzene", "piperidine", "pyridine", "amide", "primary amine"} <= names
    for t in treatments:
        assert t.name and t.key and t.to_dict()["name"] == t.name
        if t.kind == "functional_group":
            assert t.key.startswith("fg:")
        if t.kind == "ring_system":
            assert t.smarts == t.key
        compile_smarts(t.smarts)  # every treatment is a readable SMARTS for the callers that match it


def test_presence_matrix_is_unit_presence_for_mined_and_smarts_for_user(mined):
    mols, treatments, matrix = mined
    assert matrix.shape == (len(mols), len(treatments)) and matrix.dtype == bool
    types, units = unit_presence(mols)
    column = {t.key: j for j, t in enumerate(types)}
    for j, t in enumerate(treatments):
        expected = presence(mols, t.smarts) if t.kind == "user" else units[:, column[t.key]]
        assert np.array_equal(matrix[:, j], expected)
        assert matrix[:, j].sum() == t.support
    for j in (0, 1, len(treatments) - 1):  # the one-treatment helpers agree (each re-partitions: a few suffice)
        assert np.array_equal(matrix[:, j], treatment_presence(mols, treatments[j]))
    assert np.array_equal(matrix[:, 1], has_unit(mols, treatments[1].key))


def test_mined_ranked_by_smaller_arm(mined):
    mols, treatments, _ = mined
    arms = [min(t.support, len(mols) - t.support) for t in treatments if t.kind != "user"]
    assert arms == sorted(arms, reverse=True)


def test_a_benzene_treatment_does_not_fire_on_a_naphthalene():
    smiles = ["Cc1ccccc1"] * 30 + ["Cc1ccc2ccccc2c1"] * 30 + ["CCCO"] * 40
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    treatments, matrix = mine_treatments(mols)
    by_name = {t.name: j for j, t in enumerate(treatments)}
    assert treatments[by_name["benzene"]].support == 30 and treatments[by_name["naphthalene"]].support == 30
    assert not (matrix[:, by_name["benzene"]] & matrix[:, by_name["naphthalene"]]).any()
    assert presence(mols, "c1ccccc1").sum() == 60, "the SMARTS would have matched both"


def test_user_treatment_blocks_its_mined_duplicate():
    smiles = ["Cc1ccccc1"] * 30 + ["Cc1ccc2ccccc2c1"] * 30 + ["CCCO"] * 40
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    treatments, _ = mine_treatments(mols, ["[CH3]c1[cH][cH][cH][cH][cH]1"])  # exactly the benzene unit's rows
    assert treatments[0].kind == "user" and "benzene" not in {t.name for t in treatments}
    assert "naphthalene" in {t.name for t in treatments}


def test_no_two_treatments_are_near_duplicates(mined):
    _, _, matrix = mined
    for i in range(matrix.shape[1]):
        for j in range(i + 1, matrix.shape[1]):
            union = (matrix[:, i] | matrix[:, j]).sum()
            assert (matrix[:, i] & matrix[:, j]).sum() / union < RULES.max_overlap


def test_cap_on_mined_treatments(mined):
    mols, _, _ = mined
    treatments, matrix = mine_treatments(mols, [ALLOSTERIC_SMARTS], TreatmentRules(max_treatments=3))
    assert [t.kind == "user" for t in treatments] == [True, False, False, False] and matrix.shape[1] == 4


def test_mining_is_deterministic(mined):
    mols, treatments, _ = mined
    again, _ = mine_treatments(mols, [ALLOSTERIC_SMARTS])
    assert again == treatments


def test_treatment_keeps_its_positional_fields():
    t = Treatment("T01", "c1ccccc1", "ring_system", 12)
    assert (t.id, t.smarts, t.kind, t.support) == ("T01", "c1ccccc1", "ring_system", 12)
    assert set(t.to_dict()) == {"id", "smarts", "kind", "support", "name", "key"}


@pytest.mark.parametrize("smarts", ["", "C1CC((", "c1ccc", "[C"])
def test_invalid_smarts_is_a_400(smarts):
    with pytest.raises(InvalidRequest) as raised:
        compile_smarts(smarts)
    assert raised.value.details == {"smarts": smarts}


def test_invalid_user_smarts_is_refused(mined):
    mols, _, _ = mined
    with pytest.raises(InvalidRequest):
        mine_treatments(mols[:50], ["C1CC(("])


def test_empty_input():
    treatments, matrix = mine_treatments([])
    assert treatments == [] and matrix.shape == (0, 0)


def test_a_user_smarts_equal_to_a_unit_key_is_one_treatment(mined):
    mols, treatments, _ = mined
    piperidine = next(t for t in treatments if t.name == "piperidine")
    again, _ = mine_treatments(mols, [piperidine.smarts])
    assert [t.kind for t in again if t.smarts == piperidine.smarts] == ["user"]
