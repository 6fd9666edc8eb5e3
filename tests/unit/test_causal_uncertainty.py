"""services/causal/uncertainty.py and its place in the verdict: the tree spread up to which the model is confident.

All data here is SYNTHETIC (constructed spreads, errors, features and targets), chosen so that the answer is known.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesRegressor, HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.neighbors import KNeighborsRegressor

from services.causal.evidence import CausalContext, ServingProfile, spreads
from services.causal.focus import cross_validated
from services.causal.uncertainty import (
    UNCERTAINTY_RULE,
    confident_spread,
    tree_spread,
    uncertainty_section,
)
from services.causal.verdict import judge
from shared.schemas import CausalValiditySchema
from shared.verdicts import MAX_SPREAD_RATIO, verdict_rules

# --- calibration ---


def test_synthetic_error_rising_with_spread_puts_the_level_where_the_fit_meets_the_average():
    """SYNTHETIC: error = spread (plus noise): the level sits near the mean error, the fit's crossing point."""
    rng = np.random.default_rng(0)
    spread = rng.uniform(0.0, 1.0, 2000)
    error = np.abs(spread + rng.normal(0, 0.05, 2000))
    level = confident_spread(spread, error)
    assert level == pytest.approx(error.mean(), abs=0.05)
    assert error[spread <= level].mean() < error.mean() < error[spread > level].mean()


def test_synthetic_step_in_error_gives_the_last_spread_before_the_step():
    """SYNTHETIC: error 0.2 up to spread 0.3, then 1.0: the level is the largest spread of the low part."""
    spread = np.linspace(0.0, 0.6, 61)
    error = np.where(spread <= 0.3 + 1e-12, 0.2, 1.0)
    assert confident_spread(spread, error) == pytest.approx(0.3, abs=1e-4)


@pytest.mark.parametrize("slope", [0.0, -1.0])
def test_synthetic_error_not_rising_with_spread_excludes_nothing(slope):
    """SYNTHETIC: flat or falling error: the fit is flat at the mean, the level is the largest spread seen."""
    spread = np.linspace(0.05, 0.9, 50)
    error = 1.0 + slope * spread
    assert confident_spread(spread, error) == pytest.approx(0.9)


def test_the_level_is_a_seen_spread_and_empty_data_gives_zero():
    spread = np.array([0.123456, 0.2, 0.5, 0.7])
    assert confident_spread(spread, spread) in {0.1235, 0.2, 0.5, 0.7}
    assert confident_spread(np.array([]), np.array([])) == 0.0


def test_section_summarises_the_calibration_and_says_when_it_does_not_apply():
    """SYNTHETIC: 400 molecules with error rising with spread."""
    rng = np.random.default_rng(1)
    spread = rng.uniform(0.05, 0.8, 400)
    error = np.abs(spread * 2 + rng.normal(0, 0.1, 400))
    section = uncertainty_section("random_forest", spread, error)
    assert section["method"] == UNCERTAINTY_RULE
    assert 0.05 < section["confident_spread"] < 0.8
    assert section["mae_confident"] < section["mae_out_of_fold"]
    assert 0 < section["share_confident"] < 1
    assert sum(b["n"] for b in section["per_spread_quantile"]) == 400
    maes = [b["mae"] for b in section["per_spread_quantile"]]
    assert maes == sorted(maes)
    skipped = uncertainty_section("knn", None, error)
    assert skipped["confident_spread"] is None and "knn is not a tree ensemble" in skipped["note"]
    failed = uncertainty_section("random_forest", spread, error, {"n": 400, "spearman": -0.02, "p_value": 0.6,
                                                                   "passed": False})
    assert failed["confident_spread"] is None and failed["calibrated_spread"] == section["confident_spread"]
    assert not failed["applied"] and failed["note"].startswith("not applied")


# --- the signal ---


@pytest.mark.parametrize("forest", [RandomForestRegressor, ExtraTreesRegressor])
def test_tree_spread_is_the_standard_deviation_of_the_trees(forest):
    """SYNTHETIC regression data; the spread equals the ddof=1 std of each tree's prediction."""
    rng = np.random.default_rng(2)
    x = rng.integers(0, 3, size=(120, 16)).astype(float)
    y = x[:, 0] - x[:, 1] + rng.normal(0, 0.3, 120)
    model = forest(n_estimators=12, random_state=0).fit(x, y)
    per_tree = np.stack([t.predict(x[:7].astype(np.float32)) for t in model.estimators_])
    assert tree_spread(model, x[:7]) == pytest.approx(per_tree.std(axis=0, ddof=1))
    assert np.mean(per_tree, axis=0) == pytest.approx(model.predict(x[:7]))


def test_non_ensembles_have_no_spread():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(40, 4)), rng.normal(size=40)
    for model in (KNeighborsRegressor(n_neighbors=3), HistGradientBoostingRegressor(max_iter=5)):
        assert tree_spread(model.fit(x, y), x) is None
    assert tree_spread(None, x) is None


def test_cross_validation_fills_the_spread_for_forests_and_nan_otherwise():
    """SYNTHETIC rows: the out-of-fold spread comes with the out-of-fold prediction of the same fold model."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(90, 5))
    y = x[:, 0] + rng.normal(0, 0.1, 90)
    spread = np.full(90, np.nan)
    cross_validated(x, y, {"name": "random_forest", "params": {"n_estimators": 5}}, 0, None, spread)
    assert np.all(spread >= 0) and np.any(spread > 0)
    spread = np.full(90, 0.0)
    cross_validated(x, y, {"name": "knn", "params": {"n_neighbors": 3}}, 0, None, spread)
    assert np.isnan(spread).all()


def test_serving_spreads_skip_non_ensembles_and_profiles_without_the_level():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 2, size=(60, 8)).astype(float)
    y = x[:, 0] + rng.normal(0, 0.2, 60)

    def context(estimator, level):
        return CausalContext(ServingProfile({}, [], [], None, None, level), estimator, {"name": "morgan_counts"}, 8)

    forest = RandomForestRegressor(n_estimators=6, random_state=0).fit(x, y)
    got = spreads(x[:3], context(forest, 0.1), 3)
    assert got == pytest.approx(np.round(tree_spread(forest, x[:3]), 4).tolist())
    assert spreads(x[:3], context(forest, None), 3) == [None] * 3  # a profile built before the level
    assert spreads(None, context(forest, 0.1), 3) == [None] * 3  # no features
    knn = KNeighborsRegressor(n_neighbors=3).fit(x, y)
    assert spreads(x[:3], context(knn, 0.1), 3) == [None] * 3


# --- the verdict ---

IN = {"max_similarity": 0.7, "in_domain": True, "threshold": 0.3}
OUT = {"max_similarity": 0.1, "in_domain": False, "threshold": 0.3}
MECHANISM = {"id": "M1", "label": "series 1", "probability": 0.9, "focus": 0.95}
SUPPORTED = [{"substructure": "c1ccncc1", "contribution": 0.6, "adjusted_effect": 0.4, "status": "causal",
              "reliance": "consistent"}]
CONFOUNDED = [{"substructure": "c1ccncc1", "contribution": 0.6, "adjusted_effect": 0.0, "status": "confounded",
               "reliance": "confounded"}]
PROFILE = {"status": "ready", "well_covered_similarity": 0.5, "confident_spread": 0.4}


def verdict(spread, evidence=SUPPORTED, profile=PROFILE, domain=IN):
    result = judge(domain, profile, MECHANISM, evidence, spread=spread)
    assert CausalValiditySchema().validate(result) == {}
    return result


def test_above_the_confident_spread_is_caution_and_says_why():
    result = verdict(0.55)
    assert result["verdict"] == "caution"
    assert result["reasons"][0] == ("the model's trees disagree (spread 0.55) more than 0.40, the level up to which "
                                    "its cross-validated error was at or below its average")
    assert any("c1ccncc1" in r for r in result["reasons"])


def test_at_or_below_the_confident_spread_is_supported_without_the_reason():
    for spread in (0.0, 0.4):
        result = verdict(spread)
        assert result["verdict"] == "supported"
        assert not any("trees disagree" in r for r in result["reasons"])


def test_the_spread_condition_is_skipped_without_a_spread_or_a_level():
    assert verdict(None)["verdict"] == "supported"  # not a tree ensemble
    assert verdict(0.9, profile={"status": "ready", "well_covered_similarity": 0.5})["verdict"] == "supported"
    assert verdict(0.9, profile=PROFILE | {"confident_spread": None})["verdict"] == "supported"


def test_mostly_confounded_and_trees_disagreeing_is_unsupported_and_agreeing_is_caution():
    result = verdict(0.9, evidence=CONFOUNDED)
    assert result["verdict"] == "unsupported" and "trees disagree" in result["reasons"][0]
    result = verdict(0.3, evidence=CONFOUNDED)
    assert result["verdict"] == "caution" and not any("trees disagree" in r for r in result["reasons"])


def test_out_of_domain_gives_the_domain_reason_not_the_spread_one():
    result = verdict(0.9, domain=OUT)
    assert result["verdict"] == "caution" and not any("trees disagree" in r for r in result["reasons"])


def test_uncovered_and_uncertain_gives_both_reasons():
    result = verdict(0.55, domain={"max_similarity": 0.42, "in_domain": True, "threshold": 0.3})
    assert result["verdict"] == "caution"
    assert "nearest training analogue" in result["reasons"][0] and "trees disagree" in result["reasons"][1]


@pytest.mark.parametrize("evidence", [SUPPORTED, []])
def test_trees_disagreeing_beyond_twice_the_confident_spread_is_unsupported_whatever_the_substructures(evidence):
    assert MAX_SPREAD_RATIO == 2.0
    result = verdict(0.81, evidence=evidence)
    assert result["verdict"] == "unsupported"
    assert result["reasons"][-1] == ("the trees disagree more than 2 times that level (0.81 > 2 x 0.40): the model's "
                                     "own uncertainty is too large to lean on the number, whatever its substructures")
    assert "trees disagree (spread 0.81) more than 0.40" in result["reasons"][0]


def test_mostly_confounded_reliance_keeps_its_own_reasons_when_the_trees_also_disagree_beyond_twice():
    result = verdict(0.81, evidence=CONFOUNDED)
    assert result["verdict"] == "unsupported"
    assert "disagrees with the causal effects" in result["reasons"][-1]


def test_up_to_twice_the_confident_spread_is_caution():
    result = verdict(0.8)
    assert result["verdict"] == "caution" and not any("too large" in r for r in result["reasons"])


def test_far_beyond_the_spread_but_outside_the_domain_or_without_a_level_is_not_made_unsupported():
    assert verdict(2.0, domain=OUT)["verdict"] == "caution"  # outside, the domain reason speaks for itself
    assert verdict(2.0, profile=PROFILE | {"confident_spread": None})["verdict"] == "supported"
    assert judge(IN, None, MECHANISM, SUPPORTED, spread=2.0)["verdict"] == "unknown"  # no profile


def test_the_rule_in_words_mentions_the_trees():
    rules = verdict_rules()["verdicts"]
    assert "trees agree" in rules["supported"] and "trees disagree" in rules["caution"]


def test_serving_reuses_the_predictors_tree_spread_when_the_card_says_so():
    """The scoring process already has each molecule's tree spread as ``prediction.sigma``: no second pass."""
    rng = np.random.default_rng(6)
    x = rng.integers(0, 2, size=(40, 8)).astype(float)
    forest = RandomForestRegressor(n_estimators=6, random_state=0).fit(x, x[:, 0])
    profile = ServingProfile({}, [], [], None, None, 0.1)
    reused = CausalContext(profile, forest, {"name": "morgan_counts"}, 8, sigma_kind="tree_spread")
    assert spreads(x[:2], reused, 2, [9.9, 0.01]) == [9.9, 0.01]
    assert spreads(None, reused, 2, [9.9, 0.01]) == [9.9, 0.01]  # no features needed either
    computed = np.round(tree_spread(forest, x[:2]), 4).tolist()
    assert spreads(x[:2], reused, 2, [9.9, None]) == pytest.approx(computed)  # a molecule without: computed
    other_kind = CausalContext(profile, forest, {"name": "morgan_counts"}, 8, sigma_kind="neighbour_distance")
    assert spreads(x[:2], other_kind, 2, [9.9, 0.01]) == pytest.approx(computed)
