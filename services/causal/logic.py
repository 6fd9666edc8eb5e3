"""Annotate a predicted chunk with causal validity and store it as the job's results for that chunk."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from threading import Lock
from typing import Any, cast

import numpy as np
from marshmallow import Schema, fields

from services.causal.evidence import (
    CausalContext,
    ProfileUnusable,
    ServingProfile,
    compile_profile,
    gather,
    spreads,
)
from services.causal.profile import PROFILE_FILE
from services.causal.verdict import judge
from services.predictor.loader import get_model_cache
from services.predictor.logic import training_index
from services.predictor.training import dense_matrix
from shared.applicability import NearestNeighbourIndex
from shared.config import get_settings
from shared.jobs import JobStore, get_job_store
from shared.messages import ChunkReceipt, FeaturizedChunk
from shared.model_store import ModelStore
from shared.neighbours import TRAINING_ROWS_FILE, TrainingRows
from shared.schemas import COMPACT, MoleculeResultSchema, compact_result_schema
from shared.verdicts import verdict_counts

logger = logging.getLogger(__name__)
_PROFILES: OrderedDict[tuple, ServingProfile | str] = OrderedDict()  # compiled profile, or why it is unusable
_PROFILES_LOCK = Lock()
PROFILE_CACHE_SIZE = 8


def _leaf(field: fields.Field) -> Callable[[Any], Any]:
    """The field's own serialisation of a value that is not None; the builtin itself where the field is one."""
    kind = type(field)
    if kind in (fields.Float, fields.Integer) and not getattr(field, "as_string", False):  # Number's option
        return float if kind is fields.Float else int
    exact = {fields.String: str, fields.Boolean: bool}.get(kind)
    if exact is not None:
        return lambda value: value if type(value) is exact else field._serialize(value, None, None)
    return lambda value: field._serialize(value, None, None)


def _converter(field: fields.Field) -> Callable[[Any], Any]:
    if isinstance(field, fields.Nested):
        nested = compile_dump(field.schema)
        return (lambda values: [nested(v) for v in values]) if field.many or field.schema.many else nested
    if isinstance(field, fields.List):
        inner = _converter(field.inner)
        return lambda values: [None if v is None else inner(v) for v in values]
    return _leaf(field)


def compile_dump(schema: Schema) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """``schema.dump(obj)`` for one dict, as plain dict building: the schema's dumped fields in its order (its
    exclusions included), a missing key left out, None kept, each value as its field serialises it. The marshmallow
    machinery (a lookup and three calls per value) was 13% of annotating; a unit test holds the two equal."""
    plan = [(name, field.data_key or name, _converter(field)) for name, field in schema.dump_fields.items()]

    def dump(obj: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for name, key, convert in plan:
            if name in obj:
                value = obj[name]
                out[key] = None if value is None else convert(value)
        return out

    return dump


_dump_result = compile_dump(MoleculeResultSchema())
_dump_compact = compile_dump(compact_result_schema())


@lru_cache(maxsize=8)
def domain_index(name: str, version: int) -> tuple[NearestNeighbourIndex, float]:
    """The version's training fingerprints and domain threshold; the fingerprints are the very index the
    predictor's neighbour-distance sigma reads (one load per process, not two)."""
    models_dir = get_settings().models_dir
    manifest = ModelStore(models_dir).resolve(f"{name}@{version}", allow_retired=True)
    return training_index(str(models_dir), name, version), float(manifest["applicability_domain"]["threshold"])


@lru_cache(maxsize=8)
def training_rows(name: str, version: int) -> TrainingRows | None:
    """The rows behind the version's domain fingerprints (checksum-verified); None for a version written before."""
    store = ModelStore(get_settings().models_dir)
    manifest = store.resolve(f"{name}@{version}", allow_retired=True)
    if TRAINING_ROWS_FILE not in manifest.get("files", {}):
        return None
    return TrainingRows.parse(store.verified_file(manifest, TRAINING_ROWS_FILE).read_text())


def neighbourhood(index: NearestNeighbourIndex, rows: TrainingRows | None,
                  on_bits: list[int]) -> tuple[float, list[dict[str, Any]] | None]:
    """The nearest-neighbour similarity and, when the rows are known, the nearest training molecules (one pass)."""
    if not on_bits or len(index.counts) == 0:
        return 0.0, None if rows is None else []
    similarity = index.similarities(on_bits)
    return round(float(similarity.max()), 4), None if rows is None else rows.nearest(similarity)


def load_profile(store: ModelStore, name: str, version: int) -> ServingProfile | str | None:
    """The compiled profile; a string saying why it cannot be used; None when there is none (yet).

    Cached by file identity (path, mtime, size), so a profile written after the model version, or rebuilt, is
    picked up on the next chunk without a restart.
    """
    path = store.version_dir(name, version) / PROFILE_FILE
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    with _PROFILES_LOCK:
        if key in _PROFILES:
            _PROFILES.move_to_end(key)
            return _PROFILES[key]
    try:
        compiled: ServingProfile | str = compile_profile(store.read_sidecar(name, version, PROFILE_FILE) or {})
    except ProfileUnusable as exc:
        compiled = str(exc)
    except Exception as exc:  # noqa: BLE001  (a damaged profile degrades the verdict, it never fails the job)
        logger.warning("causal profile of %s@%s is unreadable: %s", name, version, exc)
        compiled = f"the causal profile could not be read ({type(exc).__name__})"
    with _PROFILES_LOCK:
        _PROFILES[key] = compiled
        while len(_PROFILES) > PROFILE_CACHE_SIZE:
            _PROFILES.popitem(last=False)
    return compiled


def causal_context(name: str, version: int) -> tuple[CausalContext | None, str | None]:
    """The model's causal context for annotation, or (None, why not); None, None when it has no profile."""
    profile = load_profile(ModelStore(get_settings().models_dir), name, version)
    if profile is None or isinstance(profile, str):
        return None, profile
    try:
        loaded = get_model_cache().get(name, version)
    except Exception as exc:  # noqa: BLE001  (e.g. retired since the job started: judge without attributions)
        logger.warning("estimator of %s@%s unavailable for attributions: %s", name, version, exc)
        return None, f"the model's estimator could not be loaded for attributions ({type(exc).__name__})"
    manifest = loaded.manifest
    sigma_kind = (manifest.get("interval", {}).get("sigma") or {}).get("kind")
    return CausalContext(profile, loaded.estimator, manifest["featurizer"], int(manifest["n_features"]),
                         sigma_kind), None


def annotate_molecules(
    molecules: list[dict[str, Any]],
    index: NearestNeighbourIndex,
    threshold: float,
    causal: CausalContext | None = None,
    problem: str | None = None,
    rows: TrainingRows | None = None,
    x: np.ndarray | None = None,
) -> None:
    """Each molecule gains ``causal_validity``; ``problem`` says why an existing profile could not be used; with
    ``rows`` its domain names the nearest training molecules; ``x``: the parsed molecules' features, when the
    caller (the scoring step, which predicted from it) has the matrix already."""
    ok = [m for m in molecules if m["error"] is None]
    gathered: list[tuple[dict | None, list[dict], dict | None]] = [(None, [], None)] * len(ok)
    spread: list[float | None] = [None] * len(ok)
    if x is None and causal is not None and ok and all(m.get("features") is not None for m in ok):
        x = dense_matrix([m["features"] for m in ok], causal.n_features)  # once, for attributions and spread
    if causal is not None:
        try:
            gathered = gather(ok, causal, x)
        except Exception as exc:  # noqa: BLE001  (evidence is an annotation: its failure must not fail the chunk)
            logger.exception("causal evidence failed")
            causal, problem = None, f"the causal evidence could not be computed ({type(exc).__name__})"
    if causal is not None:
        try:
            spread = spreads(x, causal, len(ok), [(m.get("prediction") or {}).get("sigma") for m in ok])
        except Exception:  # noqa: BLE001  (no spread: the uncertainty condition is skipped, the rest stands)
            logger.exception("tree spread failed")
    summary = causal.profile.summary() if causal is not None else None
    for molecule in molecules:
        molecule["causal_validity"] = None
    for molecule, (mechanism, evidence, attribution), tree_spread in zip(ok, gathered, spread, strict=True):
        similarity, neighbours = neighbourhood(index, rows, molecule["ad_bits"])
        domain: dict[str, Any] = {"max_similarity": similarity, "in_domain": similarity >= threshold,
                                  "threshold": threshold}
        if neighbours is not None:
            domain["neighbours"] = neighbours
        molecule["causal_validity"] = judge(domain, profile=summary, mechanism=mechanism, evidence=evidence,
                                            problem=problem, spread=tree_spread, attribution=attribution)


def annotate_chunk(message: FeaturizedChunk, store: JobStore | None = None,
                   x: np.ndarray | None = None) -> ChunkReceipt:
    """Scoring, second half (after ``predict_chunk``, whose feature matrix ``x`` may be passed on): annotate, then
    write the chunk's public results once (idempotent on redelivery)."""
    ref = message["model"]
    index, threshold = domain_index(ref["name"], ref["version"])
    causal, problem = causal_context(ref["name"], ref["version"])
    rows = training_rows(ref["name"], ref["version"])
    # The typed message's molecules are the plain JSON dicts the annotation reads and extends.
    molecules = cast(list[dict[str, Any]], message["molecules"])
    annotate_molecules(molecules, index, threshold, causal, problem, rows, x)
    # A compact job (a REINVENT step) stores no evidence, attribution or neighbours: less to write, keep and send.
    compact = message.get("response") == COMPACT
    dump = _dump_compact if compact else _dump_result
    results = [dump(molecule) for molecule in molecules]
    store = store or get_job_store()
    stored = store.save_chunk(message["job_id"], message["chunk"], results, tally=verdict_counts(results))
    if compact:
        store.shorten_ttl(message["job_id"], get_settings().compact_result_ttl_seconds, message["chunk"])
    return {"job_id": message["job_id"], "chunk": message["chunk"], "stored": stored, "n": len(results)}
