"""Known truth through the effect questions and the model profile: 64 real ChEMBL assays, nearly all under 20
compounds, REAL structures and SYNTHETIC outcomes (``tests/semisynthetic.py`` states the causal model)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from rdkit import Chem

from services.causal.effects import estimate_question
from services.causal.mechanisms import mechanism_section
from services.causal.profile import build_profile
from services.causal.treatments import mine_treatments
from services.featurizer.morgan import ad_bits
from shared.applicability import N_BITS, pack_fingerprints
from tests.semisynthetic import (
    EXPECTED_STATUS,
    KNOWN_TRUTH,
    MODIFIED,
    TOLERANCE,
    assay_sizes,
    assert_profile_recovers_the_truth,
    generate,
    real_structures,
)

MODEL = {"featurizer": {"name": "morgan_counts", "params": {"radius": 2, "n_bits": 2048}},
         "estimator": {"name": "random_forest", "params": {"n_estimators": 20}}, "seed": 0}


@pytest.fixture(scope="module")
def rows():
    return generate(real_structures(), KNOWN_TRUTH)


@pytest.fixture(scope="module")
def answers(rows):
    return {truth.smarts: estimate_question(rows, {"treatment": {"smarts": truth.smarts},
                                                   "confounders": ["assay_chembl_id"], "seed": 0})
            for truth in KNOWN_TRUTH}


def test_the_data_are_many_small_real_assays(rows):
    sizes = assay_sizes(rows)
    assert len(sizes) >= 40
    assert sum(n < 20 for n in sizes.values()) > len(sizes) / 2


@pytest.mark.parametrize("truth", KNOWN_TRUTH, ids=lambda t: t.smarts)
def test_every_adjusted_effect_is_within_tolerance_and_covered(answers, truth):
    adjusted = answers[truth.smarts]["adjusted_effect"]
    assert adjusted["estimator"] == "linear"
    assert abs(adjusted["value"] - truth.effect) <= TOLERANCE
    assert adjusted["ci"][0] <= truth.effect <= adjusted["ci"][1]
    others = {e["estimator"]: e["value"] for e in answers[truth.smarts]["estimates"]}
    assert abs(others["double_ml"] - truth.effect) <= TOLERANCE
    assert abs(others["propensity_weighting"] - truth.effect) <= TOLERANCE


@pytest.mark.parametrize("truth", KNOWN_TRUTH, ids=lambda t: t.smarts)
def test_the_adjusted_effect_is_the_plain_fixed_effects_fit(rows, answers, truth):
    pattern = Chem.MolFromSmarts(truth.smarts)
    frame = pd.DataFrame({"y": [float(r["pactivity"]) for r in rows], "a": [r["assay_chembl_id"] for r in rows],
                          "t": [int(Chem.MolFromSmiles(r["canonical_smiles"]).HasSubstructMatch(pattern))
                                for r in rows]})
    dummies = smf.ols("y ~ t + C(a)", frame).fit().params["t"]
    assert answers[truth.smarts]["adjusted_effect"]["value"] == pytest.approx(dummies, abs=1e-4)


def test_statuses_name_the_true_effect_the_confounded_null_and_the_reversal(answers):
    assert {s: a["verdict"] for s, a in answers.items()} == EXPECTED_STATUS
    assert answers["C1COCCN1"]["simpson_reversal"] is True
    assert answers["C1COCCN1"]["naive_effect"]["value"] > 0 > answers["C1COCCN1"]["adjusted_effect"]["value"]
    assert answers["C(=O)N"]["confounding_test"]["p_value"] < 0.05
    assert all(r["passed"] for r in answers["[CH3]O"]["refutations"])
    assert answers["[CH3]O"]["confounders"]["levels"]["assay_chembl_id"]["levels"] == 64  # nothing pooled


def test_without_the_context_column_nothing_is_confounded(rows):
    bare = [{k: v for k, v in r.items() if k != "assay_chembl_id"} for r in rows]
    for truth in KNOWN_TRUTH:
        answer = estimate_question(bare, {"treatment": {"smarts": truth.smarts}})
        assert answer["verdict"] == "untestable"
        assert "cannot be checked" in answer["reasons"][0]


def test_an_effect_in_one_mechanism_only_is_recovered_per_mechanism():
    rows = generate(real_structures(), MODIFIED)
    answer = estimate_question(rows, {"treatment": {"smarts": MODIFIED[0].smarts}, "confounders": ["assay_chembl_id"],
                                      "effect_modifiers": ["mechanism"], "refuters": []})
    modification = answer["effect_modifiers"]["mechanism"]
    by_label = {g["label"]: g for g in modification["groups"]}
    for label, truth in MODIFIED[0].effect_in.items():
        assert abs(by_label[label]["value"] - truth) <= TOLERANCE
        assert by_label[label]["ci"][0] <= truth <= by_label[label]["ci"][1]
    assert modification["heterogeneous"] is True
    assert "note" not in modification


def test_with_one_estimable_group_heterogeneity_is_not_tested_and_says_why():
    rows = generate(real_structures(), MODIFIED)
    labels = sorted({r["mechanism"] for r in rows})
    for i, r in enumerate(rows):  # all but 15 rows in the first group: the second is too small for an estimate
        r["mechanism"] = labels[0] if i >= 15 else labels[1]
    answer = estimate_question(rows, {"treatment": {"smarts": MODIFIED[0].smarts}, "confounders": ["assay_chembl_id"],
                                      "effect_modifiers": ["mechanism"], "refuters": []})
    modification = answer["effect_modifiers"]["mechanism"]
    assert [g["value"] is None for g in modification["groups"]] == [False, True]
    assert modification["q"] is None and modification["heterogeneous"] is False
    assert modification["note"].startswith("not tested: 1 of 2 groups have an estimate")


@pytest.fixture(scope="module")
def profile(rows):
    return build_profile(rows, ["assay_chembl_id"], None, MODEL, 0, [t.smarts for t in KNOWN_TRUTH])


def test_the_profile_recovers_the_same_truth(profile):
    assert_profile_recovers_the_truth(profile)


def test_the_profile_without_context_calls_nothing_confounded(rows):
    bare = [{k: v for k, v in r.items() if k != "assay_chembl_id"} for r in rows]
    profile = build_profile(bare, [], None, MODEL, 0, [t.smarts for t in KNOWN_TRUTH])
    assert {e["status"] for e in profile["effects"]} == {"untestable"}


def test_discovered_mechanisms_ignore_the_outcome(rows):
    smiles = [r["canonical_smiles"] for r in rows]
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    treatments, presence = mine_treatments(mols)
    bits = np.unpackbits(pack_fingerprints([ad_bits(m) for m in mols]), axis=1, count=N_BITS).astype(bool)
    y = np.array([float(r["pactivity"]) for r in rows])
    shuffled = np.random.default_rng(0).permutation(y)
    ids, _ = mechanism_section(bits, y, None, 0, smiles, treatments, presence)
    ids_shuffled, _ = mechanism_section(bits, shuffled, None, 0, smiles, treatments, presence)
    assert len(set(ids)) > 1
    assert np.array_equal(ids, ids_shuffled)


@pytest.mark.parametrize("estimator", ["double_ml", "propensity_weighting"])
def test_every_estimator_can_be_refuted_by_dowhy(rows, estimator):
    from services.causal.effects import prepare_context
    from services.causal.estimators import run_estimator
    from services.causal.refuters import REFUTERS, run_refuter

    pattern = Chem.MolFromSmarts("[CH3]O")
    t = np.array([Chem.MolFromSmiles(r["canonical_smiles"]).HasSubstructMatch(pattern) for r in rows], dtype=int)
    ctx = prepare_context(np.array([float(r["pactivity"]) for r in rows]),
                          {"assay_chembl_id": [r["assay_chembl_id"] for r in rows]}, seed=0)
    estimate = run_estimator(estimator, ctx.data(t))
    for name in REFUTERS:
        refutation = run_refuter(name, ctx.data(t), estimate, 3, 0)
        assert refutation["new_effect"] is not None, name  # DoWhy re-ran this estimator
    placebo = run_refuter("placebo_treatment", ctx.data(t), estimate, 3, 0)
    assert abs(placebo["new_effect"]) < 0.3 and placebo["passed"]
