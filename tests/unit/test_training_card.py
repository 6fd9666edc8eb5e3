"""services/predictor/training.py (dataset path), evaluation.py and reference.py: the model card and its numbers.

Trained on a real subset of the bundled ChEMBL PIK3CA IC50 records (four assays, ~170 rows, ``assay_chembl_id`` as
the context column) and on a 150-row sample of the combined AKT reference data (isoform context, mechanism hints).
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from services.featurizer.datasets import ingest_dataset
from services.featurizer.logic import featurize_dataset
from services.predictor.conformal import calibrate, choose_beta, half_widths
from services.predictor.evaluation import grouped_folds, split_keys
from services.predictor.loader import ModelCache
from services.predictor.logic import predict_chunk
from services.predictor.reference import AKT_FLAGGED_FILE, AKT_PAPYRUS_FILE, PIK3CA_FILE, build_reference
from services.predictor.spread import K_NEIGHBOURS, tree_spread
from services.predictor.training import (
    ESTIMATOR_FILE,
    PREDICTIONS_FILE,
    dense_matrix,
    fit_from_features,
    train_from_dataset,
)
from shared.applicability import AD_FILE, NearestNeighbourIndex
from shared.datasets import read_meta, read_rows
from shared.errors import InvalidRequest
from shared.model_store import ModelStore, sha256_of
from shared.neighbours import TRAINING_ROWS_FILE

ASSAYS = ("CHEMBL2330621", "CHEMBL4621919", "CHEMBL4150386", "CHEMBL1106090")
FEATURIZER = {"name": "morgan_counts", "params": {"radius": 2, "n_bits": 2048}}
ESTIMATOR = {"name": "random_forest", "params": {"n_estimators": 20}}
MAPPING = {"structure": "canonical_smiles", "activity": "pchembl_value", "id": "compound_chembl_id",
           "context": ["assay_chembl_id"]}


@pytest.fixture(scope="module")
def pik3ca(tmp_path_factory):
    """(datasets dir, dataset metadata): the real PIK3CA records of four assays."""
    with PIK3CA_FILE.open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["assay_chembl_id"] in ASSAYS]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    root = tmp_path_factory.mktemp("datasets")
    return root, ingest_dataset(out.getvalue().encode(), "csv", MAPPING, root, "pik3ca_subset.csv")


def train(pik3ca, store_root, split="scaffold", seed=0, name="pik3ca-small"):
    root, meta = pik3ca
    return train_from_dataset(ModelStore(store_root), name, meta["dataset_id"], root, FEATURIZER, ESTIMATOR, split,
                              seed)


@pytest.fixture(scope="module")
def card(pik3ca, tmp_path_factory):
    store_root = tmp_path_factory.mktemp("models")
    return train(pik3ca, store_root), store_root


def predictions_file(card_and_root):
    manifest, root = card_and_root
    with (root / manifest["name"] / str(manifest["version"]) / PREDICTIONS_FILE).open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_card_records_the_dataset_and_the_recipe(card, pik3ca):
    manifest, _ = card
    _, meta = pik3ca
    n_rows = meta["n_rows"]
    assert 150 <= n_rows <= 170
    wanted = {"id": meta["dataset_id"], "sha256": meta["sha256"], "rows_used": n_rows,
              "context_columns": ["assay_chembl_id"], "mechanism_column": None}
    assert {key: manifest["dataset"][key] for key in wanted} == wanted
    assert (manifest["split"], manifest["seed"], manifest["unit"]) == ("scaffold", 0, "pActivity")
    assert manifest["provenance"] == {}
    assert manifest["featurizer"] == FEATURIZER and manifest["n_features"] == 2048
    assert manifest["estimator"]["params"] == {"n_estimators": 20, "max_features": 0.2, "min_samples_leaf": 1}
    assert set(manifest["library_versions"]) == {"rdkit", "scikit-learn", "numpy", "python"}
    assert manifest["training_seconds"] > 0
    assert set(manifest["files"]) == {ESTIMATOR_FILE, AD_FILE, PREDICTIONS_FILE, TRAINING_ROWS_FILE}


def test_held_out_metrics_and_baselines(card):
    metrics = card[0]["metrics"]
    assert metrics["split"] == "scaffold"
    assert metrics["n_train"] + metrics["n_test"] == card[0]["dataset"]["rows_used"]
    assert metrics["held_out"]["n"] == metrics["n_test"] >= int(0.2 * card[0]["dataset"]["rows_used"])
    assert metrics["mean_predictor_rmse"] > 0 and metrics["nearest_neighbour_rmse"] > 0
    assert metrics["held_out"]["rmse"] < metrics["mean_predictor_rmse"]  # real data: the model learns something


def test_cross_validated_metrics_overall_and_per_assay(card):
    manifest, _ = card
    cv = manifest["metrics"]["cross_validation"]
    assert (cv["n_folds"], cv["folds_grouped_by"]) == (5, "murcko_scaffold")
    assert cv["overall"]["n"] == manifest["metrics"]["n_train"]
    assert set(cv["overall"]) == {"rmse", "mae", "r2", "spearman", "n"}
    per_assay = cv["per_context"]["assay_chembl_id"]
    assert set(per_assay) == set(ASSAYS)  # each assay keeps >= 5 rows on the training side
    assert sum(m["n"] for m in per_assay.values()) == cv["overall"]["n"]
    assert all(m["n"] >= cv["min_group_size"] == 5 for m in per_assay.values())
    assert cv["per_mechanism"] == {}


def test_interval_quantiles_are_crepes_on_the_out_of_fold_residuals_and_fold_sigmas(card):
    interval, rows = card[0]["interval"], predictions_file(card)
    cv_rows = [r for r in rows if r["side"] == "cv"]
    residuals = np.array([float(r["pactivity"]) - float(r["prediction"]) for r in cv_rows])
    sigma = np.array([float(r["sigma"]) for r in cv_rows])
    assert interval["calibration_n"] == len(cv_rows) == card[0]["metrics"]["n_train"]
    assert (interval["method"], interval["coverage"], interval["levels"]) == ("normalized_conformal", 0.9, [0.8, 0.9])
    assert interval["sigma"]["kind"] == "tree_spread" and interval["beta"] == choose_beta(residuals, sigma) > 0
    # the file rounds predictions to 4 decimals: the quantiles agree to about that
    expected = calibrate(residuals, sigma, interval["beta"])
    assert interval["quantiles"] == pytest.approx(expected, abs=2e-3)
    assert interval["half_width"] == pytest.approx(np.median(half_widths(sigma, interval["beta"], expected["90"])),
                                                   abs=2e-3)
    assert 0 < interval["half_width_80"] < interval["half_width"]


def test_measured_coverage_is_on_the_held_out_rows_overall_and_per_similarity_bin(card):
    interval, rows = card[0]["interval"], predictions_file(card)
    held_out = [r for r in rows if r["side"] == "held_out"]
    residuals = np.array([abs(float(r["pactivity"]) - float(r["prediction"])) for r in held_out])
    sigma = np.array([float(r["sigma"]) for r in held_out])
    measured = interval["measured_coverage"]
    assert measured["n"] == len(held_out) == card[0]["metrics"]["n_test"]
    for level in ("80", "90"):
        width = half_widths(sigma, interval["beta"], interval["quantiles"][level])
        assert 0 <= measured[level] <= 1
        assert measured[level] == pytest.approx(np.mean(residuals <= width), abs=1.5 / len(held_out))
        assert measured["mean_width"][level] == pytest.approx(2 * width.mean(), abs=1e-3)
    assert measured["80"] <= measured["90"]
    bins = measured["per_similarity_bin"]
    assert [b["similarity_from"] for b in bins] == [0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    assert bins[-1]["similarity_to"] == 1.0
    assert sum(b["n"] for b in bins) == measured["n"]
    for b in bins:
        assert set(b) == {"similarity_from", "similarity_to", "n", "coverage", "mean_width"}
        assert (b["coverage"]["90"] is None) == (b["n"] == 0)


def test_domain_threshold_and_served_model(card, pik3ca):
    manifest, root = card
    assert 0 < manifest["applicability_domain"]["threshold"] <= 1
    assert np.load(root / manifest["name"] / "1" / AD_FILE).shape == (manifest["dataset"]["rows_used"], 256)
    loaded = ModelCache(ModelStore(root), capacity=1).get(manifest["name"], manifest["version"])
    from services.featurizer.logic import featurize_chunk

    message = {"job_id": "j", "chunk": 0, "model": {"featurizer": FEATURIZER},
               "molecules": [{"id": "a", "smiles": read_rows(*pik3ca_ids(pik3ca))[0]["canonical_smiles"]}]}
    molecule = predict_chunk(featurize_chunk(message), loaded)["molecules"][0]
    out, interval = molecule["prediction"], manifest["interval"]
    sigma = tree_spread(loaded.estimator, dense_matrix([molecule["features"]], 2048))[0]
    lo, hi = out["interval"]
    assert out["sigma"] == round(float(sigma), 4)
    assert hi - lo == pytest.approx(2 * interval["quantiles"]["90"] * (sigma + interval["beta"]), abs=1e-3)


def test_a_knn_card_scales_its_intervals_by_the_neighbour_distance(pik3ca, tmp_path, settings_env):
    root, meta = pik3ca
    manifest = train_from_dataset(ModelStore(tmp_path), "knn", meta["dataset_id"], root, FEATURIZER,
                                  {"name": "knn", "params": {"n_neighbors": 3}})
    interval = manifest["interval"]
    assert interval["sigma"]["kind"] == "neighbour_distance" and interval["sigma"]["k"] == K_NEIGHBOURS
    assert 0.5 <= interval["measured_coverage"]["90"] <= 1
    settings_env(CAUSALMOL_MODELS_DIR=str(tmp_path))  # the served version's training fingerprints are read there
    from services.featurizer.logic import featurize_chunk

    smiles = ["CCO", read_rows(root, meta["dataset_id"])[0]["canonical_smiles"]]
    message = featurize_chunk({"job_id": "j", "chunk": 0, "model": {"featurizer": FEATURIZER},
                               "molecules": [{"id": str(i), "smiles": s} for i, s in enumerate(smiles)]})
    out = predict_chunk(message, ModelCache(ModelStore(tmp_path), capacity=1).get("knn", 1))["molecules"]
    index = NearestNeighbourIndex(np.load(tmp_path / "knn" / "1" / AD_FILE))
    for molecule in out:
        sigma = index.mean_distance(molecule["ad_bits"], K_NEIGHBOURS)
        lo, hi = molecule["prediction"]["interval"]
        assert molecule["prediction"]["sigma"] == round(sigma, 4)
        assert hi - lo == pytest.approx(2 * interval["quantiles"]["90"] * (sigma + interval["beta"]), abs=1e-3)
    assert out[0]["prediction"]["sigma"] > out[1]["prediction"]["sigma"]  # ethanol is far from any PIK3CA inhibitor


def pik3ca_ids(pik3ca):
    root, meta = pik3ca
    return root, meta["dataset_id"]


def test_same_inputs_and_seed_give_the_same_card(card, pik3ca, tmp_path):
    again = train(pik3ca, tmp_path)
    volatile = {"created_at", "training_seconds"}
    assert {k: v for k, v in again.items() if k not in volatile} == {
        k: v for k, v in card[0].items() if k not in volatile}


def test_another_seed_gives_another_split(card, pik3ca, tmp_path):
    other = train(pik3ca, tmp_path, seed=1)
    assert other["seed"] == 1
    assert other["metrics"]["held_out"] != card[0]["metrics"]["held_out"]


def test_context_split_holds_out_whole_assays(pik3ca, tmp_path):
    manifest = train(pik3ca, tmp_path, split="context", name="by-assay")
    cv = manifest["metrics"]["cross_validation"]
    assert cv["folds_grouped_by"] == "assay_chembl_id" and cv["n_folds"] == 3  # 4 assays, 1 held out
    assay_of = {r["id"]: r["assay_chembl_id"] for r in read_rows(*pik3ca_ids(pik3ca))}
    rows = predictions_file((manifest, tmp_path))
    held_out = {assay_of[r["id"]] for r in rows if r["side"] == "held_out"}
    trained = {assay_of[r["id"]] for r in rows if r["side"] == "cv"}
    assert len(held_out) == 1 and held_out.isdisjoint(trained)


def test_grouped_folds_keep_groups_whole_and_balanced():
    keys = ["a"] * 6 + ["b"] * 3 + ["c"] * 3 + [f"s{i}" for i in range(8)]  # SYNTHETIC group labels
    folds = grouped_folds(keys, 4, seed=0)
    for group in set(keys):
        assert len({folds[i] for i, k in enumerate(keys) if k == group}) == 1
    # greedy, largest group first: a=6 | b=3 | c=3 | then singletons to the smallest fold each time
    assert sorted(np.bincount(folds)) == [4, 5, 5, 6]
    assert grouped_folds(["x", "y"], 5, seed=0).max() == 1  # never more folds than groups


def test_bad_requests_fail_before_anything_is_written(pik3ca, tmp_path):
    root, meta = pik3ca
    store = ModelStore(tmp_path)
    with pytest.raises(InvalidRequest, match="unknown split"):
        train_from_dataset(store, "m", meta["dataset_id"], root, FEATURIZER, ESTIMATOR, "temporal", 0)
    with pytest.raises(InvalidRequest):
        train_from_dataset(store, "Bad Name!", meta["dataset_id"], root, FEATURIZER, ESTIMATOR, "scaffold", 0)
    key = featurize_dataset(meta["dataset_id"], root, {"name": "morgan_bits"})
    with pytest.raises(InvalidRequest, match="not made from"):  # features of another featurizer
        fit_from_features(store, "m", meta["dataset_id"], root, key, FEATURIZER, ESTIMATOR, "scaffold", 0)
    with pytest.raises(InvalidRequest, match="context column"):
        split_keys("context", ["CCO"], {})
    assert store.names() == []


def test_too_few_rows(tmp_path):
    meta = ingest_dataset(b"smiles,p\nCCO,5\nCCN,6\nCCC,7\n", "csv", {"activity": "p"}, tmp_path)  # SYNTHETIC
    with pytest.raises(InvalidRequest, match="training needs"):
        train_from_dataset(ModelStore(tmp_path / "m"), "m", meta["dataset_id"], tmp_path, FEATURIZER, ESTIMATOR)


# ---- the reference models go through the same path ----------------------------------------------------------


@pytest.fixture(scope="module")
def akt(tmp_path_factory):
    root = tmp_path_factory.mktemp("akt")
    return build_reference(ModelStore(root / "models"), "akt", limit=150, datasets_dir=root / "datasets"), root


def test_akt_reference_is_a_dataset_with_isoform_context_and_mechanism_hints(akt):
    manifest, root = akt
    dataset = manifest["dataset"]
    assert (dataset["context_columns"], dataset["mechanism_column"]) == (["gene"], "mechanism_hint")
    assert manifest["provenance"]["sources"] == [{"file": p.name, "sha256": sha256_of(p)}
                                                 for p in (AKT_PAPYRUS_FILE, AKT_FLAGGED_FILE)]
    assert manifest["provenance"]["licence"] == "ChEMBL CC BY-SA 3.0"
    assert read_meta(root / "datasets", dataset["id"])["report"]["rows_read"] == 150
    rows = read_rows(root / "datasets", dataset["id"])
    assert {r["gene"] for r in rows} == {"AKT1", "AKT2", "AKT3"}
    assert {r["mechanism"] for r in rows} <= {"allosteric", "atp_competitive_or_unknown", "ph_domain_lipid"}
    cv = manifest["metrics"]["cross_validation"]
    assert set(cv["per_context"]["gene"]) == {"AKT1", "AKT2", "AKT3"}
    assert {"allosteric", "atp_competitive_or_unknown"} <= set(cv["per_mechanism"])
    assert manifest["estimator"]["params"]["n_estimators"] == 100  # the reference recipe


def test_unknown_reference(tmp_path):
    with pytest.raises(InvalidRequest) as info:
        build_reference(ModelStore(tmp_path), "egfr", datasets_dir=tmp_path)
    assert info.value.details == {"known_references": ["akt", "akt1", "pik3ca"]}
