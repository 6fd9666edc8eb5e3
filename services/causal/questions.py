"""Validate a causal-effect question against a dataset's rows and turn it into arrays.

Rows are as ``shared.datasets.read_rows`` gives them: ``id, canonical_smiles, pactivity`` plus context columns
and optionally ``mechanism``, all strings. A column treatment must be binary (1/0, true/false, yes/no).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from rdkit import Chem

from services.causal.treatments import compile_smarts
from shared.datasets import BASE_COLUMNS
from shared.errors import InvalidRequest

OUTCOMES = {"pactivity": "pactivity"}  # the outcome name a question uses (case-insensitive) -> the row column
TRUE_VALUES, FALSE_VALUES = {"1", "true", "yes", "y", "t"}, {"0", "false", "no", "n", "f"}


@dataclass
class ResolvedQuestion:
    t: np.ndarray
    y: np.ndarray
    confounders: dict[str, list[str]]
    modifiers: dict[str, list[str]]  # effect modifiers: the effect is estimated inside each of their levels
    estimators: list[str]
    refuters: list[str]
    seed: int


def _names(asked: list[str] | None, known: list[str], what: str) -> list[str]:
    if asked is None:
        return list(known)
    unknown = [a for a in asked if a not in known]
    if unknown:
        raise InvalidRequest(f"unknown {what}s: {unknown}", {"unknown": unknown, f"known_{what}s": known})
    return list(dict.fromkeys(asked))


def _binary(column: str, values: list[str]) -> np.ndarray:
    lowered = [str(v).strip().lower() for v in values]
    odd = sorted({v for v in lowered if v not in TRUE_VALUES | FALSE_VALUES})
    if odd:
        raise InvalidRequest(f"treatment column '{column}' is not binary", {"column": column, "values": odd[:10]})
    return np.array([v in TRUE_VALUES for v in lowered], dtype=int)


def _treatment(rows: list[dict[str, str]], treatment: Any, columns: list[str]) -> np.ndarray:
    if not isinstance(treatment, dict) or len(treatment) != 1 or not {"smarts", "column"} & set(treatment):
        raise InvalidRequest("the treatment is {\"smarts\": ...} or {\"column\": ...}", {"treatment": treatment})
    if "smarts" in treatment:
        pattern = compile_smarts(str(treatment["smarts"]))
        mols = [Chem.MolFromSmiles(r["canonical_smiles"]) for r in rows]
        return np.array([bool(m and m.HasSubstructMatch(pattern)) for m in mols], dtype=int)
    column = treatment["column"]
    if column not in columns:
        raise InvalidRequest(f"unknown column '{column}'", {"unknown": [column], "known_columns": columns})
    return _binary(column, [r[column] for r in rows])


def resolve_question(
    rows: list[dict[str, str]], question: dict[str, Any], estimators: list[str], refuters: list[str]
) -> ResolvedQuestion:
    if not rows:
        raise InvalidRequest("the dataset has no rows", {})
    columns = [c for c in rows[0] if c not in BASE_COLUMNS]
    outcome = str(question.get("outcome") or "pActivity")
    if outcome.lower() not in OUTCOMES:
        raise InvalidRequest(f"unknown outcome '{outcome}'", {"unknown": [outcome], "known_outcomes": ["pActivity"]})
    t = _treatment(rows, question.get("treatment"), columns)
    confounders = list(dict.fromkeys(question.get("confounders") or []))
    unknown = [c for c in confounders if c not in columns]
    if unknown:
        raise InvalidRequest(f"unknown confounder columns: {unknown}", {"unknown": unknown, "known_columns": columns})
    if question["treatment"].get("column") in confounders:
        raise InvalidRequest("the treatment cannot also be a confounder", {"confounders": confounders})
    modifiers = list(dict.fromkeys(question.get("effect_modifiers") or []))
    unknown = [c for c in modifiers if c not in columns]
    if unknown:
        raise InvalidRequest(f"unknown effect modifier columns: {unknown}",
                             {"unknown": unknown, "known_columns": columns})
    chosen_estimators = _names(question.get("estimators"), estimators, "estimator")
    if not chosen_estimators:
        raise InvalidRequest("name at least one estimator", {"known_estimators": estimators})
    return ResolvedQuestion(
        t=t,
        y=np.array([float(r[OUTCOMES[outcome.lower()]]) for r in rows]),
        confounders={c: [r[c] for r in rows] for c in confounders},
        modifiers={c: [r[c] or "" for r in rows] for c in modifiers},
        estimators=chosen_estimators,
        refuters=_names(question.get("refuters"), refuters, "refuter"),
        seed=int(question.get("seed") or 0),
    )
