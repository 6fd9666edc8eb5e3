"""shared/applicability.py: Tanimoto nearest-neighbour similarity, fingerprint packing, threshold calibration."""

from __future__ import annotations

import numpy as np
import pytest

from shared.applicability import N_BITS, NearestNeighbourIndex, calibrate_threshold, pack_fingerprints


def index_of(*rows):
    return NearestNeighbourIndex(pack_fingerprints([list(r) for r in rows]))


# ---- Tanimoto, against hand-computed values ----------------------------------------------------------------------


@pytest.mark.parametrize(("train", "query", "expected"), [
    ({1, 2, 3}, {2, 3, 4}, 2 / 4),  # |A∩B| = 2, |A∪B| = 4
    ({1, 2, 3}, {1, 2, 3}, 1.0),
    ({1, 2, 3}, {7, 8}, 0.0),
    ({1, 2, 3, 4}, {1}, 1 / 4),
    ({0, 2047}, {0, 5, 2047}, 2 / 3),  # first and last bit positions
])
def test_tanimoto_single_neighbour(train, query, expected):
    assert index_of(sorted(train)).max_similarity(sorted(query)) == pytest.approx(expected)


def test_max_over_training_rows():
    index = index_of([1, 2, 3], [10, 11], [2, 3, 4, 5, 6])
    assert index.max_similarity([10, 11, 12]) == pytest.approx(2 / 3)
    assert index.max_similarity([2, 3, 4]) == pytest.approx(3 / 5)  # [2..6] beats [1,2,3] (2/4)


def test_exclude_ignores_one_training_row():
    index = index_of([1, 2, 3], [2, 3, 4])
    assert index.max_similarity([1, 2, 3]) == 1.0
    assert index.max_similarity([1, 2, 3], exclude=0) == pytest.approx(0.5)


def test_empty_query_has_zero_similarity():
    assert index_of([1, 2, 3]).max_similarity([]) == 0.0


def test_empty_training_set_has_zero_similarity():
    index = NearestNeighbourIndex(pack_fingerprints([]))
    assert index.max_similarity([1, 2, 3]) == 0.0


def test_training_row_without_bits():
    index = index_of([], [5])
    assert index.max_similarity([5, 6]) == pytest.approx(0.5)


# ---- packing -----------------------------------------------------------------------------------------------------


def test_pack_shape_and_dtype():
    packed = pack_fingerprints([[0, 1], [2047]])
    assert packed.shape == (2, N_BITS // 8)
    assert packed.dtype == np.uint8
    assert packed[0, 0] == 0b1100_0000  # big-endian bit order within each byte
    assert packed[1, -1] == 0b0000_0001


def test_pack_unpack_round_trip():
    rows = [[0, 7, 8, 1000, 2047], [], [3], list(range(0, 2048, 97))]
    index = NearestNeighbourIndex(pack_fingerprints(rows))
    assert [list(np.flatnonzero(r)) for r in index.bits] == rows
    assert list(index.counts) == [len(r) for r in rows]


def test_pack_with_custom_width():
    packed = pack_fingerprints([[0, 15]], n_bits=16)
    assert packed.shape == (1, 2)
    assert list(np.flatnonzero(NearestNeighbourIndex(packed, n_bits=16).bits[0])) == [0, 15]


def test_packed_array_survives_npy_round_trip(tmp_path):
    packed = pack_fingerprints([[1, 2, 3], [4]])
    np.save(tmp_path / "ad.npy", packed)
    assert NearestNeighbourIndex(np.load(tmp_path / "ad.npy")).max_similarity([2, 3, 4]) == pytest.approx(0.5)


# ---- calibrate_threshold, on labelled synthetic data -------------------------------------------------------------


def synthetic_errors(cliff: float, big_error: float, seed: int = 0):
    """SYNTHETIC: 200 held-out similarities evenly spread over [0, 1); the error is ``big_error`` below ``cliff``
    and zero above it, shuffled so the function has to sort."""
    sims = np.arange(200) / 200
    errs = np.where(sims < cliff, big_error, 0.0)
    order = np.random.default_rng(seed).permutation(200)
    return sims[order], errs[order]


def test_threshold_found_where_error_rises():
    # Below 0.3 the error (2.0) beats the mean predictor's RMSE (1.9); above, the model is perfect, so the
    # cumulative RMSE below any larger threshold drops under 1.9 at once: the 30% quantile (0.2985) is chosen.
    sims, errs = synthetic_errors(cliff=0.3, big_error=2.0)
    threshold = calibrate_threshold(sims, errs, baseline_rmse=1.9)
    assert threshold == pytest.approx(0.2985)


def test_threshold_follows_the_cliff():
    sims, errs = synthetic_errors(cliff=0.15, big_error=2.0)
    assert calibrate_threshold(sims, errs, baseline_rmse=1.9) == pytest.approx(0.1492, abs=1e-4)


def test_model_better_than_mean_everywhere_flags_only_the_least_similar_5_percent():
    sims, errs = synthetic_errors(cliff=0.3, big_error=0.5)  # never reaches the baseline
    expected = round(float(np.quantile(np.arange(200) / 200, 0.05)), 4)
    assert calibrate_threshold(sims, errs, baseline_rmse=1.0) == expected


def test_threshold_never_beyond_the_median():
    sims, errs = synthetic_errors(cliff=1.1, big_error=5.0)  # bad everywhere
    assert calibrate_threshold(sims, errs, baseline_rmse=1.0) == pytest.approx(np.quantile(np.arange(200) / 200, 0.5))


def test_fewer_than_ten_points_below_are_not_enough_evidence():
    # SYNTHETIC: 40 points, the 5 least similar with error 1.2 (above the baseline 1.0), the rest perfect.
    # Thresholds at the 10%..20% quantiles have only 4..8 points below, all or nearly all bad: too few to count.
    # From 10 points below, the bad ones are diluted under the baseline (1.2 * sqrt(5/10) < 1). So the default
    # 5% quantile stays.
    sims = np.arange(40) / 40
    errs = np.where(sims < 0.125, 1.2, 0.0)
    assert calibrate_threshold(sims, errs, baseline_rmse=1.0) == round(float(np.quantile(sims, 0.05)), 4)


def test_threshold_is_rounded_to_4_decimals():
    rng = np.random.default_rng(1)
    value = calibrate_threshold(rng.random(57), rng.random(57), baseline_rmse=0.1)
    assert value == round(value, 4)


def test_similarities_are_the_int32_tanimoto_bit_for_bit_below_and_above_256_bits():
    rng = np.random.default_rng(0)
    train = [sorted(rng.choice(2048, size=k, replace=False).tolist()) for k in rng.integers(0, 400, 60)]
    index = NearestNeighbourIndex(pack_fingerprints([*train, list(range(400))]))  # shares every bit of a query
    for k in (1, 40, 255, 256, 300):
        query = sorted(rng.choice(400, size=k, replace=False).tolist())
        shared = index.by_bit[query].sum(axis=0, dtype=np.int32)
        expected = shared / (index.counts + len(query) - shared)
        assert index.similarities(query).tobytes() == expected.tobytes(), k
