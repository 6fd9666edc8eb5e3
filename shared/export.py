"""A job's molecule results as flat records and as CSV: plain Python, so the gateway can serve the export itself.

The SDF export (``services.featurizer.export``) writes the same fields as SD properties.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from typing import Any

logger = logging.getLogger(__name__)

CSV_COLUMNS: tuple[str, ...] = (
    "id", "input_smiles", "canonical_smiles", "prediction", "unit", "interval_lo", "interval_hi",
    "interval_80_lo", "interval_80_hi", "verdict", "in_domain", "max_similarity", "ad_threshold", "reasons",
    "mechanism_id", "mechanism_label", "mechanism_probability", "error_code", "error_message",
)
# Which job and model version produced the rows: on every row of a service export (CSV, SDF, JSON).
PROVENANCE_COLUMNS: tuple[str, ...] = ("job_id", "model", "model_version")
_TEXT_COLUMNS = ("id", "input_smiles", "reasons", "mechanism_label", "error_message")  # caller- or prose-derived
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# A JSON body may carry "\ud800": a lone surrogate, which no UTF-8 file (nor RDKit) can hold.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def safe_text(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD, so that it can be written as UTF-8."""
    return LONE_SURROGATE.sub("\ufffd", text)


def _bounds(interval: list[float] | None) -> tuple[float | None, float | None]:
    return (interval[0], interval[1]) if interval else (None, None)


def _mechanism(validity: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(id, label, probability) of the mechanism the causal service assigned (a dict, or a bare label)."""
    mechanism = validity.get("mechanism")
    if isinstance(mechanism, dict):
        return mechanism.get("id"), mechanism.get("label"), mechanism.get("probability")
    return None, mechanism, None


def flat_result(result: dict[str, Any]) -> dict[str, Any]:
    """One molecule's result (``shared.schemas.MoleculeResultSchema``) as ``CSV_COLUMNS`` -> value (None if absent)."""
    prediction = result.get("prediction") or {}
    validity = result.get("causal_validity") or {}
    domain = validity.get("applicability_domain") or {}
    error = result.get("error") or {}
    lo, hi = _bounds(prediction.get("interval"))
    lo80, hi80 = _bounds(prediction.get("interval_80"))
    mechanism_id, mechanism_label, mechanism_probability = _mechanism(validity)
    return {
        "id": result.get("id"),
        "input_smiles": result.get("input_smiles"),
        "canonical_smiles": result.get("canonical_smiles"),
        "prediction": prediction.get("value"),
        "unit": prediction.get("unit"),
        "interval_lo": lo,
        "interval_hi": hi,
        "interval_80_lo": lo80,
        "interval_80_hi": hi80,
        "verdict": validity.get("verdict"),
        "in_domain": domain.get("in_domain"),
        "max_similarity": domain.get("max_similarity"),
        "ad_threshold": domain.get("threshold"),
        "reasons": "; ".join(validity.get("reasons") or []) or None,
        "mechanism_id": mechanism_id,
        "mechanism_label": mechanism_label,
        "mechanism_probability": mechanism_probability,
        "error_code": error.get("code"),
        "error_message": error.get("message"),
    }


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    text = safe_text(str(value).lower() if isinstance(value, bool) else str(value))
    # Spreadsheets run a cell starting with = + - @ as a formula: quote caller-supplied text (CSV injection).
    if column in _TEXT_COLUMNS and text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def export_provenance(job: dict[str, Any]) -> dict[str, Any]:
    """``PROVENANCE_COLUMNS`` of a job: its id, and the name and version of the model that predicted it."""
    model = job.get("model") or {}
    return {"job_id": job["job_id"], "model": model.get("name"), "model_version": model.get("version")}


def results_to_csv(results: list[dict[str, Any]], provenance: dict[str, Any] | None = None) -> str:
    """One row per molecule, in input order, under a fixed header (``CSV_COLUMNS``, then ``PROVENANCE_COLUMNS``
    when ``provenance`` is given); empty cells for absent values."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    extra = PROVENANCE_COLUMNS if provenance else ()
    writer.writerow(CSV_COLUMNS + extra)
    for result in results:
        flat = {**flat_result(result), **(provenance or {})}
        writer.writerow([_cell(c, flat[c]) for c in CSV_COLUMNS + extra])
    return out.getvalue()
