"""services/causal/effects.py: causal-effect questions on semi-synthetic data (real SMILES, SYNTHETIC pActivity).

The causal model behind each dataset is stated in ``test_causal_synthetic.py``; the true effects are known.
"""

from __future__ import annotations

import numpy as np
import pytest

from services.causal.effects import estimate_question
from services.causal.estimators import ESTIMATORS
from services.causal.refuters import REFUTERS
from shared.errors import InvalidRequest
from shared.schemas import CausalEffectSchema
from tests.unit.test_causal_synthetic import (
    CONFOUNDED_SMARTS,
    confounded_case,
    has,
    rows_from,
    sample_smiles,
    simpson_case,
    supported_case,
)

ANSWER_KEYS = {"naive_effect", "adjusted_effect", "estimates", "overlap", "confounding_test", "per_stratum",
               "simpson_reversal", "refutations", "verdict", "reasons", "confounders", "effect_modifiers", "graph"}


def ask(rows, smarts, **extra):
    return estimate_question(rows, {"treatment": {"smarts": smarts}, "confounders": ["assay_chembl_id"], **extra})


@pytest.fixture(scope="module")
def supported():
    rows, smarts = supported_case()
    return ask(rows, smarts, seed=0)


def test_true_effect_is_causal_and_inside_the_interval(supported):
    """Synthetic: +1.0 pActivity for halogenated molecules, plus an assay shift and noise."""
    adjusted = supported["adjusted_effect"]
    assert supported["verdict"] == "causal"
    assert adjusted["estimator"] == "linear" and adjusted["inference"] == "HC1"  # two assays: too few clusters
    assert adjusted["ci"][0] <= 1.0 <= adjusted["ci"][1]
    sklearn_based = {e["estimator"]: e for e in supported["estimates"]}
    for name in ("propensity_weighting", "double_ml"):
        assert sklearn_based[name]["ci"][0] <= 1.0 <= sklearn_based[name]["ci"][1], name
    assert [r["name"] for r in supported["refutations"]] == list(REFUTERS)
    assert all(r["passed"] for r in supported["refutations"])
    assert supported["simpson_reversal"] is False


def test_the_answer_has_exactly_the_documented_shape(supported):
    assert set(supported) == ANSWER_KEYS
    assert CausalEffectSchema().validate(supported) == {}
    assert [e["estimator"] for e in supported["estimates"]] == list(ESTIMATORS)
    assert "treatment -> pActivity;" in supported["graph"]
    assert "c_assay_chembl_id -> treatment;" in supported["graph"]
    assert "c_assay_chembl_id -> pActivity;" in supported["graph"]
    assert {s["stratum"] for s in supported["per_stratum"]} == {"assay_chembl_id=A", "assay_chembl_id=B"}


def test_assay_confounded_substructure_is_confounded_with_a_near_zero_adjusted_effect():
    """Synthetic: no piperidine effect at all; assay A (+1.5) measured mostly piperidines."""
    rows, smarts = confounded_case()
    answer = ask(rows, smarts)
    assert answer["naive_effect"]["value"] > 0.8 and answer["naive_effect"]["ci"][0] > 0
    assert abs(answer["adjusted_effect"]["value"]) < 0.25
    assert answer["verdict"] == "confounded"


def test_simpson_reversal_is_detected():
    """Synthetic: pyridines lower pActivity by 0.5 in every assay, but the potent assay picked them."""
    rows, smarts = simpson_case()
    answer = ask(rows, smarts)
    assert answer["naive_effect"]["value"] > 0
    assert all(s["effect"] < 0 for s in answer["per_stratum"])
    assert answer["simpson_reversal"] is True
    assert answer["adjusted_effect"]["ci"][1] < 0  # adjustment recovers the negative effect
    assert answer["verdict"] == "confounded"


def test_same_seed_same_numbers():
    rows, smarts = confounded_case(seed=3)
    assert ask(rows, smarts, seed=7) == ask(rows, smarts, seed=7)


def test_without_confounders_adjusted_equals_naive():
    rows, smarts = supported_case()
    answer = estimate_question(rows, {"treatment": {"smarts": smarts}, "refuters": []})
    assert answer["adjusted_effect"]["value"] == pytest.approx(answer["naive_effect"]["value"], abs=1e-6)
    assert answer["refutations"] == [] and answer["graph"] == "digraph {\n  treatment -> pActivity;\n}"


def test_a_binary_column_can_be_the_treatment():
    smiles = sample_smiles(200)
    flag = np.array([i % 2 for i in range(200)])
    y = 6 + 0.7 * flag + np.random.default_rng(0).normal(0, 0.3, 200)
    rows = rows_from(smiles, y, motif=np.where(flag == 1, "True", "False"))
    answer = estimate_question(rows, {"treatment": {"column": "motif"}, "estimators": ["double_ml"], "refuters": []})
    assert answer["adjusted_effect"]["estimator"] == "double_ml"
    assert answer["adjusted_effect"]["ci"][0] <= 0.7 <= answer["adjusted_effect"]["ci"][1]


def test_a_rare_substructure_is_untestable():
    rows, _ = supported_case()
    answer = ask(rows, "[I]")  # four iodides in the sample
    assert answer["verdict"] == "untestable"
    assert answer["refutations"] == []


def test_a_substructure_only_ever_measured_in_its_own_assay_is_untestable():
    """Synthetic: assay A measured exactly the piperidines (positivity fails), pActivity = 6 + 1.5*[A] + noise."""
    smiles = sample_smiles(600)
    t = has(smiles, CONFOUNDED_SMARTS)
    y = 6 + 1.5 * t + np.random.default_rng(0).normal(0, 0.5, len(t))
    answer = ask(rows_from(smiles, y, assay_chembl_id=np.where(t == 1, "A", "B")), CONFOUNDED_SMARTS)
    assert answer["verdict"] == "untestable"
    assert answer["overlap"]["informative_levels"] == 0
    assert answer["naive_effect"]["value"] > 1.0  # the association is there; its cause cannot be told apart
    # The treatment is assay A's indicator: OLS would split the 1.5 arbitrarily between the two, with a tight
    # interval. No number is the honest answer.
    assert answer["adjusted_effect"] == {"estimator": "linear", "value": None, "ci": None}
    assert "linear" not in [e["estimator"] for e in answer["estimates"]]


def test_a_treatment_that_overlaps_its_assays_keeps_its_linear_estimate():
    """The collinearity guard refuses only an exact combination: one molecule of A without it, and a number again."""
    smiles = sample_smiles(600)
    t = has(smiles, CONFOUNDED_SMARTS)
    assay = np.where(t == 1, "A", "B")
    assay[np.flatnonzero(t == 0)[:30]] = "A"
    y = 6 + 1.5 * (assay == "A") + np.random.default_rng(0).normal(0, 0.5, len(t))
    answer = ask(rows_from(smiles, y, assay_chembl_id=assay), CONFOUNDED_SMARTS, refuters=[])
    assert answer["adjusted_effect"]["value"] is not None
    assert abs(answer["adjusted_effect"]["value"]) < 0.5  # the assay, not the substructure, carries the 1.5


@pytest.mark.parametrize(("question", "detail"), [
    ({"treatment": {"smarts": "C1CC(("}}, "smarts"),
    ({"treatment": {"column": "nope"}}, "known_columns"),
    ({"treatment": {"smarts": "F"}, "confounders": ["nope"]}, "known_columns"),
    ({"treatment": {"smarts": "F"}, "estimators": ["econml_dml"]}, "known_estimators"),
    ({"treatment": {"smarts": "F"}, "refuters": ["bootstrap"]}, "known_refuters"),
    ({"treatment": {"smarts": "F"}, "outcome": "pIC50"}, "known_outcomes"),
    ({"treatment": {"column": "assay_chembl_id"}}, "values"),  # not binary
    ({"treatment": {}}, "treatment"),
])
def test_bad_questions_are_400s_naming_what_is_known(question, detail):
    rows, _ = supported_case()
    with pytest.raises(InvalidRequest) as raised:
        estimate_question(rows, question)
    assert detail in raised.value.details
    if detail.startswith("known_"):
        assert raised.value.details[detail]
