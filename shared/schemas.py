"""The shape of one molecule's result: produced by the causal service, documented and served by the gateway.

Both sides use these schemas, so the OpenAPI document and the stored results cannot drift apart.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

VERDICTS = ("supported", "caution", "unsupported", "unknown")
EFFECT_STATUSES = ("supported", "confounded", "not_estimable")


class ErrorDetailSchema(Schema):
    code = fields.String(required=True, metadata={"example": "invalid_smiles"})
    message = fields.String(required=True)


class PredictionSchema(Schema):
    value = fields.Float(required=True)
    unit = fields.String(required=True, metadata={"example": "pActivity"})
    interval = fields.List(fields.Float(), allow_none=True, metadata={"description": "90% interval [lo, hi] or null"})
    interval_80 = fields.List(fields.Float(), allow_none=True, metadata={"description": "80% interval [lo, hi]"})


class ApplicabilityDomainSchema(Schema):
    max_similarity = fields.Float(required=True, metadata={"description": "Nearest-neighbour Tanimoto"})
    in_domain = fields.Boolean(required=True)
    threshold = fields.Float(required=True)


class MechanismSchema(Schema):
    id = fields.String(required=True, metadata={"example": "M2"})
    label = fields.String(required=True, metadata={"description": "The dataset's label, or a discovered series"})
    probability = fields.Float(required=True, metadata={"description": "Of belonging to this mechanism (structure)"})
    focus = fields.Float(
        required=True, allow_none=True,
        metadata={"description": "min(1, specialist RMSE / pooled RMSE) in this mechanism; null if too small"},
    )


class EvidenceSchema(Schema):
    substructure = fields.String(required=True, metadata={"description": "SMARTS of a profiled treatment"})
    contribution = fields.Float(
        required=True, allow_none=True,
        metadata={"description": "Prediction minus the prediction with the substructure's environments removed"},
    )
    adjusted_effect = fields.Float(
        required=True, allow_none=True, metadata={"description": "Adjusted effect on pActivity (profile)"}
    )
    status = fields.String(required=True, validate=validate.OneOf(EFFECT_STATUSES))


class CausalValiditySchema(Schema):
    verdict = fields.String(required=True, validate=validate.OneOf(VERDICTS))
    reasons = fields.List(fields.String(), required=True)
    applicability_domain = fields.Nested(ApplicabilityDomainSchema, allow_none=True)
    mechanism = fields.Nested(MechanismSchema, allow_none=True)
    evidence = fields.List(fields.Nested(EvidenceSchema), metadata={"description": "Relied-on substructures"})


class MoleculeResultSchema(Schema):
    id = fields.String(required=True)
    input_smiles = fields.String(
        required=True, allow_none=True, metadata={"description": "As sent; for a molblock, as RDKit read it"}
    )
    canonical_smiles = fields.String(allow_none=True)
    prediction = fields.Nested(PredictionSchema, allow_none=True)
    causal_validity = fields.Nested(CausalValiditySchema, allow_none=True)
    error = fields.Nested(ErrorDetailSchema, allow_none=True)


class EffectValueSchema(Schema):
    value = fields.Float(required=True, allow_none=True)
    ci = fields.List(fields.Float(), required=True, allow_none=True, metadata={"description": "95% [lo, hi]"})


class AdjustedEffectSchema(EffectValueSchema):
    estimator = fields.String(required=True)


class EstimateSchema(Schema):
    estimator = fields.String(required=True)
    value = fields.Float(required=True)
    ci = fields.List(fields.Float(), required=True)


class StratumEffectSchema(Schema):
    stratum = fields.String(required=True, metadata={"example": "assay_chembl_id=CHEMBL1|mechanism=M2"})
    n = fields.Integer(required=True)
    effect = fields.Float(required=True)


class RefutationSchema(Schema):
    name = fields.String(required=True)
    new_effect = fields.Float(required=True, allow_none=True)
    p_value = fields.Float(required=True, allow_none=True)
    passed = fields.Boolean(required=True)


class CausalEffectSchema(Schema):
    """The answer to a causal-effect question (``services.causal.effects.estimate_question``)."""

    naive_effect = fields.Nested(EffectValueSchema, required=True)
    adjusted_effect = fields.Nested(AdjustedEffectSchema, required=True)
    estimates = fields.List(fields.Nested(EstimateSchema), required=True)
    per_stratum = fields.List(fields.Nested(StratumEffectSchema), required=True)
    simpson_reversal = fields.Boolean(required=True)
    refutations = fields.List(fields.Nested(RefutationSchema), required=True)
    verdict = fields.String(required=True, validate=validate.OneOf(EFFECT_STATUSES))
    graph = fields.String(required=True, metadata={"description": "The causal graph, DOT"})
