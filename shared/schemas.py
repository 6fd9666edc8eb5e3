"""The shape of one molecule's result: produced by the causal service, documented and served by the gateway.

Both sides use these schemas, so the OpenAPI document and the stored results cannot drift apart.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared import verdicts

VERDICTS = ("supported", "caution", "unsupported", "unknown")  # the public order; shared.verdicts has the rules
EFFECT_STATUSES = tuple(verdicts.EFFECT_STATUSES)
NOT_PROFILED = "not_profiled"  # a substructure of the molecule too rare in the training data to have an effect


def _meanings(rules: dict[str, str]) -> str:
    return "; ".join(f"{name}: {meaning}" for name, meaning in rules.items())


class ErrorDetailSchema(Schema):
    code = fields.String(required=True, metadata={"example": "invalid_smiles"})
    message = fields.String(required=True)


class PredictionSchema(Schema):
    value = fields.Float(required=True)
    unit = fields.String(required=True, metadata={"example": "pActivity"})
    interval = fields.List(fields.Float(), allow_none=True, metadata={"description": "90% interval [lo, hi] or null"})
    interval_80 = fields.List(fields.Float(), allow_none=True, metadata={"description": "80% interval [lo, hi]"})
    sigma = fields.Float(allow_none=True, metadata={"description": "Difficulty scaling the interval"})


class NeighbourSchema(Schema):
    id = fields.String(required=True, metadata={"description": "The training molecule's id"})
    smiles = fields.String(required=True, metadata={"description": "Its canonical SMILES"})
    pactivity = fields.Float(required=True, metadata={"description": "Its measured pActivity"})
    similarity = fields.Float(required=True, metadata={"description": "Tanimoto similarity to the query"})


class ApplicabilityDomainSchema(Schema):
    max_similarity = fields.Float(required=True, metadata={"description": "Nearest-neighbour Tanimoto"})
    in_domain = fields.Boolean(required=True)
    threshold = fields.Float(required=True)
    neighbours = fields.List(fields.Nested(NeighbourSchema), metadata={
        "description": "The nearest training molecules, most similar first (absent for models trained before)"})


class MechanismSchema(Schema):
    id = fields.String(required=True, metadata={"example": "M2"})
    label = fields.String(required=True, metadata={"description": "The dataset's label, or a discovered series"})
    probability = fields.Float(required=True, metadata={"description": "Of belonging to this mechanism (structure)"})
    focus = fields.Float(
        required=True, allow_none=True,
        metadata={"description": "min(1, specialist RMSE / pooled RMSE) in this mechanism; null if too small"},
    )


class EvidenceSchema(Schema):
    substructure = fields.String(required=True, metadata={"description": "SMARTS of the substructure"})
    name = fields.String(allow_none=True, metadata={"description": "A chemist's name: ring system or functional group",
                                                     "example": "pyrrolo[2,3-d]pyrimidine"})
    kind = fields.String(metadata={"description": "ring_system, functional_group, linker or user"})
    atoms = fields.List(fields.Integer(), metadata={"description": "Atom indices in the canonical SMILES"})
    contribution = fields.Float(
        required=True, allow_none=True,
        metadata={"description": "Its additive share of prediction minus baseline (null: no attribution)"},
    )
    additive = fields.Boolean(metadata={"description": "false for a user SMARTS, which may overlap the partition"})
    adjusted_effect = fields.Float(
        required=True, allow_none=True, metadata={"description": "Causal effect on pActivity (profile)"}
    )
    effect_ci = fields.List(fields.Float(), allow_none=True, metadata={"description": "Its 95% interval"})
    effect_scope = fields.String(metadata={"description": "'all' or the mechanism whose own effect is used"})
    status = fields.String(required=True, validate=validate.OneOf((*EFFECT_STATUSES, NOT_PROFILED)),
                           metadata={"description": _meanings(verdicts.EFFECT_STATUSES)})
    reliance = fields.String(validate=validate.OneOf(tuple(verdicts.RELIANCE)),
                             metadata={"description": _meanings(verdicts.RELIANCE)})


class AttributionSchema(Schema):
    baseline = fields.Float(required=True, metadata={"description": "The model's expected prediction"})
    remainder = fields.Float(required=True, metadata={"description": "Attributed to features the molecule lacks"})
    sum_of_substructures = fields.Float(required=True)


class CausalValiditySchema(Schema):
    verdict = fields.String(required=True, validate=validate.OneOf(VERDICTS),
                            metadata={"description": _meanings(verdicts.VERDICTS)})
    reasons = fields.List(fields.String(), required=True)
    applicability_domain = fields.Nested(ApplicabilityDomainSchema, allow_none=True)
    mechanism = fields.Nested(MechanismSchema, allow_none=True)
    evidence = fields.List(fields.Nested(EvidenceSchema), metadata={"description": "The molecule's substructures"})
    attribution = fields.Nested(AttributionSchema, allow_none=True,
                                metadata={"description": "baseline + substructures + remainder = prediction"})


class MoleculeResultSchema(Schema):
    id = fields.String(required=True)
    input_smiles = fields.String(
        required=True, allow_none=True, metadata={"description": "As sent; for a molblock, as RDKit read it"}
    )
    canonical_smiles = fields.String(allow_none=True)
    prediction = fields.Nested(PredictionSchema, allow_none=True)
    causal_validity = fields.Nested(CausalValiditySchema, allow_none=True)
    error = fields.Nested(ErrorDetailSchema, allow_none=True)


FULL, COMPACT = "full", "compact"  # a prediction request's ``response``: compact drops what a REINVENT step ignores
COMPACT_EXCLUDED = ("causal_validity.evidence", "causal_validity.attribution",
                    "causal_validity.applicability_domain.neighbours")


def compact_result_schema(many: bool = False) -> MoleculeResultSchema:
    """A result without evidence, attribution and neighbours: the prediction, interval, verdict and reasons stay."""
    return MoleculeResultSchema(many=many, exclude=COMPACT_EXCLUDED)


class EffectValueSchema(Schema):
    value = fields.Float(required=True, allow_none=True)
    ci = fields.List(fields.Float(), required=True, allow_none=True, metadata={"description": "95% [lo, hi]"})


class AdjustedEffectSchema(EffectValueSchema):
    estimator = fields.String(required=True)
    inference = fields.String(metadata={"description": "How the interval was computed (e.g. CR1 by the assay)"})


class EstimateSchema(Schema):
    estimator = fields.String(required=True)
    value = fields.Float(required=True)
    ci = fields.List(fields.Float(), required=True)
    inference = fields.String()


class StratumEffectSchema(Schema):
    stratum = fields.String(required=True, metadata={"example": "assay_chembl_id=CHEMBL1|gene=AKT2"})
    n = fields.Integer(required=True)
    n_treated = fields.Integer()
    effect = fields.Float(required=True)


class OverlapSchema(Schema):
    levels = fields.Integer(required=True)
    informative_levels = fields.Integer(required=True, metadata={"description": "Levels with both arms"})
    treated_in_informative = fields.Integer(required=True)
    untreated_in_informative = fields.Integer(required=True)


class ConfoundingTestSchema(Schema):
    difference = fields.Float(required=True, metadata={"description": "Naive minus adjusted"})
    p_value = fields.Float(required=True)


class GroupEffectSchema(Schema):
    label = fields.String(required=True)
    mechanism = fields.String()
    n = fields.Integer(required=True)
    n_treated = fields.Integer(required=True)
    value = fields.Float(required=True, allow_none=True)
    ci = fields.List(fields.Float(), required=True, allow_none=True)


class EffectModificationSchema(Schema):
    groups = fields.List(fields.Nested(GroupEffectSchema), required=True)
    q = fields.Float(required=True, allow_none=True, metadata={"description": "Cochran's Q across groups"})
    p_value = fields.Float(required=True, allow_none=True)
    heterogeneous = fields.Boolean(required=True)
    note = fields.String(metadata={"description": "Why heterogeneity was not tested (fewer than two groups with an "
                                                  "estimate); absent when it was"})


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
    overlap = fields.Nested(OverlapSchema, required=True)
    confounding_test = fields.Nested(ConfoundingTestSchema, required=True, allow_none=True)
    verdict = fields.String(required=True, validate=validate.OneOf(EFFECT_STATUSES),
                            metadata={"description": _meanings(verdicts.EFFECT_STATUSES)})
    reasons = fields.List(fields.String(), required=True)
    confounders = fields.Dict(required=True, metadata={"description": "Columns adjusted for, and their levels"})
    effect_modifiers = fields.Dict(keys=fields.String(), values=fields.Nested(EffectModificationSchema), required=True)
    graph = fields.String(required=True, metadata={"description": "The causal graph, DOT"})
