"""services/causal/logic.py: domain lookup, annotation, and the stored public results of a chunk."""

from __future__ import annotations

import shutil

import pytest

from services.causal.logic import annotate_chunk, annotate_molecules, domain_index
from services.featurizer.logic import featurize_chunk
from services.predictor.logic import predict_chunk
from shared.applicability import NearestNeighbourIndex, pack_fingerprints
from shared.errors import ModelIntegrityError
from shared.jobs import MemoryJobStore, new_job_record
from shared.schemas import MoleculeResultSchema
from tests.unit.conftest import TINY_FEATURIZER, TINY_ROWS

METHANE = "C"  # tiny and unlike any AKT1 ligand: outside the domain


def pipeline_message(model, smiles, job_id="j1", chunk=0):
    """A chunk as the causal service receives it: featurized, then predicted with the tiny model."""
    message = {
        "job_id": job_id,
        "chunk": chunk,
        "model": {"name": model.manifest["name"], "version": model.manifest["version"], "featurizer": TINY_FEATURIZER},
        "molecules": [{"id": f"m{i}", "smiles": s} for i, s in enumerate(smiles)],
    }
    return predict_chunk(featurize_chunk(message), model=model)


@pytest.fixture
def job_store():
    store = MemoryJobStore()
    store.create(new_job_record("j1", {"name": "tiny", "version": 1}, total=3, n_chunks=1))
    return store


def test_domain_index_reads_the_model_version(tiny_env):
    index, threshold = domain_index("tiny", 1)
    assert threshold == tiny_env.manifest["applicability_domain"]["threshold"]
    assert len(index.counts) == TINY_ROWS
    assert domain_index("tiny", 1)[0] is index  # cached per process


def test_domain_index_refuses_a_tampered_fingerprint_file(settings_env, tiny_model, tmp_path):
    shutil.copytree(tiny_model.root / "tiny", tmp_path / "tiny")
    (tmp_path / "tiny" / "1" / "ad_fingerprints.npy").write_bytes(b"not the training set")
    settings_env(CAUSALMOL_MODELS_DIR=str(tmp_path))
    with pytest.raises(ModelIntegrityError):
        domain_index("tiny", 1)


def test_domain_index_serves_a_retired_version(settings_env, tiny_model, tmp_path):
    from shared.model_store import ModelStore

    shutil.copytree(tiny_model.root / "tiny", tmp_path / "tiny")
    ModelStore(tmp_path).retire("tiny", 1)
    settings_env(CAUSALMOL_MODELS_DIR=str(tmp_path))
    assert domain_index("tiny", 1)[1] == tiny_model.manifest["applicability_domain"]["threshold"]


def test_annotate_molecules():
    index = NearestNeighbourIndex(pack_fingerprints([[1, 2, 3], [10, 11]]))
    molecules = [
        {"id": "near", "error": None, "ad_bits": [1, 2, 3]},
        {"id": "far", "error": None, "ad_bits": [2, 3, 4, 5, 6, 7]},  # 2/7 = 0.2857
        {"id": "bad", "error": {"code": "invalid_smiles", "message": "x"}},
    ]
    annotate_molecules(molecules, index, threshold=0.5)
    near, far, bad = (m["causal_validity"] for m in molecules)
    assert near["verdict"] == "unknown"
    assert near["applicability_domain"] == {"max_similarity": 1.0, "in_domain": True, "threshold": 0.5}
    assert far["verdict"] == "caution"
    assert far["applicability_domain"] == {"max_similarity": 0.2857, "in_domain": False, "threshold": 0.5}
    assert bad is None


def test_annotate_chunk_stores_public_results(tiny_env, loaded_tiny, job_store):
    training_molecule = tiny_env.data.smiles[0]
    message = pipeline_message(loaded_tiny, [training_molecule, "C1CC", METHANE])
    summary = annotate_chunk(message, store=job_store)
    assert summary == {"job_id": "j1", "chunk": 0, "stored": True, "n": 3}

    job = job_store.get("j1")
    assert job["status"] == "succeeded"
    results = job["results"]
    assert MoleculeResultSchema(many=True).validate(results) == {}
    assert all(set(r) == {"id", "input_smiles", "canonical_smiles", "prediction", "causal_validity", "error"}
               for r in results)  # no features or fingerprints leak into the public results
    assert [r["id"] for r in results] == ["m0", "m1", "m2"]

    known, invalid, methane = results
    threshold = tiny_env.manifest["applicability_domain"]["threshold"]
    assert known["causal_validity"]["verdict"] == "unknown"
    assert known["causal_validity"]["applicability_domain"] == {"max_similarity": 1.0, "in_domain": True,
                                                                "threshold": threshold}
    assert known["prediction"]["unit"] == "pActivity"

    assert invalid["error"]["code"] == "invalid_smiles"
    assert invalid["prediction"] is None and invalid["causal_validity"] is None
    assert invalid["canonical_smiles"] is None and invalid["input_smiles"] == "C1CC"

    assert methane["causal_validity"]["verdict"] == "caution"
    assert methane["causal_validity"]["applicability_domain"]["max_similarity"] < threshold
    assert f"{threshold:.2f}" in methane["causal_validity"]["reasons"][0]
    assert methane["prediction"] is not None  # still predicted, only flagged


def test_annotate_chunk_is_idempotent_on_redelivery(tiny_env, loaded_tiny, job_store):
    first = annotate_chunk(pipeline_message(loaded_tiny, ["CCO", "CCN", "CCC"]), store=job_store)
    again = annotate_chunk(pipeline_message(loaded_tiny, ["CCO", "CCN", "CCC"]), store=job_store)
    assert (first["stored"], again["stored"]) == (True, False)
    assert job_store.record("j1")["done"] == 3


def test_annotate_chunk_uses_the_process_store_by_default(tiny_env, loaded_tiny):
    from shared.jobs import get_job_store

    store = get_job_store()  # embedded settings: the process-wide memory store
    store.create(new_job_record("j2", {"name": "tiny", "version": 1}, total=1, n_chunks=1))
    annotate_chunk(pipeline_message(loaded_tiny, ["CCO"], job_id="j2"))
    assert store.get("j2")["status"] == "succeeded"


def test_the_compiled_dump_is_the_schema_dump(profiled_env, tiny_model, loaded_tiny):
    """The stored results are built without marshmallow's machinery: the same JSON, byte for byte, as the schemas'
    dump, full and compact, on real annotated molecules (evidence, attribution, neighbours) and on values the
    schemas convert (an int where a float is declared, numpy scalars, None, a missing key, an unknown key)."""
    import json

    import numpy as np

    from services.causal.logic import _dump_compact, _dump_result, causal_context, training_rows
    from shared.schemas import compact_result_schema

    message = pipeline_message(loaded_tiny, [*tiny_model.data.smiles[:12], "C1CC", "CCO"])
    index, threshold = domain_index("tiny", 1)
    causal, problem = causal_context("tiny", 1)
    assert causal is not None
    annotate_molecules(message["molecules"], index, threshold, causal, problem, training_rows("tiny", 1))
    molecules = message["molecules"]
    assert any(m["causal_validity"] and m["causal_validity"]["evidence"] for m in molecules)
    odd = json.loads(json.dumps(molecules[0]))
    odd["prediction"] |= {"value": 7, "sigma": np.float32(0.25), "interval": [np.float64(6.5), 8]}
    odd["causal_validity"]["mechanism"] = {"id": "M1", "label": "x", "probability": 1, "focus": 1}
    odd["causal_validity"]["applicability_domain"]["in_domain"] = 1  # a Boolean passes a value through
    odd["causal_validity"]["evidence"][0] |= {"atoms": [np.int64(3), 1], "effect_ci": None, "unknown": 1}
    del odd["causal_validity"]["evidence"][0]["reliance"]
    del odd["canonical_smiles"]
    for schema, dump in ((MoleculeResultSchema(), _dump_result), (compact_result_schema(), _dump_compact)):
        for molecule in [*molecules, odd]:
            assert json.dumps(dump(molecule)) == json.dumps(schema.dump(molecule))
