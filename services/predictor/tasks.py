"""Predictor Celery tasks (training; online prediction is ``score.batch``): thin, JSON in and out."""

from __future__ import annotations

from typing import Any

from services.predictor.training import fit_from_features
from shared.catalog import DEFAULT_INTERVAL_RULE
from shared.celery_app import TRAIN_TASK, PipelineTask, celery_app
from shared.config import get_settings
from shared.model_store import ModelStore


@celery_app.task(name=TRAIN_TASK, base=PipelineTask)
def train(message: dict[str, Any]) -> dict[str, Any]:
    """Training step 2: evaluate, calibrate, refit and write a new immutable version; the next step profiles it."""
    settings = get_settings()
    store = ModelStore(settings.models_dir)
    manifest = store.version_made_by(message["name"], message["job_id"]) or fit_from_features(
        store, message["name"], message["dataset_id"], settings.datasets_dir, message["features_key"],
        message["featurizer"], message["estimator"], message["split"], message["seed"],
        # What the causal profile is asked to do travels with the version: the profile step reads it back.
        provenance={"job_id": message["job_id"], **({"causal": message["causal"]} if message.get("causal") else {}),
                    **({"project": message["project"]} if message.get("project") else {})},  # the owner
        interval_rule=message.get("intervals", DEFAULT_INTERVAL_RULE),  # absent in a message queued before it
    )
    return {**message, "version": manifest["version"]}
