"""The causal graph of one effect question, its DoWhy identification, and the encoded confounders.

The graph is the backdoor graph on pre-treatment context: every confounder (a context column such as the assay,
the document or the isoform, or a column the user declares a confounder) causes both the treatment (which
molecules were made and measured with the substructure) and the outcome (pActivity), and the treatment causes the
outcome. A mechanism is not on this graph unless the user declares it a confounder: mechanisms modify effects, they
are not common causes. Nothing computed from the outcome is ever a node. DoWhy identifies the effect on that
variable-level graph; each confounder then enters the estimators as integer level codes, every level kept (no
pooling of small levels into "other": the fixed-effects estimators absorb them, ``fixed_effects.py``). Empty values
are a level of their own (``missing``).
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

from services.causal.fixed_effects import factorize

logger = logging.getLogger(__name__)
# DoWhy narrates every estimate and identification at INFO (dozens of lines per treatment): keep its warnings only.
logging.getLogger("dowhy").setLevel(logging.WARNING)

TREATMENT = "treatment"
OUTCOME = "pActivity"
MISSING_LEVEL = "missing"
SMALL_LEVEL_ROWS = 20  # only described: how many levels a pooling rule would have merged away


@dataclass
class Confounding:
    """The confounders of a question as level codes, with the joint stratum of every row."""

    columns: list[str]  # as the dataset names them (those with at least two levels)
    nodes: list[str]  # their node names in the graph
    codes: pd.DataFrame  # one int64 column of level codes per node
    strata: np.ndarray  # joint level per row, e.g. "assay_chembl_id=CHEMBL123|gene=AKT2"
    levels: dict[str, dict] = field(default_factory=dict)  # column -> {"levels", "singletons", "under_20_rows"...}

    @property
    def level_arrays(self) -> list[np.ndarray]:
        return [self.codes[n].to_numpy() for n in self.nodes]


def node_name(column: str) -> str:
    """A DOT-safe node name; a leading letter keeps names like ``2019`` legal."""
    return "c_" + re.sub(r"\W", "_", column)


def encode_confounders(values: dict[str, list[str]], n_rows: int) -> Confounding:
    """Level codes per confounder, every level kept; a column with a single level confounds nothing."""
    nodes, codes, described, strata_parts, kept = [], {}, {}, [], []
    for column, raw in values.items():
        cleaned = [(str(v).strip() if v is not None else "") or MISSING_LEVEL for v in raw]
        counts = Counter(cleaned)
        described[column] = {
            "levels": len(counts), "singletons": sum(c == 1 for c in counts.values()),
            f"under_{SMALL_LEVEL_ROWS}_rows": sum(c < SMALL_LEVEL_ROWS for c in counts.values()),
            "largest": max(counts.values()) if counts else 0, "encoding": "fixed effects, every level kept",
        }
        if len(counts) < 2:
            continue
        node = node_name(column)
        nodes.append(node)
        kept.append(column)
        codes[node] = factorize(cleaned)
        strata_parts.append([f"{column}={v}" for v in cleaned])
    frame = pd.DataFrame(codes, index=range(n_rows)) if codes else pd.DataFrame(index=range(n_rows))
    strata = np.array(["|".join(p) for p in zip(*strata_parts, strict=True)] if strata_parts else ["all"] * n_rows)
    return Confounding(kept, nodes, frame, strata, described)


def backdoor_dot(nodes: list[str]) -> str:
    lines = [f"  {TREATMENT} -> {OUTCOME};"]
    for node in nodes:
        lines += [f"  {node} -> {TREATMENT};", f"  {node} -> {OUTCOME};"]
    return "digraph {\n" + "\n".join(lines) + "\n}"


def identify(confounding: Confounding, dot: str) -> IdentifiedEstimand:
    """DoWhy's backdoor identification on the variable-level graph; the adjustment set is the confounder nodes."""
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
    estimand.set_adjustment_set(list(confounding.nodes))
    return estimand
