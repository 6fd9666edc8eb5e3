"""services/causal/profile.py and the annotation of predictions against a profile (logic.py, evidence.py).

The profile is built for the tiny unit-test model on its own 200 real AKT1 training rows (measured pActivity),
with a SYNTHETIC context column ``assay`` (random, so it confounds nothing).
"""

from __future__ import annotations

import copy
import json
import shutil

import pytest
from rdkit import Chem

from services.causal.attributions import environment_centres
from services.causal.evidence import PROFILE_VERSION, CausalContext, compile_profile, gather, spreads
from services.causal.logic import annotate_chunk, annotate_molecules
from services.causal.profile import PROFILE_FILE, build_profile
from services.featurizer.logic import featurize_chunk, featurize_molecule, make_featurizer
from services.predictor.logic import predict_chunk
from services.predictor.training import dense_matrix
from shared.applicability import NearestNeighbourIndex, pack_fingerprints
from shared.jobs import MemoryJobStore, new_job_record
from shared.model_store import ModelStore
from shared.schemas import EFFECT_STATUSES, NOT_PROFILED, VERDICTS, MoleculeResultSchema
from tests.unit.conftest import TINY_ESTIMATOR, TINY_FEATURIZER, TINY_SEED, build, tiny_rows

PROFILE_KEYS = {"status", "version", "seed", "model", "dataset", "rules", "treatments", "confounders", "mechanisms",
                "effects", "effect_counts", "focus", "coverage", "uncertainty", "build"}


def test_profile_is_json_with_every_section(profile):
    assert set(profile) == PROFILE_KEYS
    assert json.loads(json.dumps(profile)) == profile
    assert profile["status"] == "ready"
    assert profile["dataset"]["rows_used"] == 200  # the unparsable training row is left out
    assert {"treatments", "effects", "effect_status", "adjustment", "mechanisms", "focus", "verdict"} <= set(
        profile["rules"])
    assert set(profile["rules"]["effect_status"]) == set(EFFECT_STATUSES)
    assert profile["version"] == PROFILE_VERSION


def test_every_treatment_has_one_effect_with_a_status_and_its_reasons(profile):
    assert [e["treatment"] for e in profile["effects"]] == [t["id"] for t in profile["treatments"]]
    for effect in profile["effects"]:
        assert effect["status"] in EFFECT_STATUSES and effect["reasons"]
        assert effect["adjusted_for"] == ["assay"]
        assert effect["name"], "every substructure has a chemist's name"
        groups = effect["per_mechanism"]["groups"]
        assert {g["mechanism"] for g in groups} == {m["id"] for m in profile["mechanisms"]["items"]}
    assert sum(profile["effect_counts"].values()) == len(profile["effects"])


def test_confounders_are_the_context_only(profile):
    confounders = profile["confounders"]
    assert confounders["columns"] == ["assay"]
    assert "c_assay -> treatment;" in confounders["graph"] and "mechanism" not in confounders["graph"]
    assert confounders["levels"]["assay"]["levels"] == 3


def test_a_declared_mechanism_confounder_is_adjusted_for(tiny_model):
    model = {"featurizer": TINY_FEATURIZER, "estimator": TINY_ESTIMATOR, "seed": TINY_SEED}
    declared = build_profile(tiny_rows(tiny_model), ["assay"], None, model, 0, confounder_columns=["assay",
                                                                                                    "mechanism"])
    assert declared["confounders"]["columns"] == ["assay", "mechanism"]
    assert all(e["adjusted_for"] == ["assay", "mechanism"] for e in declared["effects"])


def test_mechanisms_are_discovered_with_focus_and_chemotypes(profile):
    mechanisms = profile["mechanisms"]
    assert mechanisms["source"] == "discovered"
    assert sum(m["size"] for m in mechanisms["items"]) == 200
    for item in mechanisms["items"]:
        assert item["focus"] is None or 0 <= item["focus"] <= 1
        assert item["chemotypes"]["scaffolds"]
    assert len(mechanisms["assigner"]["weights"]) == len(mechanisms["items"])


def test_same_seed_same_profile(tiny_model, profile):
    again = build(tiny_rows(tiny_model))
    strip = [p | {"build": None} for p in (profile, again)]
    for key in strip[0]:
        assert strip[0][key] == strip[1][key], key


def test_attribution_centres_recompute_the_model_features_exactly(tiny_model):
    """Attributions are grouped by the same environments the featurizer counted, so they are the model's own."""
    featurizer = make_featurizer(TINY_FEATURIZER)
    for smiles in tiny_model.data.smiles[:20]:
        molecule = featurize_molecule({"id": "x", "smiles": smiles}, featurizer)
        centres = environment_centres(Chem.MolFromSmiles(molecule["canonical_smiles"]), 2, 2048)
        assert {b: len(a) for b, a in centres.items()} == dict(
            zip(molecule["features"]["indices"], molecule["features"]["values"], strict=True))


def pipeline_message(loaded, smiles, job_id="j1"):
    message = {"job_id": job_id, "chunk": 0, "model": {"name": "tiny", "version": 1, "featurizer": TINY_FEATURIZER},
               "molecules": [{"id": f"m{i}", "smiles": s} for i, s in enumerate(smiles)]}
    return predict_chunk(featurize_chunk(message), model=loaded)


def annotate(loaded, smiles):
    store = MemoryJobStore()
    store.create(new_job_record("j1", {"name": "tiny", "version": 1}, total=len(smiles), n_chunks=1))
    annotate_chunk(pipeline_message(loaded, smiles), store=store)
    results = store.get("j1")["results"]
    assert MoleculeResultSchema(many=True).validate(results) == {}
    return results


def test_with_a_profile_results_carry_mechanism_and_evidence(profiled_env, tiny_model, loaded_tiny, profile):
    results = annotate(loaded_tiny, [*tiny_model.data.smiles[:5], "C1CC", "C"])
    known = [r["causal_validity"] for r in results[:5]]
    mechanism_ids = {m["id"] for m in profile["mechanisms"]["items"]}
    for validity in known:
        assert validity["verdict"] in VERDICTS and validity["reasons"]
        assert validity["mechanism"]["id"] in mechanism_ids and 0 < validity["mechanism"]["probability"] <= 1
        assert validity["evidence"], "every molecule has substructures"
        contributions = [abs(e["contribution"]) for e in validity["evidence"]]
        assert contributions == sorted(contributions, reverse=True)
        assert all(e["status"] in (*EFFECT_STATUSES, NOT_PROFILED) for e in validity["evidence"])
        atoms = sorted(a for e in validity["evidence"] if e["additive"] for a in e["atoms"])
        assert atoms == list(range(len(atoms))), "the substructures partition the molecule's atoms"
    assert results[5]["causal_validity"] is None  # unparsable
    assert results[6]["causal_validity"]["verdict"] in ("caution", "unsupported")  # methane: out of domain


def test_attributions_add_up_to_the_prediction(tiny_model, loaded_tiny, profile):
    featurized = featurize_chunk({"model": {"featurizer": TINY_FEATURIZER},
                                  "molecules": [{"id": str(i), "smiles": s} for i, s in
                                                enumerate(tiny_model.data.smiles[:10])]})["molecules"]
    x = dense_matrix([m["features"] for m in featurized], 2048)
    context = CausalContext(compile_profile(profile), loaded_tiny.estimator, TINY_FEATURIZER, 2048)
    gathered = gather(featurized, context, x)
    predicted = loaded_tiny.estimator.predict(x)
    assert len(gathered) == 10
    for (_, evidence, summary), value in zip(gathered, predicted, strict=True):
        units = sum(e["contribution"] for e in evidence if e["additive"])
        assert summary["sum_of_substructures"] == pytest.approx(units, abs=1e-3)
        assert summary["baseline"] + units + summary["remainder"] == pytest.approx(value, abs=1e-3)


def test_a_profile_of_the_first_engine_is_not_served(profile):
    from services.causal.evidence import ProfileUnusable

    with pytest.raises(ProfileUnusable, match="earlier engine"):
        compile_profile(profile | {"version": 1})


def test_missing_profile_is_unknown_in_domain(tiny_env, tiny_model, loaded_tiny):
    validity = annotate(loaded_tiny, [tiny_model.data.smiles[0]])[0]["causal_validity"]
    assert validity["verdict"] == "unknown"
    assert validity["reasons"] == ["this model has no causal profile yet, so causal support was not assessed"]
    assert validity["mechanism"] is None and validity["evidence"] == []


@pytest.mark.parametrize("damage", ["failed", "garbage", "truncated"])
def test_unusable_profile_is_unknown_with_a_reason(profiled_env, tiny_model, loaded_tiny, profile, damage):
    path = profiled_env / "tiny" / "1" / PROFILE_FILE
    if damage == "failed":
        path.write_text(json.dumps({"status": "failed", "error": "the build ran out of time"}))
    elif damage == "garbage":
        path.write_text("{not json")
    else:
        broken = copy.deepcopy(profile)
        del broken["mechanisms"]
        path.write_text(json.dumps(broken))
    validity = annotate(loaded_tiny, [tiny_model.data.smiles[0]])[0]["causal_validity"]
    assert validity["verdict"] == "unknown"
    assert len(validity["reasons"]) == 1 and "causal profile" in validity["reasons"][0]


def test_a_profile_written_later_is_picked_up(tiny_env, tiny_model, loaded_tiny, profile, settings_env, tmp_path):
    shutil.copytree(tiny_model.root / "tiny", tmp_path / "tiny")
    settings_env(CAUSALMOL_MODELS_DIR=str(tmp_path))
    assert annotate(loaded_tiny, [tiny_model.data.smiles[0]])[0]["causal_validity"]["verdict"] == "unknown"
    ModelStore(tmp_path).write_sidecar("tiny", 1, PROFILE_FILE, profile)
    assert annotate(loaded_tiny, [tiny_model.data.smiles[0]])[0]["causal_validity"]["mechanism"] is not None


def test_profile_carries_the_coverage_level_and_serving_reads_it(profile):
    coverage = profile["coverage"]
    assert 0 <= coverage["calibrated_similarity"] <= 1
    check = coverage["series_check"]  # scaffold folds over all 200 rows; the level applies only if it passes
    assert check["n"] == 200 and coverage["applied"] is check["passed"]
    assert coverage["well_covered_similarity"] == (coverage["calibrated_similarity"] if check["passed"] else None)
    assert "Murcko scaffolds" in profile["rules"]["coverage"]
    assert "isotonic" in profile["rules"]["coverage"] and "identical fingerprint bits" in profile["rules"]["coverage"]
    assert sum(b["n"] for b in coverage["per_similarity"]) == profile["dataset"]["rows_used"]
    assert "coverage" in profile["build"]["steps"]
    summary = compile_profile(profile).summary()
    assert summary["well_covered_similarity"] == coverage["well_covered_similarity"]
    older = copy.deepcopy(profile)
    del older["coverage"]
    assert compile_profile(older).summary()["well_covered_similarity"] is None


def test_profile_carries_the_confident_spread_and_serving_reads_it(profile):
    uncertainty = profile["uncertainty"]
    assert uncertainty["calibrated_spread"] > 0  # the tiny model is a random forest
    check = uncertainty["series_check"]
    assert check["n"] == 200 and uncertainty["applied"] is check["passed"]
    assert uncertainty["confident_spread"] == (uncertainty["calibrated_spread"] if check["passed"] else None)
    assert "non-decreasing (isotonic)" in profile["rules"]["uncertainty"]
    assert sum(b["n"] for b in uncertainty["per_spread_quantile"]) == profile["dataset"]["rows_used"]
    assert uncertainty["mae_confident"] <= uncertainty["mae_out_of_fold"] + 1e-9
    assert compile_profile(profile).summary()["confident_spread"] == uncertainty["confident_spread"]
    older = copy.deepcopy(profile)
    del older["uncertainty"]
    assert compile_profile(older).summary()["confident_spread"] is None


def test_annotation_applies_the_spread_condition(tiny_model, loaded_tiny, profile):
    """A level of 0 makes every spread above it too large: no such molecule is supported, and the reason says so."""
    featurized = featurize_chunk({"model": {"featurizer": TINY_FEATURIZER},
                                  "molecules": [{"id": str(i), "smiles": s} for i, s in
                                                enumerate(tiny_model.data.smiles[:40])]})["molecules"]
    strict = copy.deepcopy(profile)
    strict["uncertainty"]["confident_spread"] = 0.0
    context = CausalContext(compile_profile(strict), loaded_tiny.estimator, TINY_FEATURIZER, 2048)
    got = spreads(dense_matrix([m["features"] for m in featurized], 2048), context, len(featurized))
    assert all(s is not None for s in got) and sum(s > 0 for s in got) > 30, got
    index = NearestNeighbourIndex(pack_fingerprints([m["ad_bits"] for m in featurized]))
    annotate_molecules(featurized, index, 0.3, context)
    verdicts = [m["causal_validity"]["verdict"] for m in featurized]
    assert all(v != "supported" for v, s in zip(verdicts, got, strict=True) if s > 0)  # a spread of 0 is at the level
    assert any(r.startswith("the model's trees disagree (spread ") for m in featurized
               for r in m["causal_validity"]["reasons"])
