"""services/causal/held_out.py on its own: the held-out side read from the card, a domain index without the
held-out rows, n and MAE per verdict on known data, and what the serving annotation is handed."""

from __future__ import annotations

import numpy as np
import pytest

from services.causal import held_out
from services.causal.profile import TrainingArrays
from shared.model_store import PREDICTIONS_FILE, ModelStore, sha256_of

CSV = ("id,side,fold,pactivity,prediction,sigma,similarity\n"
       "a,cv,0,6.0,6.5,0.3,0.9\n"
       "b,held_out,,7.0,6.0,0.25,0.4\n"
       "c,held_out,,5.0,5.5,0.5,0.7\n"
       "d,cv,1,8.0,7.0,0.2,0.8\n")


def test_the_held_out_side_is_read_from_the_cards_predictions() -> None:
    assert held_out.held_out_side(CSV) == [{"id": "b", "measured": 7.0, "predicted": 6.0, "sigma": 0.25},
                                           {"id": "c", "measured": 5.0, "predicted": 5.5, "sigma": 0.5}]


def test_the_domain_index_leaves_the_held_out_rows_out() -> None:
    ad_bits = [[1, 2, 3], [1, 2, 3], [7, 8], [1, 9]]
    index = held_out.index_without(ad_bits, {1})
    assert index.bits.shape[0] == 3
    assert index.similarities([1, 2, 3]).tolist() == [1.0, 0.0, 0.25]  # rows 0, 2 and 3; row 1 is gone
    assert held_out.index_without(ad_bits, {0, 1}).max_similarity([1, 2, 3]) == 0.25


def test_n_and_mae_per_verdict_on_known_data() -> None:
    verdicts = ["supported", "caution", "supported", "unknown", "caution", "caution"]
    measured = [6.0, 7.0, 5.0, 8.0, 6.0, 4.0]
    predicted = [6.5, 5.0, 5.1, 8.0, 7.0, 4.0]  # errors 0.5, 2.0, 0.1, 0.0, 1.0, 0.0
    summary = held_out.summarize(verdicts, measured, predicted)
    assert summary["n"] == 6 and summary["mae"] == pytest.approx(3.6 / 6, abs=1e-4)
    assert summary["per_verdict"] == {
        "supported": {"n": 2, "mae": 0.3, "rmse": round(float(np.sqrt((0.25 + 0.01) / 2)), 4)},
        "caution": {"n": 3, "mae": 1.0, "rmse": round(float(np.sqrt(5 / 3)), 4)},
        "unknown": {"n": 1, "mae": 0.0, "rmse": 0.0},
    }  # no molecule judged unsupported: no entry


@pytest.fixture
def card(tmp_path):
    store = ModelStore(tmp_path / "models")
    folder = store.version_dir("m", 1)
    folder.mkdir(parents=True)
    (folder / PREDICTIONS_FILE).write_text(CSV)
    manifest = {"name": "m", "version": 1, "files": {PREDICTIONS_FILE: sha256_of(folder / PREDICTIONS_FILE)},
                "featurizer": {"name": "morgan_counts"}, "n_features": 4,
                "interval": {"sigma": {"kind": "tree_spread"}}, "applicability_domain": {"threshold": 0.3}}
    rows = [{"id": i} for i in "abcd"]
    arrays = TrainingArrays(rows, ["C", "CC", "CCC", "CCCC"], ["", "", "", ""], np.arange(16.0).reshape(4, 4),
                            [[1, 2], [1, 2], [1, 3], [5]])
    return store, manifest, rows, arrays


def test_the_serving_annotation_judges_the_held_out_rows_with_their_held_out_inputs(card, monkeypatch) -> None:
    store, manifest, rows, arrays = card
    seen = {}

    def annotate(molecules, index, threshold, causal, x=None):
        seen.update(index=index, threshold=threshold, sigma_kind=causal.sigma_kind, x=x.tolist())
        seen["molecules"] = [(m["id"], m["canonical_smiles"], m["prediction"]["sigma"]) for m in molecules]
        for molecule, verdict in zip(molecules, ("supported", "caution"), strict=True):
            molecule["causal_validity"] = {"verdict": verdict}

    class Cache:
        def __init__(self, *_):
            pass

        def get(self, name, version):
            return type("Loaded", (), {"estimator": "served estimator"})

    monkeypatch.setattr(held_out, "annotate_molecules", annotate)
    monkeypatch.setattr(held_out, "ModelCache", Cache)
    monkeypatch.setattr(held_out, "compile_profile", lambda profile: "compiled")
    section = held_out.held_out_verdicts(store, manifest, {"status": "ready"}, rows, arrays)
    assert seen["molecules"] == [("b", "CC", 0.25), ("c", "CCC", 0.5)]  # the evaluation model's spread
    assert seen["x"] == arrays.x[[1, 2]].tolist() and seen["threshold"] == 0.3 and seen["sigma_kind"] == "tree_spread"
    # The domain is the training side only (a and d): held-out b and c are left out of it.
    assert seen["index"].bits.shape[0] == 2 and seen["index"].max_similarity([1, 2]) == 1.0  # a is [1, 2] too
    assert seen["index"].max_similarity([1, 3]) == pytest.approx(1 / 3)  # c itself is not in the index
    assert section["status"] == "ready" and section["spread_held_out"] is True and section["n"] == 2
    assert section["per_verdict"] == {"supported": {"n": 1, "mae": 1.0, "rmse": 1.0},
                                      "caution": {"n": 1, "mae": 0.5, "rmse": 0.5}}


def test_no_held_out_predictions_or_a_failure_never_fails_the_profile(card, monkeypatch) -> None:
    store, manifest, rows, arrays = card
    assert held_out.held_out_verdicts(store, {**manifest, "files": {}}, {"status": "ready"}, rows, arrays) is None
    assert held_out.held_out_verdicts(store, manifest, {"status": "failed"}, rows, arrays) is None

    def broken(*_, **__):
        raise RuntimeError("explainer exploded")

    monkeypatch.setattr(held_out, "ModelCache", broken)
    section = held_out.held_out_verdicts(store, manifest, {"status": "ready"}, rows, arrays)
    assert section == {"status": "failed", "error": "RuntimeError: explainer exploded"}
