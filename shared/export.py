"""Flat exports of prediction results that need no chemistry toolkit (the gateway renders these itself)."""

from __future__ import annotations

import csv
import io
from typing import Any

CSV_COLUMNS = ("id", "input_smiles", "canonical_smiles", "prediction", "interval_lo", "interval_hi", "verdict",
               "in_domain", "max_similarity", "reasons", "error_code", "error_message")


def flat_result(result: dict[str, Any]) -> dict[str, Any]:
    prediction = result.get("prediction") or {}
    interval = prediction.get("interval") or [None, None]
    validity = result.get("causal_validity") or {}
    domain = validity.get("applicability_domain") or {}
    error = result.get("error") or {}
    return {
        "id": result.get("id"), "input_smiles": result.get("input_smiles"),
        "canonical_smiles": result.get("canonical_smiles"), "prediction": prediction.get("value"),
        "interval_lo": interval[0], "interval_hi": interval[1], "verdict": validity.get("verdict"),
        "in_domain": domain.get("in_domain"), "max_similarity": domain.get("max_similarity"),
        "reasons": "; ".join(validity.get("reasons") or []), "error_code": error.get("code"),
        "error_message": error.get("message"),
    }


def results_to_csv(results: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat_result(r) for r in results)
    return out.getvalue()
