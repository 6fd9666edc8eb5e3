"""services/causal/tasks.py: the causal queue keeps the offline work; annotation moved to score.batch."""

from __future__ import annotations

import pytest

import services.causal.tasks as causal_tasks
from shared.celery_app import EFFECT_TASK, PROFILE_TASK, PipelineTask, celery_app


@pytest.mark.parametrize(("name", "task"), [(PROFILE_TASK, "causal_profile"), (EFFECT_TASK, "causal_effect")])
def test_registered_under_its_routed_name(name, task):
    registered = celery_app.tasks[name]
    assert registered is getattr(causal_tasks, task)._get_current_object()  # the attribute is Celery's lazy proxy
    assert isinstance(registered, PipelineTask)  # so a failure marks the job failed


def test_no_online_task_left_on_the_causal_queue():
    assert "causal.annotate" not in celery_app.tasks
