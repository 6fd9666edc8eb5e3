"""services/predictor/tasks.py: the registered task predicts a featurized chunk with the pinned model."""

from __future__ import annotations

from services.featurizer.logic import featurize_chunk
from services.predictor.tasks import predict_batch
from shared.celery_app import PREDICT_TASK, PipelineTask, celery_app
from tests.unit.conftest import TINY_FEATURIZER


def test_registered_under_its_routed_name():
    task = celery_app.tasks[PREDICT_TASK]
    assert task is predict_batch._get_current_object()  # the module attribute is Celery's lazy proxy
    assert isinstance(task, PipelineTask)  # so a failure marks the job failed


def test_predicts_with_the_model_named_in_the_message(tiny_env):
    message = featurize_chunk({
        "job_id": "j1", "chunk": 0, "model": {"name": "tiny", "version": 1, "featurizer": TINY_FEATURIZER},
        "molecules": [{"id": "0", "smiles": "CCO"}, {"id": "1", "smiles": "C1CC"}],
    })
    out = predict_batch(message)
    half_width = tiny_env.manifest["interval"]["half_width"]
    value = out["molecules"][0]["prediction"]["value"]
    assert out["molecules"][0]["prediction"]["interval"] == [round(value - half_width, 4), round(value + half_width, 4)]
    assert out["molecules"][1]["prediction"] is None
