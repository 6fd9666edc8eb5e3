"""Request and response schemas of API v1; the OpenAPI document is generated from these."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared.config import get_settings
from shared.schemas import ErrorDetailSchema, MoleculeResultSchema


class MoleculeInSchema(Schema):
    id = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Caller's identifier, echoed in the result; defaults to the 0-based index"},
    )
    smiles = fields.String(validate=validate.Length(max=2_000), metadata={"description": "SMILES (or molblock)"})
    molblock = fields.String(validate=validate.Length(max=200_000), metadata={"description": "MDL molblock"})

    @validates_schema
    def _one_structure(self, data: dict, **_: object) -> None:
        if ("smiles" in data) == ("molblock" in data):
            raise ValidationError("give exactly one of smiles or molblock", "smiles")


class PredictionRequestSchema(Schema):
    model = fields.String(
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "Model name (newest version) or name@version", "example": "akt1"},
    )
    molecules = fields.List(fields.Nested(MoleculeInSchema), required=True)
    wait = fields.Float(
        load_default=0.0,
        validate=validate.Range(min=0, max=30),
        metadata={"description": "Seconds to wait for the job to finish before answering 202"},
    )

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


class JobSchema(Schema):
    job_id = fields.String(required=True)
    kind = fields.String(metadata={"description": "prediction, dataset, training or causal_effect"})
    status = fields.String(validate=validate.OneOf(["queued", "running", "succeeded", "failed"]))
    progress = fields.Nested(ProgressSchema)
    model = fields.Nested(ModelRefSchema, allow_none=True)
    created_at = fields.String()
    finished_at = fields.String(allow_none=True)
    results = fields.List(
        fields.Nested(MoleculeResultSchema),
        metadata={"description": "One per molecule in input order, once the job has succeeded"},
    )
    result = fields.Dict(metadata={"description": "The result document of a dataset, training or causal_effect job"})
    error = fields.Nested(ErrorDetailSchema, allow_none=True)


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
