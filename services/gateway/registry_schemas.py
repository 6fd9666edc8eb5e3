"""Schemas of the dataset, model and causal-effect endpoints."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.gateway.schemas import JobOptionsSchema, unicode_text, wait_field
from shared.catalog import DEFAULT_INTERVAL_RULE, INTERVAL_RULES
from shared.model_store import NAME_PATTERN

SPLITS = ("scaffold", "random", "context")
WAIT = wait_field()


class ComponentSpecSchema(Schema):
    name = fields.String(required=True)
    params = fields.Dict(load_default=dict)


def model_name(value: str) -> None:
    if not NAME_PATTERN.fullmatch(value):
        raise ValidationError("1 to 64 of lowercase letters, digits, '.', '_' and '-', starting with a letter or digit")


class TrainingRequestSchema(JobOptionsSchema):
    name = fields.String(required=True, validate=model_name)
    dataset_id = fields.String(required=True)
    featurizer = fields.Nested(ComponentSpecSchema, load_default=lambda: {"name": "morgan_counts", "params": {}})
    estimator = fields.Nested(ComponentSpecSchema, load_default=lambda: {"name": "random_forest", "params": {}})
    split = fields.String(load_default="scaffold", validate=validate.OneOf(SPLITS))
    seed = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**31 - 1))
    treatments = fields.List(
        fields.String(validate=validate.Length(min=1, max=200)), load_default=list, validate=validate.Length(max=50),
        metadata={"description": "SMARTS a chemist wants profiled, alongside the mined substructures"},
    )
    confounders = fields.List(
        fields.String(validate=validate.Length(min=1, max=200)), load_default=None, allow_none=True,
        metadata={"description": "Columns the profile adjusts for (default: every context column); 'mechanism' may "
                                 "be declared one"},
    )
    intervals = fields.String(
        load_default=DEFAULT_INTERVAL_RULE, validate=validate.OneOf(INTERVAL_RULES),
        metadata={"description": "'single': one conformal quantile (default); 'mondrian': one per nearest-neighbour "
                                 "similarity tertile of the calibration molecules (at least 100 per bin, else fewer "
                                 "bins)"},
    )
    wait = WAIT


class TreatmentSchema(Schema):
    # its length and components are bounded by registry_service.check_smarts, with their own error code
    smarts = fields.String(validate=[validate.Length(min=1), unicode_text])
    column = fields.String(validate=validate.Length(min=1, max=200))

    @validates_schema
    def _one_of(self, data: dict, **_: object) -> None:
        if len(data) != 1:
            raise ValidationError("give exactly one of smarts or column", "treatment")


class CausalEffectRequestSchema(JobOptionsSchema):
    dataset_id = fields.String(required=True)
    treatment = fields.Nested(TreatmentSchema, required=True)
    outcome = fields.String(load_default="pActivity", validate=validate.OneOf(["pActivity"]))
    confounders = fields.List(fields.String(), load_default=list)
    effect_modifiers = fields.List(fields.String(), load_default=list)
    estimators = fields.List(fields.String(), load_default=None, allow_none=True)
    refuters = fields.List(fields.String(), load_default=None, allow_none=True)
    seed = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**31 - 1))
    wait = WAIT


class JobLinkSchema(Schema):
    job_id = fields.String(required=True)
    status = fields.String(required=True)
    status_url = fields.String(required=True)
    dataset_id = fields.String()


class RetireQuerySchema(Schema):
    """``DELETE /v1/models/<name>@<version>?reason=...``: the reason goes to the audit trail."""

    reason = fields.String(load_default="", validate=[validate.Length(max=500), unicode_text])
