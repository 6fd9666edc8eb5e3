"""Request and response schemas of API v1; the OpenAPI document is generated from these."""

from __future__ import annotations

import json
from typing import Any

from marshmallow import EXCLUDE, INCLUDE, Schema, ValidationError, fields, validate, validates_schema

from shared.config import get_settings
from shared.export import LONE_SURROGATE
from shared.job_status import STATUSES
from shared.schemas import COMPACT, FULL, ErrorDetailSchema, MoleculeResultSchema

MAX_WAIT_SECONDS = 30
# No request needs more than a few levels; deeper documents only cost recursion in the parsers behind us.
MAX_JSON_DEPTH = 32


def nesting_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """How deeply lists and dicts nest in ``value`` (a scalar is 0, ``{}`` is 1), level by level: no recursion.

    Counting stops past ``limit``.
    """
    depth, level = 0, [value]
    while depth <= limit:
        containers = [v for v in level if isinstance(v, dict | list)]
        if not containers:
            return depth
        depth += 1
        level = [child for c in containers for child in (c.values() if isinstance(c, dict) else c)]
    return depth


def wait_field() -> fields.Float:
    return fields.Float(
        load_default=0.0,
        validate=validate.Range(min=0, max=MAX_WAIT_SECONDS),
        metadata={"description": "Seconds to wait for the job to finish before answering 202"},
    )


class MappingSchema(Schema):
    """The types of the mapping keys the gateway reads itself; the featurizer checks the other keys and the values."""

    class Meta:
        unknown = INCLUDE

    structure = fields.String(allow_none=True)
    activity = fields.String(allow_none=True)
    id = fields.String(allow_none=True)
    mechanism = fields.String(allow_none=True)
    context = fields.List(fields.String(), allow_none=True)


class JsonObject(fields.Field):
    """A form field holding a JSON object as text, loaded through ``schema``; empty means ``{}``."""

    def __init__(self, schema: type[Schema], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schema = schema()

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, Any]:
        if not isinstance(value, str):
            raise ValidationError("must be JSON text")
        try:
            loaded = json.loads(value) if value else {}
        except (ValueError, RecursionError) as exc:
            raise ValidationError("is not JSON") from exc
        if not isinstance(loaded, dict):
            raise ValidationError("must be a JSON object")
        if nesting_depth(loaded) > MAX_JSON_DEPTH:
            raise ValidationError(f"nests deeper than {MAX_JSON_DEPTH} levels")
        return self.schema.load(loaded)


PLAIN_TEXT = validate.Regexp(r"^[^\x00-\x1f\x7f]*$", error="must be plain text without control characters")


class JobOptionsSchema(Schema):
    """Fields every job-creating request may carry: echoed on the job, and where to call when it finishes."""

    client_reference = fields.String(
        validate=[validate.Length(min=1, max=200), PLAIN_TEXT],
        metadata={"description": "The caller's own reference (an ELN entry...), echoed on the job; GET /v1/jobs "
                                 "filters by it"},
    )
    callback_url = fields.Url(
        schemes={"http", "https"}, require_tld=False, validate=validate.Length(max=2000),
        metadata={"description": "POSTed job.succeeded or job.failed, signed (X-Causalmol-Signature), when the job "
                                 "finishes; needs CAUSALMOL_WEBHOOK_SECRET on the server"},
    )


class UploadFormSchema(JobOptionsSchema):
    """The form fields sent beside a multipart CSV/SDF ``file``; other form fields are ignored."""

    class Meta:
        unknown = EXCLUDE

    format = fields.String(load_default=None, validate=validate.OneOf(("csv", "sdf")),
                           metadata={"description": "csv or sdf; default from the file name"})
    mapping = JsonObject(MappingSchema, load_default=dict,
                         metadata={"description": "JSON column mapping (see the README)"})
    model = fields.String(load_default=None)
    wait = wait_field()


def unicode_text(value: str) -> None:
    if LONE_SURROGATE.search(value):  # it could be echoed in JSON, but never written to a CSV or SDF export
        raise ValidationError("must be Unicode text: it holds a lone surrogate such as \\ud800")


class MoleculeInSchema(Schema):
    id = fields.String(
        validate=[validate.Length(min=1, max=200), unicode_text],
        metadata={"description": "Caller's identifier, echoed in the result; defaults to the 0-based index"},
    )
    smiles = fields.String(validate=validate.Length(max=2_000), metadata={"description": "SMILES (or molblock)"})
    molblock = fields.String(validate=validate.Length(max=200_000), metadata={"description": "MDL molblock"})

    @validates_schema
    def _one_structure(self, data: dict, **_: object) -> None:
        if ("smiles" in data) == ("molblock" in data):
            raise ValidationError("give exactly one of smiles or molblock", "smiles")


class PredictionRequestSchema(JobOptionsSchema):
    model = fields.String(
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "Model name (newest version) or name@version", "example": "akt1"},
    )
    molecules = fields.List(fields.Nested(MoleculeInSchema), required=True)
    wait = wait_field()
    response = fields.String(validate=validate.OneOf((FULL, COMPACT)), metadata={
        "description": "full (default) or compact: results without evidence, attribution and neighbours, kept "
                       "CAUSALMOL_COMPACT_RESULT_TTL seconds (default 3600): for generative-design loops"})

    @validates_schema
    def _batch_size(self, data: dict, **_: object) -> None:
        limit = get_settings().max_molecules
        if not 1 <= len(data.get("molecules", [])) <= limit:
            raise ValidationError(f"send between 1 and {limit} molecules", "molecules")


class ModelRefSchema(Schema):
    name = fields.String(required=True)
    version = fields.Integer(required=True, allow_none=True)


class ProgressSchema(Schema):
    done = fields.Integer(required=True)
    total = fields.Integer(required=True)


class CallbackAttemptSchema(Schema):
    event = fields.String(required=True, metadata={"example": "job.succeeded"})
    attempt = fields.Integer(required=True)
    status_code = fields.Integer(allow_none=True, metadata={"description": "The receiver's answer; null if none"})
    at = fields.String(required=True)
    error = fields.String(metadata={"description": "Why no answer came (e.g. ConnectTimeout)"})


class JobSchema(Schema):
    job_id = fields.String(required=True)
    kind = fields.String(metadata={"description": "prediction, dataset, training or causal_effect"})
    status = fields.String(validate=validate.OneOf(STATUSES))
    progress = fields.Nested(ProgressSchema)
    model = fields.Nested(ModelRefSchema, allow_none=True)
    created_at = fields.String()
    finished_at = fields.String(allow_none=True)
    results = fields.List(
        fields.Nested(MoleculeResultSchema),
        metadata={"description": "One per molecule in input order, once the job has succeeded; absent from a "
                                 "prediction of more molecules than the inline limit, which has results_url"},
    )
    results_url = fields.String(metadata={"description": (
        "Only on a prediction of more molecules than the inline limit (see GET /v1/jobs/{job_id}): its first page "
        "of results (GET /v1/jobs/{job_id}/results?limit=...); follow each page's next_cursor, or ask "
        "format=ndjson. 409 job_not_finished until the job has succeeded")})
    result = fields.Dict(metadata={"description": "The result document of a dataset, training or causal_effect job"})
    error = fields.Nested(ErrorDetailSchema, allow_none=True)
    client_reference = fields.String()
    project = fields.String(metadata={"description": "The project of the API key that made the job"})
    callback_url = fields.String()
    callbacks = fields.List(fields.Nested(CallbackAttemptSchema),
                            metadata={"description": "Each delivery attempt of the job's callback, in order"})


class JobAcceptedSchema(Schema):
    job_id = fields.String(required=True)
    status = fields.String(required=True)
    status_url = fields.String(required=True)


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"example": "validation_error"})
    message = fields.String(required=True)
    details = fields.Dict(required=True)


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)
