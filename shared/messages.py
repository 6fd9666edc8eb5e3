"""The online path's stage messages: typed, versioned, and checked at each task's entry.

Two hops, each with one message (JSON dicts on the wire; the TypedDicts say what they hold):

- ``ChunkRequest`` (gateway -> ``featurize.batch``): the caller's molecules and the pinned model with its featurizer;
- ``FeaturizedChunk`` (``featurize.batch`` -> ``score.batch``): per molecule the canonical SMILES, features and
  applicability-domain bits, or its error. The featurizer spec is dropped here: scoring reads the model's own.

``score.batch`` returns a ``ChunkReceipt``; nothing reads past it, so features and AD bits never leave the scoring
process. A message of another version, or one missing a field, raises ``MessageError`` naming the message and the
field, not a ``KeyError`` deep in a step. Bump a version when a field changes meaning or a reader needs a new one,
and keep reading the old version while queued messages of it can still arrive.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

CHUNK_REQUEST_VERSION = 1
FEATURIZED_CHUNK_VERSION = 1


class MessageError(ValueError):
    """A stage message this worker cannot read: its version is unknown or a field is missing or mistyped."""


class ModelRef(TypedDict):
    name: str
    version: int


class FeaturizerModelRef(ModelRef):
    featurizer: dict[str, Any]


class SparseFeatures(TypedDict):
    indices: list[int]
    values: list[float]


class MoleculeInput(TypedDict):
    id: str
    smiles: NotRequired[str]
    molblock: NotRequired[str]  # SDF uploads


class FeaturizedMolecule(TypedDict):
    id: str
    input_smiles: str | None
    canonical_smiles: str | None
    error: dict[str, str] | None
    features: NotRequired[SparseFeatures]  # present exactly when error is None
    ad_bits: NotRequired[list[int]]
    prediction: NotRequired[dict[str, Any] | None]  # added in the scoring process, never sent on
    causal_validity: NotRequired[dict[str, Any] | None]


class ChunkRequest(TypedDict):
    schema_version: int
    job_id: str
    chunk: int
    model: FeaturizerModelRef
    molecules: list[MoleculeInput]
    response: NotRequired[str]  # "compact": results stored without evidence (shared.schemas.COMPACT)


class FeaturizedChunk(TypedDict):
    schema_version: int
    job_id: str
    chunk: int
    model: ModelRef
    molecules: list[FeaturizedMolecule]
    response: NotRequired[str]


class ChunkReceipt(TypedDict):
    job_id: str
    chunk: int
    stored: bool
    n: int


def _field(message: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(message, Mapping) or key not in message:
        raise MessageError(f"{where}: missing field '{key}'")
    value = message[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int to Python, never to us: a True version or chunk comes from a broken sender.
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
        raise MessageError(f"{where}: field '{key}' is {type(value).__name__}, not {names}")
    return value


def _envelope(message: Mapping[str, Any], what: str, version: int) -> None:
    """The fields every chunk message starts with: a known version, the job and the chunk index."""
    if not isinstance(message, Mapping):
        raise MessageError(f"{what}: a message is a JSON object, not {type(message).__name__}")
    found = _field(message, "schema_version", int, what)
    if found != version:
        raise MessageError(f"{what}: schema_version {found} is not one this worker reads ({version})")
    _field(message, "job_id", str, what)
    _field(message, "chunk", int, what)


def _model_ref(message: Mapping[str, Any], what: str) -> Mapping[str, Any]:
    model = _field(message, "model", Mapping, what)
    _field(model, "name", str, f"{what}.model")
    _field(model, "version", int, f"{what}.model")
    return model


def read_chunk_request(message: Any) -> ChunkRequest:
    """The gateway's message, checked: featurization needs the featurizer spec and every molecule's id."""
    what = "chunk request"
    _envelope(message, what, CHUNK_REQUEST_VERSION)
    _field(_model_ref(message, what), "featurizer", Mapping, f"{what}.model")
    for i, molecule in enumerate(_field(message, "molecules", list, what)):
        where = f"{what}.molecules[{i}]"
        _field(molecule, "id", str, where)
        if "smiles" not in molecule and "molblock" not in molecule:
            raise MessageError(f"{where}: missing field 'smiles' (or 'molblock')")
    return message


def read_featurized_chunk(message: Any) -> FeaturizedChunk:
    """The featurizer's message, checked: scoring needs features and AD bits for every parsed molecule."""
    what = "featurized chunk"
    _envelope(message, what, FEATURIZED_CHUNK_VERSION)
    _model_ref(message, what)
    for i, molecule in enumerate(_field(message, "molecules", list, what)):
        where = f"{what}.molecules[{i}]"
        _field(molecule, "id", str, where)
        for key in ("input_smiles", "canonical_smiles", "error"):
            _field(molecule, key, (str, dict, type(None)), where)
        if molecule["error"] is None:
            features = _field(molecule, "features", Mapping, where)
            _field(features, "indices", list, f"{where}.features")
            _field(features, "values", list, f"{where}.features")
            _field(molecule, "ad_bits", list, where)
    return message


def featurized_chunk(request: ChunkRequest, molecules: list[FeaturizedMolecule]) -> FeaturizedChunk:
    """What ``featurize.batch`` sends on: the request's envelope, the model without its featurizer, the molecules."""
    model = request["model"]
    chunk: FeaturizedChunk = {"schema_version": FEATURIZED_CHUNK_VERSION, "job_id": request["job_id"],
                              "chunk": request["chunk"], "model": {"name": model["name"], "version": model["version"]},
                              "molecules": molecules}
    if "response" in request:
        chunk["response"] = request["response"]
    return chunk
