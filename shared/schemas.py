"""The shape of one molecule's result: produced by the causal service, documented and served by the gateway.

Both sides use these schemas, so the OpenAPI document and the stored results cannot drift apart.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

VERDICTS = ("supported", "caution", "unsupported", "unknown")


class ErrorDetailSchema(Schema):
    code = fields.String(required=True, metadata={"example": "invalid_smiles"})
    message = fields.String(required=True)


class PredictionSchema(Schema):
    value = fields.Float(required=True)
    unit = fields.String(required=True, metadata={"example": "pActivity"})
    interval = fields.List(fields.Float(), allow_none=True, metadata={"description": "[lo, hi] or null"})


class ApplicabilityDomainSchema(Schema):
    max_similarity = fields.Float(required=True, metadata={"description": "Nearest-neighbour Tanimoto"})
    in_domain = fields.Boolean(required=True)
    threshold = fields.Float(required=True)


class CausalValiditySchema(Schema):
    verdict = fields.String(required=True, validate=validate.OneOf(VERDICTS))
    reasons = fields.List(fields.String(), required=True)
    applicability_domain = fields.Nested(ApplicabilityDomainSchema, allow_none=True)


class MoleculeResultSchema(Schema):
    id = fields.String(required=True)
    input_smiles = fields.String(required=True)
    canonical_smiles = fields.String(allow_none=True)
    prediction = fields.Nested(PredictionSchema, allow_none=True)
    causal_validity = fields.Nested(CausalValiditySchema, allow_none=True)
    error = fields.Nested(ErrorDetailSchema, allow_none=True)
