"""services/featurizer/tasks.py: the registered task marks its job running and featurizes the chunk."""

from __future__ import annotations

import pytest

from services.featurizer.tasks import featurize_batch
from shared.celery_app import FEATURIZE_TASK, PipelineTask, celery_app
from shared.jobs import get_job_store, new_job_record
from shared.messages import CHUNK_REQUEST_VERSION, FEATURIZED_CHUNK_VERSION, MessageError, read_featurized_chunk
from tests.unit.conftest import TINY_FEATURIZER


def test_registered_under_its_routed_name():
    task = celery_app.tasks[FEATURIZE_TASK]
    assert task is featurize_batch._get_current_object()  # the module attribute is Celery's lazy proxy
    assert isinstance(task, PipelineTask)  # so a failure marks the job failed
    assert task.ends_job_on_success is False  # it hands its chunk on to scoring, which ends the job


def test_marks_running_and_featurizes(settings_env):
    settings_env()  # embedded: the process-wide memory store
    store = get_job_store()
    store.create(new_job_record("j1", {"name": "tiny", "version": 1}, total=2, n_chunks=1))
    message = {"schema_version": CHUNK_REQUEST_VERSION, "job_id": "j1", "chunk": 0,
               "model": {"name": "tiny", "version": 1, "featurizer": TINY_FEATURIZER},
               "molecules": [{"id": "0", "smiles": "CCO"}, {"id": "1", "smiles": "C1CC"}]}
    # Through Celery's tracer, in this process, as a worker runs it: the check before it starts marks the job
    out = featurize_batch.apply(args=(message,)).get()
    assert store.record("j1")["status"] == "running"
    assert out["molecules"][0]["canonical_smiles"] == "CCO"
    assert out["molecules"][1]["error"]["code"] == "invalid_smiles"
    # the scoring message: its own version, and the featurizer spec dropped (scoring reads the model's own)
    assert read_featurized_chunk(out) is out
    assert out["schema_version"] == FEATURIZED_CHUNK_VERSION
    assert out["model"] == {"name": "tiny", "version": 1}
    assert set(out["molecules"][0]) == {"id", "input_smiles", "canonical_smiles", "features", "ad_bits", "error"}


def test_a_request_of_an_unknown_version_is_refused_before_any_work(settings_env):
    settings_env()
    store = get_job_store()
    store.create(new_job_record("j2", {"name": "tiny", "version": 1}, total=1, n_chunks=1))
    message = {"schema_version": CHUNK_REQUEST_VERSION + 1, "job_id": "j2", "chunk": 0,
               "model": {"name": "tiny", "version": 1, "featurizer": TINY_FEATURIZER},
               "molecules": [{"id": "0", "smiles": "CCO"}]}
    with pytest.raises(MessageError, match="schema_version 2"):
        featurize_batch(message)
    assert store.record("j2")["status"] == "queued"
