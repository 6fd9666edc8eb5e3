"""services/causal/profile.py: the mechanism is not a backdoor adjuster for a substructure that determines it."""

from __future__ import annotations

import numpy as np

from services.causal.profile import DEFINITIONAL_SHARE, determined_mechanism

LABELS = ["atp_site", "allosteric"]


def test_a_substructure_that_coincides_with_a_mechanism_drops_it_from_the_adjustment_set():
    # 100 allosteric molecules, 95 with the motif; 400 ATP-site ones, 5 with it: the label is read off the motif.
    ids = np.array([1] * 100 + [0] * 400)
    t = np.array([1] * 95 + [0] * 5 + [1] * 5 + [0] * 395)
    note = determined_mechanism(t, ids, LABELS)
    assert note is not None and "determined by the substructure" in note and "allosteric" in note


def test_a_sub_series_of_one_mechanism_keeps_the_mechanism_as_adjuster():
    ids = np.array([1] * 100 + [0] * 400)
    t = np.array([1] * 30 + [0] * 70 + [0] * 400)  # only in the allosteric series, but in under a third of it
    assert determined_mechanism(t, ids, LABELS) is None


def test_a_substructure_common_to_a_dominant_mechanism_does_not_determine_it():
    # Benzene-like: in 93% of a mechanism holding 83% of the molecules, but absent molecules are that mechanism too.
    ids = np.array([0] * 830 + [1] * 170)
    t = np.array([1] * 772 + [0] * 58 + [1] * 170)
    assert np.mean(ids[t == 1] == 0) >= DEFINITIONAL_SHARE - 0.05
    assert determined_mechanism(t, ids, LABELS) is None


def test_a_single_mechanism_or_an_absent_substructure_determines_nothing():
    assert determined_mechanism(np.ones(50, dtype=int), np.zeros(50, dtype=int), ["M1"]) is None
    assert determined_mechanism(np.zeros(50, dtype=int), np.array([0, 1] * 25), LABELS) is None
