"""services/scoring/tasks.py: the registered task, its entry check, and the two online tasks chained."""

from __future__ import annotations

import json

import pytest

from services.featurizer.tasks import featurize_batch
from services.scoring.tasks import score_batch
from shared.celery_app import SCORE_TASK, PipelineTask, celery_app
from shared.jobs import get_job_store, new_job_record
from shared.messages import CHUNK_REQUEST_VERSION, MessageError
from shared.schemas import MoleculeResultSchema
from tests.unit.conftest import TINY_FEATURIZER


def test_registered_under_its_routed_name():
    task = celery_app.tasks[SCORE_TASK]
    assert task is score_batch._get_current_object()  # the module attribute is Celery's lazy proxy
    assert isinstance(task, PipelineTask)  # so a failure marks the job failed
    assert task.ends_job_on_success is True  # its chunk may be the job's last: the end is audited after it


def test_two_tasks_complete_a_two_chunk_job(tiny_env):
    store = get_job_store()
    store.create(new_job_record("j1", {"name": "tiny", "version": 1}, total=3, n_chunks=2))
    model = {"name": "tiny", "version": 1, "featurizer": TINY_FEATURIZER}
    chunks = [[{"id": "a", "smiles": "CCO"}, {"id": "b", "smiles": "C1CC"}], [{"id": "c", "smiles": "c1ccccc1O"}]]
    for index in (1, 0):  # chunks may finish in any order
        message = {"schema_version": CHUNK_REQUEST_VERSION, "job_id": "j1", "chunk": index, "model": model,
                   "molecules": chunks[index]}
        # what Celery passes on must survive JSON serialisation
        featurized = json.loads(json.dumps(featurize_batch(message)))
        assert score_batch(featurized) == {"job_id": "j1", "chunk": index, "stored": True, "n": len(chunks[index])}
    job = store.get("j1")
    assert job["status"] == "succeeded"
    assert [r["id"] for r in job["results"]] == ["a", "b", "c"]
    assert MoleculeResultSchema(many=True).validate(job["results"]) == {}
    assert job["results"][1]["error"]["code"] == "invalid_smiles"


def test_a_message_of_the_old_three_hop_chain_is_refused_clearly(tiny_env):
    # what predict.batch used to send on: no version, and the featurizer spec still in the model
    old = {"job_id": "j1", "chunk": 0, "model": {"name": "tiny", "version": 1, "featurizer": TINY_FEATURIZER},
           "molecules": []}
    with pytest.raises(MessageError, match="featurized chunk: missing field 'schema_version'"):
        score_batch(old)
