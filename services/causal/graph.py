"""The causal graph of one effect question, its DoWhy identification, and the encoded confounders.

The graph is always the backdoor graph: every confounder (a context column such as the assay, or the mechanism)
causes both the treatment (which molecules were made and measured with the substructure) and the outcome
(pActivity), and the treatment causes the outcome. DoWhy identifies the effect on that variable-level graph; the
confounders are then one-hot encoded once (levels with fewer than ``min_level_rows`` rows, and levels beyond the
``max_levels`` most frequent, are pooled into ``other``; empty values are the level ``missing``), and the
identified adjustment set is expanded to those indicator columns, exactly what DoWhy's own encoder would do, done
once instead of on every re-estimate.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from dowhy import CausalModel
from dowhy.causal_identifier import IdentifiedEstimand

logger = logging.getLogger(__name__)
# DoWhy narrates every estimate and identification at INFO (dozens of lines per treatment): keep its warnings only.
logging.getLogger("dowhy").setLevel(logging.WARNING)

TREATMENT = "treatment"
OUTCOME = "pActivity"
OTHER_LEVEL, MISSING_LEVEL = "other", "missing"


@dataclass(frozen=True)
class EncodingRules:
    min_level_rows: int = 20
    max_levels: int = 40


@dataclass
class Confounding:
    """The confounders of a question, encoded for estimation, with the joint stratum of every row."""

    columns: list[str]  # as the dataset names them
    nodes: list[str]  # their node names in the graph
    dummies: pd.DataFrame  # one indicator column per kept level except the most frequent (the reference)
    strata: np.ndarray  # joint level per row, e.g. "assay_chembl_id=CHEMBL123|mechanism=M2"
    levels: dict[str, dict] = field(default_factory=dict)  # column -> {"reference", "levels", "pooled_levels"}


def node_name(column: str) -> str:
    """A DOT-safe node name; a leading letter keeps names like ``2019`` legal."""
    return "c_" + re.sub(r"\W", "_", column)


def _pooled(values: list[str], rules: EncodingRules) -> tuple[list[str], dict]:
    cleaned = [(str(v).strip() if v is not None else "") or MISSING_LEVEL for v in values]
    counts = Counter(cleaned)
    ranked = sorted(counts, key=lambda level: (-counts[level], level))
    kept = set(lv for lv in ranked[: rules.max_levels] if counts[lv] >= rules.min_level_rows)
    if len(kept) < len(ranked):
        cleaned = [v if v in kept else OTHER_LEVEL for v in cleaned]
        counts = Counter(cleaned)
    levels = sorted(counts, key=lambda level: (-counts[level], level))
    return cleaned, {"reference": levels[0], "levels": levels, "pooled_levels": len(ranked) - len(kept)}


def encode_confounders(
    values: dict[str, list[str]], n_rows: int, rules: EncodingRules = EncodingRules()
) -> Confounding:
    """One-hot confounders with rare levels pooled; a column left with a single level confounds nothing."""
    nodes, blocks, described, strata_parts = [], [], {}, []
    for column, raw in values.items():
        cleaned, levels = _pooled(raw, rules)
        described[column] = levels
        if len(levels["levels"]) < 2:
            continue
        node = node_name(column)
        nodes.append(node)
        strata_parts.append([f"{column}={v}" for v in cleaned])
        block = {f"{node}__{i}": [float(v == level) for v in cleaned] for i, level in enumerate(levels["levels"][1:])}
        blocks.append(pd.DataFrame(block))
    dummies = pd.concat(blocks, axis=1) if blocks else pd.DataFrame(index=range(n_rows))
    strata = np.array(["|".join(p) for p in zip(*strata_parts, strict=True)] if strata_parts else ["all"] * n_rows)
    kept_columns = [c for c in values if node_name(c) in nodes]
    return Confounding(kept_columns, nodes, dummies, strata, described)


def backdoor_dot(nodes: list[str]) -> str:
    lines = [f"  {TREATMENT} -> {OUTCOME};"]
    for node in nodes:
        lines += [f"  {node} -> {TREATMENT};", f"  {node} -> {OUTCOME};"]
    return "digraph {\n" + "\n".join(lines) + "\n}"


def identify(confounding: Confounding, dot: str) -> IdentifiedEstimand:
    """DoWhy's backdoor identification on the variable-level graph, then the adjustment set in indicator columns."""
    frame = pd.DataFrame({TREATMENT: [0, 1], OUTCOME: [0.0, 0.0], **{n: ["a", "b"] for n in confounding.nodes}})
    graph_logger = logging.getLogger("dowhy.causal_graph")
    level = graph_logger.level
    graph_logger.setLevel(logging.CRITICAL)  # it logs an ERROR that pygraphviz is missing, then uses pydot: fine
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = CausalModel(data=frame, treatment=TREATMENT, outcome=OUTCOME, graph=dot)
            estimand = model.identify_effect(proceed_when_unidentifiable=True)
    finally:
        graph_logger.setLevel(level)
    estimand.set_identifier_method("backdoor")
    found = set(estimand.get_backdoor_variables() or [])
    if found != set(confounding.nodes):  # cannot happen on the backdoor graph; refuse rather than mis-adjust
        raise RuntimeError(f"DoWhy identified the adjustment set {sorted(found)}, not {sorted(confounding.nodes)}")
    estimand.set_adjustment_set(list(confounding.dummies.columns))
    return estimand
