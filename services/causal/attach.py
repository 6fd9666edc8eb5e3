"""Attach a causal profile to a written model version: the last step of every training, reference models too."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from services.causal.evidence import PROFILE_VERSION
from services.causal.held_out import held_out_verdicts
from services.causal.profile import TrainingArrays, build_profile, stored_arrays
from services.featurizer.logic import load_features
from shared.datasets import MECHANISM_COLUMN, read_meta, read_rows
from shared.errors import InvalidRequest
from shared.model_store import CAUSAL_PROFILE_FILE, ModelStore

logger = logging.getLogger(__name__)


def training_arrays(datasets_dir: Path, manifest: dict[str, Any], rows: list[dict[str, str]]) -> TrainingArrays | None:
    """The features the version was trained on, from the dataset's features file; None when there is none
    (a version trained before the file existed, or a file since removed): the profile then featurizes."""
    key = manifest.get("features_key")
    if not key:
        return None
    try:
        features = load_features(datasets_dir, manifest["dataset"]["id"], key)
        if features["spec"] != manifest["featurizer"]:
            raise ValueError(f"features {key} were made with another featurizer")
        return stored_arrays(rows, features)
    except (InvalidRequest, ValueError) as exc:
        logger.warning("the profile of %s@%s featurizes again: %s", manifest["name"], manifest["version"], exc)
        return None


def attach_profile(models: ModelStore, datasets_dir: Path, manifest: dict[str, Any]) -> str:
    """Build and store the version's profile once (again when the stored one is from an earlier engine); its status.
    A failure is recorded in the profile, not raised: the version is already written and serves, with verdict
    ``unknown`` until a profile exists."""
    name, version = manifest["name"], manifest["version"]
    existing = models.read_sidecar(name, version, CAUSAL_PROFILE_FILE)
    current = existing is not None and existing.get("version") == PROFILE_VERSION
    if existing is not None and existing.get("status") != "failed" and (current or existing.get("status") != "ready"):
        return existing.get("status", "ready")
    if existing is not None and not current and existing.get("status") == "ready":
        logger.info("the causal profile of %s@%s is from an earlier engine: rebuilding it", name, version)
    dataset_id = manifest["dataset"]["id"]
    meta = read_meta(datasets_dir, dataset_id)
    asked = (manifest.get("provenance") or {}).get("causal") or {}
    try:
        rows = read_rows(datasets_dir, dataset_id)
        arrays = training_arrays(datasets_dir, manifest, rows)
        profile = build_profile(
            rows, meta.get("context_columns") or [],
            MECHANISM_COLUMN if meta.get("mechanism_column") else None,
            {"featurizer": manifest["featurizer"], "estimator": manifest["estimator"], "seed": manifest["seed"]},
            manifest["seed"], extra_smarts=asked.get("treatments") or [], confounder_columns=asked.get("confounders"),
            arrays=arrays,
        )
        # The card's "verdict against error": the served annotation judged on the held-out split.
        if (held_out := held_out_verdicts(models, manifest, profile, rows, arrays)) is not None:
            profile["held_out_verdicts"] = held_out
    except Exception as exc:  # the profile annotates the model; it is never a reason to lose the model
        logger.exception("causal profile of %s@%s failed", name, version)
        profile = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    models.write_sidecar(name, version, CAUSAL_PROFILE_FILE, profile)
    return profile.get("status", "ready")
