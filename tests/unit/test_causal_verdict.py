"""services/causal/verdict.py: the documented rule from evidence to verdict and reasons."""

from __future__ import annotations

from services.causal.verdict import NO_PROFILE, judge
from shared.schemas import CausalValiditySchema


def domain(similarity, threshold):
    return {"max_similarity": similarity, "in_domain": similarity >= threshold, "threshold": threshold}


def test_out_of_domain_is_caution_with_the_threshold_in_the_reason():
    result = judge(domain(0.1234, 0.31), profile=None)
    assert result["verdict"] == "caution"
    assert result["reasons"][0] == ("outside the applicability domain: nearest training molecule has Tanimoto "
                                    "0.12, below the calibrated threshold 0.31")
    assert result["applicability_domain"] == domain(0.1234, 0.31)


def test_in_domain_without_profile_is_unknown():
    result = judge(domain(0.8, 0.31), profile=None)
    assert result["verdict"] == "unknown"
    assert result["reasons"] == ["this model has no causal profile yet, so causal support was not assessed"]
    assert not any("applicability domain" in r for r in result["reasons"])


def test_out_of_domain_also_says_no_profile():
    reasons = judge(domain(0.0, 0.2), profile=None)["reasons"]
    assert len(reasons) == 2
    assert "no causal profile" in reasons[1]


def test_exactly_at_the_threshold_is_in_domain():
    assert judge(domain(0.25, 0.25), profile=None)["verdict"] == "unknown"


def test_with_a_profile_but_no_evidence_the_verdict_says_why():
    result = judge(domain(0.8, 0.3), profile={"mechanism": "hinge binder"})
    assert NO_PROFILE not in result["reasons"]
    assert result["verdict"] == "caution"  # nothing the prediction relies on was found in the profile
    assert any("mechanism" in reason for reason in result["reasons"])


def test_output_matches_the_public_schema():
    for similarity in (0.05, 0.9):
        assert CausalValiditySchema().validate(judge(domain(similarity, 0.3), profile=None)) == {}
