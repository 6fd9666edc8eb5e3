"""Annotate a predicted chunk with causal validity and store it as the job's results for that chunk."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

import numpy as np

from services.causal.verdict import judge
from shared.applicability import AD_FILE, NearestNeighbourIndex
from shared.config import get_settings
from shared.jobs import JobStore, get_job_store
from shared.model_store import ModelStore
from shared.schemas import MoleculeResultSchema

logger = logging.getLogger(__name__)
_result_schema = MoleculeResultSchema(many=True)


@lru_cache(maxsize=8)
def domain_index(name: str, version: int) -> tuple[NearestNeighbourIndex, float]:
    store = ModelStore(get_settings().models_dir)
    manifest = store.resolve(f"{name}@{version}", allow_retired=True)
    packed = np.load(store.verified_file(manifest, AD_FILE))
    return NearestNeighbourIndex(packed), float(manifest["applicability_domain"]["threshold"])


def annotate_molecules(molecules: list[dict[str, Any]], index: NearestNeighbourIndex, threshold: float) -> None:
    for molecule in molecules:
        if molecule["error"] is not None:
            molecule["causal_validity"] = None
            continue
        similarity = round(index.max_similarity(molecule["ad_bits"]), 4)
        domain = {"max_similarity": similarity, "in_domain": similarity >= threshold, "threshold": threshold}
        molecule["causal_validity"] = judge(domain, profile=None)


def annotate_chunk(message: dict[str, Any], store: JobStore | None = None) -> dict[str, Any]:
    """Pipeline step 3: annotate, then write the chunk's public results once (idempotent on redelivery)."""
    ref = message["model"]
    index, threshold = domain_index(ref["name"], ref["version"])
    annotate_molecules(message["molecules"], index, threshold)
    results = _result_schema.dump(message["molecules"])
    stored = (store or get_job_store()).save_chunk(message["job_id"], message["chunk"], results)
    return {"job_id": message["job_id"], "chunk": message["chunk"], "stored": stored, "n": len(results)}
