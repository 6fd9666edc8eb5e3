"""services/scoring/logic.py: one process predicts, annotates and stores a chunk, loading the model once."""

from __future__ import annotations

import pytest

import services.predictor.loader as loader
from services.featurizer.logic import featurize_chunk
from services.scoring.logic import score_chunk
from shared.jobs import MemoryJobStore, full_tally, new_job_record
from shared.messages import CHUNK_REQUEST_VERSION, featurized_chunk
from shared.schemas import VERDICTS, MoleculeResultSchema
from shared.verdicts import verdict_counts
from tests.unit.conftest import TINY_FEATURIZER


def scoring_message(smiles: list[str], job_id: str = "j1", chunk: int = 0) -> dict:
    """A chunk as score.batch receives it: the featurizer's typed output."""
    request = {"schema_version": CHUNK_REQUEST_VERSION, "job_id": job_id, "chunk": chunk,
               "model": {"name": "tiny", "version": 1, "featurizer": TINY_FEATURIZER},
               "molecules": [{"id": f"m{i}", "smiles": s} for i, s in enumerate(smiles)]}
    return featurized_chunk(request, featurize_chunk(request)["molecules"])


def job_store(total: int, n_chunks: int = 1) -> MemoryJobStore:
    store = MemoryJobStore()
    store.create(new_job_record("j1", {"name": "tiny", "version": 1}, total=total, n_chunks=n_chunks))
    return store


@pytest.fixture
def loads(monkeypatch):
    """Every estimator file the process-wide model cache reads from disk."""
    seen: list[str] = []
    real = loader.joblib.load

    def counting(path, *args, **kwargs):
        seen.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(loader.joblib, "load", counting)
    return seen


def test_stores_public_results_and_returns_the_receipt(tiny_env):
    store = job_store(total=3)
    receipt = score_chunk(scoring_message(["CCO", "C1CC", "c1ccccc1O"]), store)
    assert receipt == {"job_id": "j1", "chunk": 0, "stored": True, "n": 3}
    job = store.get("j1")
    assert job["status"] == "succeeded"
    assert MoleculeResultSchema(many=True).validate(job["results"]) == {}
    good, bad, _ = job["results"]
    assert good["prediction"]["value"] is not None and good["causal_validity"]["verdict"] in VERDICTS
    assert (bad["prediction"], bad["causal_validity"], bad["error"]["code"]) == (None, None, "invalid_smiles")
    assert not any("features" in r or "ad_bits" in r for r in job["results"])  # they end in this process


def test_a_redelivered_chunk_is_stored_once(tiny_env):
    store = job_store(total=2, n_chunks=2)
    first = score_chunk(scoring_message(["CCO"]), store)
    again = score_chunk(scoring_message(["CCO"]), store)
    assert (first["stored"], again["stored"]) == (True, False)
    assert store.record("j1")["done"] == 1


def test_prediction_and_attributions_share_one_model_load(profiled_env, tiny_model, loads):
    store = job_store(total=6, n_chunks=2)
    for chunk in (0, 1):
        score_chunk(scoring_message(tiny_model.data.smiles[3 * chunk: 3 * chunk + 3], chunk=chunk), store)
    assert len(loads) == 1, loads  # once per process: not once per step, nor per chunk
    results = store.get("j1")["results"]
    # the annotation used the estimator: attributions (evidence) need it, and they are there
    assert all(r["causal_validity"]["evidence"] for r in results)
    # each chunk was stored with its verdict counts, so the job's end need not read the results back
    assert full_tally(store.record("j1")) == verdict_counts(results)
    assert sum(verdict_counts(results).values()) == 6


def test_the_feature_matrix_is_built_once_and_the_results_are_unchanged(profiled_env, tiny_model, monkeypatch):
    """score_chunk hands its one matrix to prediction and annotation: same results as each building its own."""
    import services.causal.logic as causal_logic
    import services.predictor.logic as predictor_logic
    from services.causal.logic import annotate_chunk
    from services.predictor.logic import predict_chunk

    smiles = [*tiny_model.data.smiles[:4], "C1CC", "CCCCCCCCCCCCCCCC"]
    separate = job_store(total=len(smiles))
    annotate_chunk(predict_chunk(scoring_message(smiles)), separate)  # each step builds its own matrix

    built: list[int] = []
    for module in (predictor_logic, causal_logic):
        real = module.dense_matrix
        monkeypatch.setattr(module, "dense_matrix", lambda rows, n, real=real: built.append(len(rows)) or real(rows, n))
    shared = job_store(total=len(smiles))
    score_chunk(scoring_message(smiles), shared)
    assert built == [5]  # one matrix of the five parsed molecules
    assert shared.get("j1")["results"] == separate.get("j1")["results"]


def test_the_stored_results_are_those_of_the_straightforward_path_byte_for_byte(profiled_env, tiny_model,
                                                                                 monkeypatch):
    """The scoring path's shortcuts (one SMILES call per partition, the chunk's per-atom attributions at once, the
    parse without stereo perception, uint8 similarity sums, the compiled dump) against the plain way of each: a
    unit-by-unit partition, one bit-info map per molecule, MolFromSmiles, int32 sums and the schema's dump."""
    import json

    import numpy as np
    from rdkit import Chem

    import services.causal.attributions as attributions
    import services.causal.evidence as evidence
    import services.causal.logic as causal_logic
    from shared.applicability import NearestNeighbourIndex
    from tests.unit.test_causal_substructures import _partition_unit_by_unit

    smiles = [*tiny_model.data.smiles[:24], "C1CC", "CCO", "c1ccccc1-c1ccncc1", "[H]OC", "C[C@H](N)C(=O)O"]
    fast = job_store(total=len(smiles))
    score_chunk(scoring_message(smiles), fast)

    def per_molecule(phi, x, mols, radius, n_morgan):
        return [attributions.atom_attributions(phi[i], x[i], attributions.environment_centres(m, radius, n_morgan),
                                               m.GetNumAtoms(), n_morgan) for i, m in enumerate(mols)]

    def int32_similarities(self, on_bits):
        shared = self.by_bit[on_bits].sum(axis=0, dtype=np.int32)
        return shared / (self.counts + len(on_bits) - shared)

    monkeypatch.setattr(attributions, "partition", _partition_unit_by_unit)
    monkeypatch.setattr(attributions, "chunk_atom_attributions", per_molecule)
    monkeypatch.setattr(evidence, "parse", Chem.MolFromSmiles)
    monkeypatch.setattr(NearestNeighbourIndex, "similarities", int32_similarities)
    monkeypatch.setattr(causal_logic, "_dump_result", MoleculeResultSchema().dump)
    plain = job_store(total=len(smiles))
    score_chunk(scoring_message(smiles), plain)
    results = fast.get("j1")["results"]
    assert any(r["causal_validity"] and r["causal_validity"]["evidence"] for r in results)
    assert json.dumps(results) == json.dumps(plain.get("j1")["results"])


def test_the_long_lived_objects_are_frozen_once_per_model_after_its_first_chunk(tiny_env, monkeypatch):
    import services.scoring.logic as scoring_logic

    freezes: list[int] = []
    monkeypatch.setattr(scoring_logic, "_frozen", set())
    monkeypatch.setattr(scoring_logic.gc, "freeze", lambda: freezes.append(len(freezes)))
    real = scoring_logic.annotate_chunk
    monkeypatch.setattr(scoring_logic, "annotate_chunk", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):  # a first chunk that fails freezes nothing: its model may not be loaded
        score_chunk(scoring_message(["CCO"]), job_store(total=1))
    assert freezes == []
    monkeypatch.setattr(scoring_logic, "annotate_chunk", real)
    for _ in range(3):
        score_chunk(scoring_message(["CCO"]), job_store(total=1))
    assert freezes == [0]  # the model, its explainer and its profile are loaded by then: frozen once
