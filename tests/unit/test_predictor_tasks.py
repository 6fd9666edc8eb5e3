"""services/predictor/tasks.py: the predictor queue keeps training; online prediction moved to score.batch."""

from __future__ import annotations

import services.predictor.tasks as predictor_tasks
from shared.celery_app import TRAIN_TASK, PipelineTask, celery_app


def test_registered_under_its_routed_name():
    task = celery_app.tasks[TRAIN_TASK]
    assert task is predictor_tasks.train._get_current_object()  # the module attribute is Celery's lazy proxy
    assert isinstance(task, PipelineTask)  # so a failure marks the job failed


def test_no_online_task_left_on_the_predictor_queue():
    assert "predict.batch" not in celery_app.tasks
