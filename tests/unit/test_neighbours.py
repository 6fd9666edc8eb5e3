"""The named nearest neighbours: the rows file round-trips and ``nearest`` ranks by similarity, ties by row."""

from __future__ import annotations

import numpy as np

from shared.applicability import NearestNeighbourIndex, pack_fingerprints
from shared.neighbours import TrainingRows, training_rows_csv


def rows() -> TrainingRows:
    return TrainingRows.parse(training_rows_csv(["m0", "m1", "m2", "m3"], ["C", "CC", "CCC", "CCCC"],
                                                [5.0, 6.123456, 7.0, 8.0]))


def test_rows_round_trip_through_the_file() -> None:
    parsed = rows()
    assert parsed.ids == ["m0", "m1", "m2", "m3"] and parsed.smiles[3] == "CCCC"
    assert parsed.pactivity == [5.0, 6.1235, 7.0, 8.0]


def test_nearest_ranks_by_similarity_then_row_order() -> None:
    similarity = np.array([0.2, 0.9, 0.5, 0.9])
    nearest = rows().nearest(similarity, k=3)
    assert [n["id"] for n in nearest] == ["m1", "m3", "m2"]
    assert nearest[0] == {"id": "m1", "smiles": "CC", "pactivity": 6.1235, "similarity": 0.9}
    assert len(rows().nearest(similarity, k=10)) == 4 and rows().nearest(np.array([]), k=5) == []


def test_nearest_agrees_with_the_domain_index() -> None:
    index = NearestNeighbourIndex(pack_fingerprints([[1, 2, 3], [1, 2], [7, 8], [1, 2, 3, 4]]))
    similarity = index.similarities([1, 2, 3])
    nearest = rows().nearest(similarity, k=2)
    assert [n["id"] for n in nearest] == ["m0", "m3"]
    assert nearest[0]["similarity"] == index.max_similarity([1, 2, 3]) == 1.0
