"""services/causal/fixed_effects.py: absorbed fixed effects are exactly OLS with one dummy per level."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from services.causal.fixed_effects import (
    FixedEffectsRegressor,
    absorb,
    difference_p_value,
    factorize,
    fit_within,
    level_balanced_folds,
    naive_influence,
    overlap,
)


def synthetic(n: int = 600, levels: int = 80, seed: int = 0):
    """SYNTHETIC: many small levels whose shift follows their treated share (confounding), true effect +0.7."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, levels, n)
    b = rng.integers(0, 3, n)
    share = rng.uniform(0.05, 0.95, levels)
    t = (rng.uniform(size=n) < share[a]).astype(float)
    y = 5 + 0.7 * t + 3.0 * share[a] + 0.4 * b + rng.normal(0, 0.3, n)
    return y, t, a, b


def test_one_level_column_is_demeaned_exactly():
    values = np.array([[1.0], [3.0], [10.0], [20.0], [5.0]])
    codes = np.array([0, 0, 1, 1, 2])
    assert absorb(values, [codes])[:, 0] == pytest.approx([-1, 1, -5, 5, 0])


def test_two_level_columns_are_absorbed_jointly():
    y, t, a, b = synthetic()
    residual = absorb(np.column_stack([y, t]), [a, b])
    for codes in (a, b):  # orthogonal to every level's indicator
        sums = np.column_stack([np.bincount(codes, weights=residual[:, j]) for j in range(2)])
        assert np.abs(sums).max() < 1e-6


def test_the_slope_is_the_dummy_ols_slope_with_its_hc1_interval():
    y, t, a, _ = synthetic()
    fit = fit_within(y, t, [a])
    reference = smf.ols("y ~ t + C(a)", pd.DataFrame({"y": y, "t": t, "a": a})).fit(cov_type="HC1")
    assert fit.value == pytest.approx(reference.params["t"], abs=1e-9)
    assert fit.se == pytest.approx(reference.bse["t"], rel=1e-6)
    assert fit.inference == "HC1"
    assert fit.ci[0] <= 0.7 <= fit.ci[1]


def test_two_way_fixed_effects_match_two_sets_of_dummies():
    y, t, a, b = synthetic(seed=1)
    fit = fit_within(y, t, [a, b], cluster=a, cluster_name="a")
    reference = smf.ols("y ~ t + C(a) + C(b)", pd.DataFrame({"y": y, "t": t, "a": a, "b": b})).fit()
    assert fit.value == pytest.approx(reference.params["t"], abs=1e-6)
    assert fit.inference == "CR1 by a"


def test_the_naive_slope_is_confounded_and_the_test_says_so():
    y, t, a, _ = synthetic(seed=2)
    fit = fit_within(y, t, [a], cluster=a, cluster_name="a")
    naive = y[t == 1].mean() - y[t == 0].mean()
    assert naive > 1.2 and abs(fit.value - 0.7) < 0.1
    assert difference_p_value(naive_influence(t, y), fit.influence, naive - fit.value, a) < 1e-4


def test_without_confounding_the_difference_test_does_not_reject():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 60, 800)
    t = (rng.uniform(size=800) < 0.4).astype(float)
    y = 6 + 0.5 * t + rng.normal(0, 0.5, 60)[a] + rng.normal(0, 0.3, 800)
    fit = fit_within(y, t, [a], cluster=a, cluster_name="a")
    naive = y[t == 1].mean() - y[t == 0].mean()
    assert difference_p_value(naive_influence(t, y), fit.influence, naive - fit.value, a) > 0.05


def test_a_treatment_constant_within_levels_is_not_identified():
    a = np.repeat(np.arange(10), 5)
    t = (a < 5).astype(float)
    with pytest.raises(ValueError, match="not identified"):
        fit_within(np.arange(50.0), t, [a])


def test_overlap_counts_only_levels_with_both_arms():
    t = np.array([1, 0, 1, 1, 0, 0])
    strata = np.array(["x", "x", "y", "y", "z", "z"])
    seen = overlap(t, strata)
    assert (seen.levels, seen.informative_levels, seen.treated, seen.untreated) == (3, 1, 1, 1)


def test_the_regressor_predicts_level_means_and_nothing_for_an_unseen_level():
    x = np.array([[0.0], [0.0], [1.0], [1.0]])
    model = FixedEffectsRegressor(n_levels=1).fit(x, np.array([1.0, 3.0, 10.0, 20.0]))
    assert model.predict(np.array([[0.0], [1.0], [5.0]])) == pytest.approx([2.0, 15.0, 8.5])


def test_balanced_folds_keep_every_level_of_two_rows_or_more_in_training():
    levels = factorize([f"assay{i % 37}" for i in range(200)] + ["lonely"])
    for train, test in level_balanced_folds(levels, 5, seed=0):
        seen = set(levels[train])
        missing = [i for i in test if levels[i] not in seen]
        assert all(np.sum(levels == levels[i]) == 1 for i in missing)  # only the singleton can be unseen
