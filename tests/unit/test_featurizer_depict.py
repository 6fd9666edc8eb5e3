"""Depictions: relied-on atoms coloured by causal status, the atom limit, and what the gateway asks to draw."""

from __future__ import annotations

from services.featurizer.depict import atom_colours, depict_svg
from shared.depiction import MAX_ATOMS, STATUS_COLOURS, TOO_LARGE, depiction_item

CAPIVASERTIB = "NC(=O)C1(Cc2ccc(Cl)cc2)CCN(c2ncnc3[nH]ccc23)CC1"


def test_highlighted_atoms_take_their_status_colour() -> None:
    svg = depict_svg(CAPIVASERTIB, [{"atoms": [0, 1, 2], "status": "causal"}, {"atoms": [9], "status": "confounded"}])
    assert svg.startswith("<?xml") and "width='320px'" in svg and "height='240px'" in svg
    assert all(STATUS_COLOURS[s].upper() in svg.upper() for s in ("causal", "confounded"))
    assert STATUS_COLOURS["causal"].upper() not in depict_svg(CAPIVASERTIB, []).upper()


def test_overlapping_substructures_show_the_more_telling_status() -> None:
    colours = atom_colours([{"atoms": [0, 1], "status": "untestable"}, {"atoms": [1, 2], "status": "confounded"},
                            {"atoms": [2, 40], "status": "contradicted"}], n_atoms=10)
    assert set(colours) == {0, 1, 2}  # an index past the molecule is ignored
    assert colours[1] == atom_colours([{"atoms": [1], "status": "confounded"}], 10)[1]
    assert colours[2] == atom_colours([{"atoms": [2], "status": "contradicted"}], 10)[2]


def test_too_large_and_unparsable_structures() -> None:
    assert depict_svg("C" * (MAX_ATOMS + 1), []) == TOO_LARGE
    assert depict_svg("C" * MAX_ATOMS, []).startswith("<?xml")
    assert "<svg" in depict_svg("C1CC", [])  # not a molecule: an empty drawing, never an exception


def test_the_depiction_item_keeps_only_attributed_substructures_with_atoms() -> None:
    result = {"canonical_smiles": CAPIVASERTIB, "causal_validity": {"evidence": [
        {"atoms": [1, 2], "status": "causal", "reliance": "consistent", "contribution": 0.4},
        {"atoms": [3], "status": "causal", "reliance": "contradicted", "contribution": -0.2},
        {"atoms": [4], "status": "null", "contribution": None},
        {"atoms": [], "status": "null", "contribution": 0.1}]}}
    assert depiction_item(2, result) == {"index": 2, "smiles": CAPIVASERTIB, "highlights": [
        {"atoms": [1, 2], "status": "causal"}, {"atoms": [3], "status": "contradicted"}]}
    assert depiction_item(0, {"canonical_smiles": None, "causal_validity": None})["highlights"] == []
