"""services/client/reinvent.py: the ``causalmol score`` output read by a parser written from REINVENT4's contract.

The parser follows REINVENT4's published ExternalProcess component (MolecularAI/REINVENT4,
``reinvent_plugins/components/comp_external_process.py`` and ``run_program.py``): it runs the command with the
SMILES joined by newlines on stdin (``check=True``: a non-zero exit fails the step), ``json.loads`` the whole
stdout and takes ``np.array(data["payload"]["predictions"])``; ``ComponentResults`` wants one score per SMILES in
input order and NaN, never zero, for a failure. ``tests/integration/test_client_cli.py`` runs the real command
through it against a server.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from services.client.reinvent import CAUSAL_SUPPORT, PROPERTIES, dumps, read_smiles, score_document
from shared.schemas import VERDICTS


def reinvent_external_process(command: list[str], smilies: list[str], env: dict[str, str] | None = None
                              ) -> tuple[np.ndarray, dict]:
    """REINVENT4's ExternalProcess call: the scores it keeps, and the parsed document for further checks."""
    smiles_input = "\n".join(smilies)
    args = {"capture_output": True, "text": True, "check": True, "shell": False}
    if env:
        args["env"] = env
    if smiles_input:
        args["input"] = smiles_input
    result = subprocess.run(command, **args)
    data = json.loads(result.stdout)
    scores = np.array(data["payload"]["predictions"])
    check_contract(data, len(smilies))
    return scores, data


def check_contract(data: dict, n: int) -> None:
    """What ComponentResults expects of every array: numbers, one per SMILES; no null (it would be an object array)."""
    assert data["version"] == 1
    for name, values in data["payload"].items():
        array = np.array(values)
        assert array.shape == (n,), name
        assert array.dtype == np.float64, f"{name} is not numeric: {array.dtype}"


def ok(verdict: str, value: float, in_domain: bool) -> dict:
    return {"id": "x", "prediction": {"value": value, "unit": "pActivity", "interval": [value - 1.0, value + 1.2]},
            "causal_validity": {"verdict": verdict, "reasons": [],
                                "applicability_domain": {"in_domain": in_domain, "max_similarity": 0.4,
                                                         "threshold": 0.3}},
            "error": None}


FAILED = {"id": "y", "prediction": None, "causal_validity": None,
          "error": {"code": "invalid_smiles", "message": "cannot parse"}}


def emit(document: dict) -> list[str]:
    """A command that prints ``document`` the way ``causalmol score`` does."""
    return [sys.executable, "-c", f"import sys; sys.stdout.write({dumps(document)!r})"]


def test_the_output_parses_under_reinvents_contract():
    results = [ok("supported", 7.5, True), FAILED, None, ok("unsupported", 5.0, False), ok("caution", 6.0, True)]
    scores, data = reinvent_external_process(emit(score_document(results, "akt1@3")), ["a", "b", "", "c", "d"])
    assert scores == pytest.approx([7.5, math.nan, math.nan, 5.0, 6.0], nan_ok=True)
    payload = data["payload"]
    assert payload["causal_support"] == pytest.approx([1.0, math.nan, math.nan, 0.0, 0.5], nan_ok=True)
    assert payload["in_domain"] == pytest.approx([1.0, math.nan, math.nan, 0.0, 1.0], nan_ok=True)
    assert payload["interval_lo"] == pytest.approx([6.5, math.nan, math.nan, 4.0, 5.0], nan_ok=True)
    assert payload["interval_hi"] == pytest.approx([8.7, math.nan, math.nan, 6.2, 7.2], nan_ok=True)
    assert data["metadata"]["model"] == "akt1@3"
    assert data["metadata"]["verdict"] == ["supported", None, None, "unsupported", "caution"]
    assert data["metadata"]["error"] == [None, "invalid_smiles", "empty_smiles", None, None]


def test_failures_are_the_nan_token_never_null_or_zero():
    text = dumps(score_document([FAILED], "akt1@1"))
    payload_text = text[text.index('"payload"'):text.index('"metadata"')]
    assert "NaN" in payload_text and "null" not in payload_text
    assert math.isnan(json.loads(text)["payload"]["predictions"][0])


@pytest.mark.parametrize("name", PROPERTIES)
def test_any_property_can_be_the_one_reinvent_reads(name):
    document = score_document([ok("caution", 6.0, False)], "akt1@1", predictions=name)
    assert document["payload"]["predictions"] == document["payload"][name]
    assert set(document["payload"]) == {"predictions", *PROPERTIES}


def test_every_verdict_has_a_causal_support_score():
    assert set(CAUSAL_SUPPORT) == set(VERDICTS)
    assert CAUSAL_SUPPORT == {"supported": 1.0, "caution": 0.5, "unknown": 0.5, "unsupported": 0.0}


def test_stdin_lines_keep_their_positions():
    assert read_smiles("\n".join(["CCO", "", " c1ccccc1 "])) == ["CCO", "", "c1ccccc1"]
    assert read_smiles("CCO\nCCN\n") == ["CCO", "CCN"]
    assert read_smiles("") == []


def test_no_smiles_gives_empty_arrays():
    scores, data = reinvent_external_process(emit(score_document([], "akt1@1")), [])
    assert scores.shape == (0,) and data["metadata"]["verdict"] == []
