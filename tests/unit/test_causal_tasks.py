"""services/causal/tasks.py: the registered task, and the three pipeline tasks chained in one process."""

from __future__ import annotations

import json

from services.causal.tasks import causal_annotate
from services.featurizer.tasks import featurize_batch
from services.predictor.tasks import predict_batch
from shared.celery_app import ANNOTATE_TASK, PipelineTask, celery_app
from shared.jobs import get_job_store, new_job_record
from shared.schemas import MoleculeResultSchema
from tests.unit.conftest import TINY_FEATURIZER


def test_registered_under_its_routed_name():
    task = celery_app.tasks[ANNOTATE_TASK]
    assert task is causal_annotate._get_current_object()  # the module attribute is Celery's lazy proxy
    assert isinstance(task, PipelineTask)  # so a failure marks the job failed


def test_three_tasks_complete_a_two_chunk_job(tiny_env):
    store = get_job_store()
    store.create(new_job_record("j1", {"name": "tiny", "version": 1}, total=3, n_chunks=2))
    model = {"name": "tiny", "version": 1, "featurizer": TINY_FEATURIZER}
    chunks = [[{"id": "a", "smiles": "CCO"}, {"id": "b", "smiles": "C1CC"}], [{"id": "c", "smiles": "c1ccccc1O"}]]
    for index in (1, 0):  # chunks may finish in any order
        message = {"job_id": "j1", "chunk": index, "model": model, "molecules": chunks[index]}
        # each step's output is what Celery would pass on: it must survive JSON serialisation
        featurized = json.loads(json.dumps(featurize_batch(message)))
        predicted = json.loads(json.dumps(predict_batch(featurized)))
        summary = causal_annotate(predicted)
        assert summary == {"job_id": "j1", "chunk": index, "stored": True, "n": len(chunks[index])}
    job = store.get("j1")
    assert job["status"] == "succeeded"
    assert [r["id"] for r in job["results"]] == ["a", "b", "c"]
    assert MoleculeResultSchema(many=True).validate(job["results"]) == {}
    assert job["results"][1]["error"]["code"] == "invalid_smiles"
