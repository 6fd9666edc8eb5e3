"""services/causal/verdict.py: the verdict rule on constructed evidence (plain dicts, no model needed)."""

from __future__ import annotations

import pytest

from services.causal.verdict import (
    FOCUS_THRESHOLD,
    MIN_CONTRIBUTION,
    RELIANCE_TOLERANCE,
    judge,
    reliance,
)
from shared.schemas import CausalValiditySchema
from shared.verdicts import MIN_CONSISTENT_SHARE, VERDICTS, verdict_rules

PROFILE = {"status": "ready"}
IN, OUT = ({"max_similarity": s, "in_domain": s >= 0.3, "threshold": 0.3} for s in (0.7, 0.1))


def mechanism(focus=0.95, probability=0.9):
    return {"id": "M1", "label": "allosteric", "probability": probability, "focus": focus}


def item(smarts, contribution, kind, effect=0.4):
    """One relied-on substructure whose reliance is ``kind`` (consistent, contradicted, confounded, untestable)."""
    status = {"consistent": "causal", "contradicted": "causal", "confounded": "confounded",
              "untestable": "untestable"}[kind]
    return {"substructure": smarts, "name": smarts, "contribution": contribution, "adjusted_effect": effect,
            "status": status, "reliance": kind}


SUPPORTED_MAIN = [item("c1ccncc1", 0.6, "consistent"), item("C1CCNCC1", 0.2, "untestable")]
MOSTLY_CONFOUNDED = [item("c1ccncc1", 0.2, "consistent"), item("C1CCNCC1", 0.5, "confounded", effect=0.0),
                     item("C1COCCN1", 0.3, "contradicted", effect=0.1)]


def verdict(domain, evidence, mech=None, **kw):
    result = judge(domain, PROFILE, mechanism(**kw) if mech is None else mech, evidence)
    assert result["reasons"], "every verdict says why"
    assert CausalValiditySchema().validate(result) == {}
    return result


def test_in_domain_focused_and_main_evidence_supported_is_supported():
    result = verdict(IN, SUPPORTED_MAIN)
    assert result["verdict"] == "supported"
    assert any("c1ccncc1" in r and "consistent" in r for r in result["reasons"])
    assert result["evidence"] == SUPPORTED_MAIN and result["mechanism"]["label"] == "allosteric"


def test_mostly_confounded_reliance_outside_the_domain_is_unsupported():
    result = verdict(OUT, MOSTLY_CONFOUNDED)
    assert result["verdict"] == "unsupported"
    assert result["reasons"][0].startswith("outside the applicability domain")
    assert any("80% of its substructure weight disagrees with the causal effects" in r for r in result["reasons"])


def test_mostly_confounded_reliance_on_familiar_ground_is_caution_bound_to_its_assays():
    """Inside the domain, nothing against coverage or the trees: the number holds where its analogues were measured."""
    result = verdict(IN, MOSTLY_CONFOUNDED)
    assert result["verdict"] == "caution"
    assert "80% of its substructure weight disagrees with the causal effects" in result["reasons"][0]
    assert "not in another" in result["reasons"][1]


def test_outside_the_domain_is_caution_at_best():
    result = verdict(OUT, SUPPORTED_MAIN)
    assert result["verdict"] == "caution"
    assert result["reasons"][0].startswith("outside the applicability domain")


@pytest.mark.parametrize("focus", [FOCUS_THRESHOLD - 0.01, 0.3, None])
def test_low_or_unknown_focus_is_caution(focus):
    result = verdict(IN, SUPPORTED_MAIN, focus=focus)
    assert result["verdict"] == "caution"
    assert any("focus" in r for r in result["reasons"])


def test_focus_exactly_at_the_threshold_is_enough():
    assert verdict(IN, SUPPORTED_MAIN, focus=FOCUS_THRESHOLD)["verdict"] == "supported"


def test_one_relied_on_substructure_against_its_effect_is_caution_even_with_a_consistent_majority():
    """60% of the weight is consistent, but the model leans on a confounded substructure: caution, naming it."""
    evidence = [item("c1ccncc1", 0.6, "confounded"), item("C1CCNCC1", 0.5, "consistent"),
                item("CCO", 0.4, "consistent")]
    result = verdict(IN, evidence)
    assert result["verdict"] == "caution"
    assert "60% of its substructure weight is consistent with the causal effects (some is needed)" in \
        result["reasons"]
    assert any(r.startswith("it relies on a substructure against its causal effect: c1ccncc1 (confounded")
               for r in result["reasons"])


def test_the_consistent_share_decides_not_the_lead_substructure():
    """An untestable lead does not sink the prediction when most of the weight is consistent."""
    evidence = [item("c1ccncc1", 0.6, "untestable"), item("C1CCNCC1", 0.5, "consistent"),
                item("CCO", 0.4, "consistent")]
    result = verdict(IN, evidence)
    assert result["verdict"] == "supported"
    assert "the prediction relies most on c1ccncc1 (untestable, contribution +0.60, causal effect +0.40: " \
           "untestable)" in result["reasons"]


def test_untestable_substructures_neither_vouch_nor_count_against():
    """42% consistent and the rest untestable: some consistent weight and none against is enough."""
    assert MIN_CONSISTENT_SHARE == 0
    evidence = [item("c1ccncc1", 0.6, "untestable"), item("C1CCNCC1", 0.5, "consistent"),
                item("CCO", 0.1, "untestable")]
    result = verdict(IN, evidence)
    assert result["verdict"] == "supported"
    assert "42% of its substructure weight is consistent with the causal effects (some is needed)" in \
        result["reasons"]


def test_half_consistent_and_half_untestable_is_supported():
    evidence = [item("c1ccncc1", 0.5, "consistent"), item("C1CCNCC1", 0.5, "untestable")]
    assert verdict(IN, evidence)["verdict"] == "supported"


@pytest.mark.parametrize("statuses", [("untestable", "untestable"), ("untestable", "confounded")])
def test_without_any_consistent_substructure_it_is_caution(statuses):
    evidence = [item("c1ccncc1", 0.6, statuses[0]), item("C1CCNCC1", 0.3, statuses[1])]
    assert verdict(IN, evidence)["verdict"] == "caution"


def test_half_against_is_not_yet_unsupported():
    evidence = [item("C1CCNCC1", 0.5, "confounded"), item("c1ccncc1", 0.5, "consistent")]
    assert verdict(IN, evidence)["verdict"] != "unsupported"


@pytest.mark.parametrize(("evidence", "expected"), [
    ([], "caution"),  # no substructure at all: nothing to judge the number by
    ([item("CCO", MIN_CONTRIBUTION / 2, "consistent"), item("CCN", 0.01, "consistent")], "supported"),
    ([item("CCO", MIN_CONTRIBUTION / 2, "consistent"), item("CCN", 0.01, "untestable")], "supported"),  # 50%
    ([item("CCO", MIN_CONTRIBUTION / 2, "untestable")], "caution"),
])
def test_a_prediction_near_the_baseline_is_judged_by_its_substructures_at_the_minimum_weight(evidence, expected):
    result = verdict(IN, evidence)
    assert result["verdict"] == expected
    assert any("does not rely measurably" in r for r in result["reasons"])


def test_a_small_contribution_weighs_the_minimum_in_the_shares():
    """0.01 counts as 0.05: 0.05 / (0.05 + 0.06) = 45% consistent (0.01 / 0.07 would be 14%)."""
    evidence = [item("CCO", 0.01, "consistent"), item("CCN", 0.06, "untestable")]
    result = verdict(IN, evidence)
    assert result["verdict"] == "supported"
    assert "45% of its substructure weight is consistent with the causal effects (some is needed)" in \
        result["reasons"]


def test_tiny_contributions_do_not_count_towards_confounding():
    evidence = [item("c1ccncc1", 0.6, "consistent"), item("C1CCNCC1", 0.04, "confounded"),
                item("CCO", 0.03, "contradicted")]
    assert verdict(IN, evidence)["verdict"] == "supported"


def test_without_attributions_every_substructure_weighs_the_same():
    evidence = [item("C1CCNCC1", None, "confounded"), item("CCO", None, "confounded"),
                item("c1ccncc1", None, "consistent")]
    assert verdict(OUT, evidence)["verdict"] == "unsupported"
    assert any(r.startswith("67% of its substructure weight") for r in verdict(IN, evidence)["reasons"])


def test_unassigned_mechanism_is_caution():
    result = judge(IN, PROFILE, None, SUPPORTED_MAIN)
    assert result["verdict"] == "caution"
    assert "could not be assigned to a mechanism" in result["reasons"][0]


def test_an_unusable_profile_is_unknown_with_its_reason():
    result = judge(IN, None, problem="the causal profile is failed: out of time")
    assert result["verdict"] == "unknown"
    assert result["reasons"] == ["the causal profile is failed: out of time, so causal support was not assessed"]
    assert judge(OUT, None, problem="x")["verdict"] == "caution"


def test_rules_are_published_with_their_numbers():
    rules = verdict_rules()
    assert rules["focus_threshold"] == FOCUS_THRESHOLD
    assert rules["verdicts"] == VERDICTS and set(VERDICTS) == {"unsupported", "caution", "supported", "unknown"}
    assert set(rules["reliance"]) == {"consistent", "contradicted", "confounded", "untestable"}


@pytest.mark.parametrize(("contribution", "status", "value", "ci", "expected"), [
    (0.9, "causal", 1.0, [0.8, 1.2], "consistent"),
    (1.2 + RELIANCE_TOLERANCE, "causal", 1.0, [0.8, 1.2], "consistent"),  # the tolerance is inclusive
    (0.3, "causal", 1.0, [0.8, 1.2], "consistent"),  # leans less than the effect: credit shared with neighbours
    (1.7, "causal", 1.0, [0.8, 1.2], "contradicted"),  # leans far more than the substructure does
    (-0.5, "causal", 0.4, [0.1, 0.7], "contradicted"),  # against the effect's direction
    (0.1, "null", 0.0, [-0.1, 0.1], "consistent"),
    (0.5, "null", 0.0, [-0.1, 0.1], "contradicted"),  # leans +0.5 on something with no effect
    (1.5, "confounded", 0.2, [-0.1, 0.5], "confounded"),  # follows the pooled association, not the effect
    (0.3, "confounded", 0.2, [-0.1, 0.5], "consistent"),
    (0.5, "inconclusive", 0.3, [-0.5, 1.1], "consistent"),  # not contradicted by the adjusted evidence
    (1.8, "inconclusive", 0.3, [-0.5, 1.1], "contradicted"),
    (0.5, "inconclusive", 0.3, [-1.5, 2.1], "untestable"),  # an interval this wide tests nothing
    (0.5, "untestable", None, None, "untestable"),
    (None, "causal", 1.0, [0.8, 1.2], "untestable"),
])
def test_reliance_compares_the_contribution_with_the_effect(contribution, status, value, ci, expected):
    assert reliance(contribution, status, value, ci) == expected


# --- coverage: supported also needs the nearest analogue at or above the profile's well_covered_similarity ---

COVERED = {"status": "ready", "well_covered_similarity": 0.55}


def covered_verdict(similarity, evidence, profile=COVERED, **kw):
    domain = {"max_similarity": similarity, "in_domain": similarity >= 0.3, "threshold": 0.3}
    result = judge(domain, profile, mechanism(**kw), evidence)
    assert CausalValiditySchema().validate(result) == {}
    return result


def test_in_domain_but_below_the_well_covered_similarity_is_caution_and_says_why():
    result = covered_verdict(0.42, SUPPORTED_MAIN)
    assert result["verdict"] == "caution"
    assert result["reasons"][0] == ("the model's nearest training analogue (Tanimoto 0.42) is less similar than "
                                    "0.55, the level from which its cross-validated error was at or below its "
                                    "average")
    assert any("c1ccncc1" in r for r in result["reasons"])  # the causal reasons are still given


def test_at_or_above_the_well_covered_similarity_is_supported_without_the_coverage_reason():
    for similarity in (0.55, 0.9):
        result = covered_verdict(similarity, SUPPORTED_MAIN)
        assert result["verdict"] == "supported"
        assert not any("nearest training analogue" in r for r in result["reasons"])


def test_mostly_confounded_and_below_the_well_covered_similarity_is_unsupported_with_both_reasons():
    result = covered_verdict(0.42, MOSTLY_CONFOUNDED)
    assert result["verdict"] == "unsupported"
    assert "nearest training analogue (Tanimoto 0.42)" in result["reasons"][0]
    assert "80% of its substructure weight disagrees with the causal effects" in result["reasons"][1]
    assert covered_verdict(0.6, MOSTLY_CONFOUNDED)["verdict"] == "caution"


def test_out_of_domain_gives_the_domain_reason_not_the_coverage_one():
    result = covered_verdict(0.1, SUPPORTED_MAIN)
    assert result["verdict"] == "caution"
    assert "outside the applicability domain" in result["reasons"][0]
    assert not any("nearest training analogue" in r for r in result["reasons"])


def test_below_coverage_and_unfocused_is_caution_with_both_reasons():
    result = covered_verdict(0.42, SUPPORTED_MAIN, focus=0.5)
    assert result["verdict"] == "caution"
    assert "nearest training analogue" in result["reasons"][0]
    assert any("below the 0.8 needed" in r for r in result["reasons"])


def test_a_profile_without_the_level_skips_the_condition():
    assert covered_verdict(0.42, SUPPORTED_MAIN, profile={"status": "ready"})["verdict"] == "supported"
    assert covered_verdict(0.42, SUPPORTED_MAIN, profile=COVERED | {"well_covered_similarity": None})[
        "verdict"] == "supported"


def test_the_rule_in_words_mentions_coverage():
    assert "well covered" in verdict_rules()["verdicts"]["supported"]
