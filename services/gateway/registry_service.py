"""Datasets, model versions and causal-effect questions: validation at the door, the work on the workers."""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from typing import Any

from services.gateway import scoping
from services.gateway.audit_api import note
from services.gateway.auth import current_project
from services.gateway.service import start_job
from services.gateway.uploads import csv_header, require_columns
from shared import catalog
from shared.celery_app import (
    EFFECT_TASK,
    FEATURIZE_DATASET_TASK,
    INGEST_DATASET_TASK,
    PROFILE_TASK,
    TRAIN_TASK,
)
from shared.config import Settings
from shared.datasets import MECHANISM_COLUMN, DatasetNotFound, dataset_id_for, read_meta
from shared.errors import CausalmolError, InvalidRequest, SmartsTooComplex
from shared.jobs import JobStore
from shared.model_store import CAUSAL_PROFILE_FILE, ModelStore, parse_model_ref
from shared.verdicts import verdict_rules

logger = logging.getLogger(__name__)
DATASET_ID_MAX_LENGTH = 64  # ids are "ds_" and 24 hex digits (shared.datasets.dataset_id_for)
MAX_SMARTS_LENGTH = 200
MAX_SMARTS_COMPONENTS = 3


class ProfileNotFound(CausalmolError):
    status, code = 404, "profile_not_found"


def dataset_meta(settings: Settings, dataset_id: str) -> dict[str, Any]:
    """A dataset's metadata. An id too long to be one (or to name a file) is a 404 like any unknown id."""
    if len(dataset_id) > DATASET_ID_MAX_LENGTH:
        raise DatasetNotFound("no dataset with that id", {"dataset_id": dataset_id[:DATASET_ID_MAX_LENGTH] + "..."})
    return scoping.check_dataset(read_meta(settings.datasets_dir, dataset_id))


def existing_dataset(settings: Settings, dataset_id: str) -> dict[str, Any] | None:
    try:
        return dataset_meta(settings, dataset_id)
    except DatasetNotFound:
        return None


def submit_dataset(
    content: bytes, file_format: str, mapping: dict[str, Any], filename: str, settings: Settings, store: JobStore
) -> tuple[str, dict[str, Any] | None, dict[str, Any] | None]:
    """(dataset_id, its metadata if it already exists, else the ingestion job)."""
    if not mapping.get("activity"):
        raise InvalidRequest("the mapping must name the activity column", {"fields": {"mapping": ["activity"]}})
    if file_format == "csv":
        wanted = {role: mapping.get(role) for role in ("structure", "activity", "id", "mechanism")}
        wanted["structure"] = wanted["structure"] or "smiles"
        wanted.update({f"context:{c}": c for c in mapping.get("context") or []})  # null: none, as the featurizer
        require_columns(csv_header(content), wanted)
    project = current_project()
    dataset_id = dataset_id_for(content, mapping, project)
    note(details={"dataset_id": dataset_id, "sha256": hashlib.sha256(content).hexdigest()})
    meta = existing_dataset(settings, dataset_id)
    if meta is not None:
        return dataset_id, meta, None
    uploads = settings.datasets_dir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    upload = uploads / f"{dataset_id}.{file_format}"
    staging = uploads / f".{uuid.uuid4().hex}"
    staging.write_bytes(content)
    os.replace(staging, upload)  # the worker never sees a half-written upload
    message = {"dataset_id": dataset_id, "upload": str(upload), "format": file_format, "mapping": mapping,
               "filename": filename, **({"project": project} if project else {})}
    return dataset_id, None, start_job(store, "dataset", [message], (INGEST_DATASET_TASK,))


def submit_training(request: dict[str, Any], settings: Settings, store: JobStore) -> dict[str, Any]:
    """featurize the dataset -> fit and write the version -> build its causal profile."""
    meta = dataset_meta(settings, request["dataset_id"])
    scoping.claim_name(ModelStore(settings.models_dir), request["name"])
    featurizer = catalog.resolve_spec("featurizer", catalog.FEATURIZERS, request["featurizer"])
    estimator = catalog.resolve_spec("estimator", catalog.ESTIMATORS, request["estimator"])
    if request["split"] == "context" and not meta.get("context_columns"):
        raise InvalidRequest("split 'context' needs a dataset with context columns", {"dataset_id": meta["dataset_id"]})
    columns = list(meta.get("context_columns", [])) + ([MECHANISM_COLUMN] if meta.get("mechanism_column") else [])
    unknown = [c for c in request.get("confounders") or [] if c not in columns]
    if unknown:
        raise InvalidRequest(f"the dataset has no column {unknown}", {"unknown": unknown, "available_columns": columns})
    for smarts in request.get("treatments") or []:
        check_smarts(smarts)
    message = {"name": request["name"], "dataset_id": meta["dataset_id"], "featurizer": featurizer,
               "estimator": estimator, "split": request["split"], "seed": request["seed"],
               "intervals": request.get("intervals", catalog.DEFAULT_INTERVAL_RULE),
               "causal": {"treatments": list(dict.fromkeys(request.get("treatments") or [])),
                          "confounders": request.get("confounders")},
               **({"project": current_project()} if current_project() else {})}
    note(details={"dataset_id": meta["dataset_id"], "name": request["name"]})
    return start_job(store, "training", [message], (FEATURIZE_DATASET_TASK, TRAIN_TASK, PROFILE_TASK),
                     model={"name": request["name"], "version": None})


def check_smarts(smarts: str) -> None:
    """String-level bounds on a treatment SMARTS (the gateway holds no RDKit): past them, 400 smarts_too_complex.

    Substructure matching cost grows about 15-fold with each extra dot-separated component: six
    (``[#6].[#6].[#6].[#6].[#6].[U]``) held a causal worker 35-43 s, and predictions queued behind it.
    """
    components = smarts.count(".") + 1
    if len(smarts) > MAX_SMARTS_LENGTH or components > MAX_SMARTS_COMPONENTS:
        raise SmartsTooComplex(
            f"a treatment SMARTS may have at most {MAX_SMARTS_LENGTH} characters and {MAX_SMARTS_COMPONENTS} "
            f"dot-separated components; this one has {len(smarts)} and {components}",
            {"length": len(smarts), "components": components, "max_length": MAX_SMARTS_LENGTH,
             "max_components": MAX_SMARTS_COMPONENTS},
        )


def submit_causal_effect(request: dict[str, Any], settings: Settings, store: JobStore) -> dict[str, Any]:
    if "smarts" in request["treatment"]:
        check_smarts(request["treatment"]["smarts"])
    meta = dataset_meta(settings, request["dataset_id"])
    columns = list(meta.get("context_columns", [])) + ([MECHANISM_COLUMN] if meta.get("mechanism_column") else [])
    treatment_column = request["treatment"].get("column")
    asked = list(request["confounders"]) + list(request.get("effect_modifiers") or []) + (
        [treatment_column] if treatment_column else [])
    unknown = [c for c in asked if c not in columns]
    if unknown:
        raise InvalidRequest(f"the dataset has no column {unknown}", {"unknown": unknown, "available_columns": columns})
    question = {key: request[key] for key in ("treatment", "outcome", "confounders", "effect_modifiers", "estimators",
                                                 "refuters", "seed") if key in request}
    return start_job(store, "causal_effect", [{"dataset_id": meta["dataset_id"], "question": question}],
                     (EFFECT_TASK,))


def model_card(models: ModelStore, ref: str) -> dict[str, Any]:
    manifest = scoping.resolve(models, ref, allow_retired=True)
    profile = models.read_sidecar(manifest["name"], manifest["version"], CAUSAL_PROFILE_FILE)
    status = "missing" if profile is None else profile.get("status", "ready")
    return {**manifest, "causal_profile": {"status": status}}


def list_models(models: ModelStore) -> list[dict[str, Any]]:
    listing = []
    for name in scoping.visible_names(models):
        versions = [models.manifest(name, v) for v in models.versions(name)]
        listing.append({
            "name": name,
            "latest": next((m["version"] for m in reversed(versions) if not m["retired"]), None),
            "versions": [{"version": m["version"], "created_at": m["created_at"], "retired": m["retired"],
                          "estimator": m["estimator"]["name"], "featurizer": m["featurizer"]["name"]}
                         for m in versions],
        })
    return listing


def retire_model(models: ModelStore, ref: str, reason: str = "") -> dict[str, Any]:
    name, version = parse_model_ref(ref)
    if version is None:
        raise InvalidRequest("retire one version at a time: name@version", {"model": ref})
    scoping.resolve(models, ref, allow_retired=True, write=True)
    note(model=f"{name}@{version}", details={"reason": reason})
    models.retire(name, version)
    logger.info("model %s@%d retired", name, version)
    return model_card(models, ref)


def causal_profile(models: ModelStore, ref: str) -> dict[str, Any]:
    manifest = scoping.resolve(models, ref, allow_retired=True)
    profile = models.read_sidecar(manifest["name"], manifest["version"], CAUSAL_PROFILE_FILE)
    if profile is None:
        raise ProfileNotFound(f"model {manifest['name']}@{manifest['version']} has no causal profile (yet)",
                              {"model": f"{manifest['name']}@{manifest['version']}"})
    if isinstance(profile.get("rules"), dict):  # the verdict rule served now, not the one of the profile's build
        profile["rules"]["verdict"] = verdict_rules()
    return profile
