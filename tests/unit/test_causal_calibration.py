"""The series check: a verdict level is applied only when its signal still predicts error for new series."""

from __future__ import annotations

import numpy as np
import pytest

from services.causal.calibration import SERIES_CHECK_ALPHA, series_check


def test_error_rising_with_the_signal_passes_when_it_is_expected_to_rise():
    """SYNTHETIC: error = 2 x spread + noise."""
    rng = np.random.default_rng(0)
    spread = rng.uniform(0.05, 0.8, 300)
    error = np.abs(2 * spread + rng.normal(0, 0.2, 300))
    check = series_check(spread, error, error_rises=True)
    assert check["passed"] and check["spearman"] > 0.5 and check["p_value"] < SERIES_CHECK_ALPHA
    assert check["n"] == 300


def test_the_same_data_fails_when_error_is_expected_to_fall():
    """SYNTHETIC: error rises with similarity, as in a dense, cliff-rich series: similarity is no reassurance."""
    rng = np.random.default_rng(0)
    similarity = rng.uniform(0.2, 1.0, 300)
    error = np.abs(similarity + rng.normal(0, 0.2, 300))
    check = series_check(similarity, error, error_rises=False)
    assert not check["passed"] and check["spearman"] > 0 and check["p_value"] > 0.5


def test_no_relation_fails():
    """SYNTHETIC: independent noise in both: the level would sort predictions by chance."""
    rng = np.random.default_rng(4)
    check = series_check(rng.uniform(size=400), rng.uniform(size=400), error_rises=True)
    assert not check["passed"] and abs(check["spearman"]) < 0.15


@pytest.mark.parametrize("signal, errors", [([], []), ([0.5, 0.5, 0.5], [0.1, 0.2, 0.3]), ([0.1, 0.2], [0.3, 0.1])])
def test_degenerate_input_fails_without_raising(signal, errors):
    check = series_check(np.array(signal), np.array(errors), error_rises=False)
    assert check["passed"] is False and check["spearman"] is None and check["n"] == len(signal)


def test_float_noise_in_the_last_bits_does_not_change_the_answer():
    rng = np.random.default_rng(2)
    signal, error = rng.uniform(size=200).round(3), rng.uniform(size=200).round(3)  # many exact ties
    noisy = error + rng.choice([-1e-15, 0.0, 1e-15], size=200)
    assert series_check(signal, error, True) == series_check(signal, noisy, True)
