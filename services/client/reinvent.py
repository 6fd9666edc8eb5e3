"""REINVENT4's ExternalProcess scoring contract: SMILES in, one JSON document of per-molecule arrays out.

REINVENT runs the executable with the SMILES on stdin, joined by newlines, and parses the whole stdout with
``json.loads``: ``{"version": 1, "payload": {"predictions": [...]}}``. It reads ``payload["predictions"]``, one number
per SMILES in input order, NaN where a molecule failed (never null, never 0). A non-zero exit fails the whole
step, so failed molecules are NaN and the exit is 0. Besides ``predictions`` (the property chosen with
``--predictions``, default pActivity) the payload carries every score by name, and ``metadata`` the per-molecule
verdicts and errors and the model version.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

logger = logging.getLogger(__name__)

# Verdict -> numeric causal support. caution and unknown are the same half-way score: neither vouches for nor
# refutes the causal structure behind the number.
CAUSAL_SUPPORT = {"supported": 1.0, "caution": 0.5, "unknown": 0.5, "unsupported": 0.0}
PROPERTIES = ("pactivity", "interval_lo", "interval_hi", "in_domain", "causal_support")
NAN = math.nan
SUBMIT_WAIT = 30.0  # an RL step is one POST that usually answers with the finished job: no polling round trips
RESPONSE = "compact"  # no evidence, attributions or neighbours: an RL step of thousands moves little data


def read_smiles(text: str) -> list[str]:
    """One SMILES per line; a blank line is kept (as a molecule that fails) so lengths and order match."""
    return [line.strip() for line in text.splitlines()]


def scores(result: dict[str, Any] | None) -> dict[str, float]:
    """The numeric properties of one molecule's result; NaN for what it lacks (all NaN for a failed molecule)."""
    prediction = (result or {}).get("prediction") or {}
    validity = (result or {}).get("causal_validity") or {}
    domain = validity.get("applicability_domain") or {}
    interval = prediction.get("interval") or (NAN, NAN)
    value = prediction.get("value")
    in_domain = domain.get("in_domain")
    return {
        "pactivity": NAN if value is None else float(value),
        "interval_lo": float(interval[0]) if value is not None else NAN,
        "interval_hi": float(interval[1]) if value is not None else NAN,
        "in_domain": NAN if in_domain is None or value is None else float(bool(in_domain)),
        "causal_support": CAUSAL_SUPPORT.get(str(validity.get("verdict")), NAN) if value is not None else NAN,
    }


def score_document(results: list[dict[str, Any] | None], model: str, predictions: str = "pactivity"
                   ) -> dict[str, Any]:
    """The ExternalProcess answer for ``results`` (one per input SMILES, None for one never sent)."""
    rows = [scores(result) for result in results]
    payload: dict[str, list[float]] = {name: [row[name] for row in rows] for name in PROPERTIES}
    payload = {"predictions": list(payload[predictions]), **payload}
    metadata = {
        "model": model,
        "causal_support_scale": CAUSAL_SUPPORT,
        "verdict": [((r or {}).get("causal_validity") or {}).get("verdict") for r in results],
        "error": [((r or {}).get("error") or {}).get("code") if r else "empty_smiles" for r in results],
    }
    return {"version": 1, "payload": payload, "metadata": metadata}


def dumps(document: dict[str, Any]) -> str:
    """JSON with NaN written as the bare ``NaN`` token, which Python's ``json.loads`` (REINVENT's parser) reads."""
    return json.dumps(document, allow_nan=True, separators=(",", ":"))
