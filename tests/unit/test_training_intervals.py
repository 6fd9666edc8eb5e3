"""services/predictor/training.py: the ``intervals`` rule of a training request ("single" or "mondrian").

Trained on the bundled real ChEMBL PIK3CA IC50 records (about 1,200 rows, enough for three Mondrian bins of at least
100 calibration molecules) and on a four-assay subset too small for two bins.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from services.featurizer.datasets import ingest_dataset
from services.featurizer.logic import featurize_dataset
from services.predictor.conformal import MIN_BIN_ROWS, SIMILARITY_BINS, calibrate_by_bin, similarity_bins
from services.predictor.reference import PIK3CA_FILE
from services.predictor.training import PREDICTIONS_FILE, fit_from_features
from shared.catalog import DEFAULT_INTERVAL_RULE, INTERVAL_RULES
from shared.model_store import ModelStore
from tests.unit.test_training_card import ESTIMATOR, FEATURIZER, MAPPING  # the same recipe and mapping


@pytest.fixture(scope="module")
def pik3ca(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    meta = ingest_dataset(PIK3CA_FILE.read_bytes(), "csv", MAPPING, root, PIK3CA_FILE.name)
    return root, meta, featurize_dataset(meta["dataset_id"], root, FEATURIZER)


def fit(pik3ca, store_root, rule: str) -> tuple[dict, list[dict[str, str]]]:
    root, meta, key = pik3ca
    card = fit_from_features(ModelStore(store_root), "pik3ca", meta["dataset_id"], root, key, FEATURIZER, ESTIMATOR,
                             "scaffold", 0, interval_rule=rule)
    with (store_root / "pik3ca" / str(card["version"]) / PREDICTIONS_FILE).open(newline="") as handle:
        return card, list(csv.DictReader(handle))


def test_the_default_is_one_quantile(pik3ca, tmp_path):
    assert DEFAULT_INTERVAL_RULE == "single" and set(INTERVAL_RULES) == {"single", "mondrian"}
    card, _ = fit(pik3ca, tmp_path, DEFAULT_INTERVAL_RULE)
    assert (card["interval"]["method"], card["interval"]["rule"]) == ("normalized_conformal", "single")
    assert "mondrian" not in card["interval"]


def test_mondrian_calibrates_one_quantile_per_similarity_tertile_of_the_out_of_fold_rows(pik3ca, tmp_path):
    card, rows = fit(pik3ca, tmp_path, "mondrian")
    interval = card["interval"]
    assert (interval["method"], interval["rule"]) == ("mondrian_normalized_conformal", "mondrian")
    mondrian = interval["mondrian"]
    cv = [r for r in rows if r["side"] == "cv"]
    similarity = np.array([float(r["similarity"]) for r in cv])
    assert len(mondrian["edges"]) == SIMILARITY_BINS - 1 and sum(mondrian["calibration_n"]) == len(cv)
    assert min(mondrian["calibration_n"]) >= MIN_BIN_ROWS
    # The file rounds similarities to 4 decimals, as the edges are, and Tanimoto ratios pile up on a few values: a
    # row written exactly at an edge may lie on either side of it (31/41 = 0.756098 is below the edge 0.7561).
    edges = mondrian["edges"]
    low, high = similarity_bins(similarity - 1e-9, edges), similarity_bins(similarity, edges)
    for b, n in enumerate(mondrian["calibration_n"]):
        assert np.sum((low == b) & (high == b)) <= n <= np.sum((low == b) | (high == b))
    bins = high
    residuals = np.array([float(r["pactivity"]) - float(r["prediction"]) for r in cv])
    sigma = np.array([float(r["sigma"]) for r in cv])
    expected = calibrate_by_bin(residuals, sigma, interval["beta"], bins, SIMILARITY_BINS)
    for got, want in zip(mondrian["quantiles"], expected, strict=True):  # the edge rows shift a few order statistics
        assert got == pytest.approx(want, abs=0.04)
    # the unfamiliar tertile needs the widest multiple of its sigma
    assert mondrian["quantiles"][0]["90"] > mondrian["quantiles"][-1]["90"]


def test_mondrian_on_too_few_rows_keeps_one_quantile_and_says_so(tmp_path):
    with PIK3CA_FILE.open(newline="") as handle:
        text = handle.read().splitlines()[:150]  # about 120 calibration rows: not two bins of 100
    root = tmp_path / "datasets"
    meta = ingest_dataset(("\n".join(text) + "\n").encode(), "csv", MAPPING, root, "pik3ca_head.csv")
    card, _ = fit((root, meta, featurize_dataset(meta["dataset_id"], root, FEATURIZER)), tmp_path / "m", "mondrian")
    assert (card["interval"]["method"], card["interval"]["rule"]) == ("normalized_conformal", "mondrian")
    assert "mondrian" not in card["interval"]
