"""The nearest training molecules of a query, named: id, SMILES and measured pActivity, with their similarity.

Training writes ``TRAINING_ROWS_FILE`` beside the version's domain fingerprints (``applicability.AD_FILE``), one
row per fingerprint in the same order, so a neighbour's index in ``NearestNeighbourIndex`` is its row here. Only the
csv module is used: the gateway and the scoring worker can both read it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import numpy as np

TRAINING_ROWS_FILE = "training_rows.csv"
TRAINING_ROWS_COLUMNS = ("id", "canonical_smiles", "pactivity")
N_NEIGHBOURS = 5  # OPERA shows 5; the results page shows the same


def training_rows_csv(ids: list[str], smiles: list[str], pactivity: list[float]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TRAINING_ROWS_COLUMNS)
    writer.writerows(zip(ids, smiles, (round(float(p), 4) for p in pactivity), strict=True))
    return out.getvalue()


@dataclass(frozen=True)
class TrainingRows:
    ids: list[str]
    smiles: list[str]
    pactivity: list[float]

    @classmethod
    def parse(cls, text: str) -> TrainingRows:
        rows = list(csv.DictReader(io.StringIO(text)))
        return cls([r["id"] for r in rows], [r["canonical_smiles"] for r in rows],
                   [float(r["pactivity"]) for r in rows])

    def nearest(self, similarity: np.ndarray, k: int = N_NEIGHBOURS) -> list[dict[str, Any]]:
        """The ``k`` most similar rows, most similar first (ties by row order), as the results carry them."""
        k = min(k, len(similarity))
        if k == 0:
            return []
        top = np.argpartition(-similarity, k - 1)[:k]
        top = top[np.lexsort((top, -similarity[top]))]
        return [{"id": self.ids[i], "smiles": self.smiles[i], "pactivity": self.pactivity[i],
                 "similarity": round(float(similarity[i]), 4)} for i in top]
