"""services/featurizer/base.py: the featurizer registry and parameter checking."""

from __future__ import annotations

import pytest

from services.featurizer import base
from services.featurizer.base import FEATURIZERS, Featurizer, make_featurizer, register_featurizer
from services.featurizer.morgan import MorganBits, MorganCounts
from shared import catalog
from shared.errors import InvalidRequest


def test_registry_holds_the_morgan_featurizers():
    assert FEATURIZERS["morgan_counts"] is MorganCounts
    assert FEATURIZERS["morgan_bits"] is MorganBits


def test_make_featurizer_with_defaults():
    featurizer = make_featurizer({"name": "morgan_counts"})
    assert isinstance(featurizer, MorganCounts)
    assert featurizer.spec() == {"name": "morgan_counts", "params": {"radius": 2, "n_bits": 2048}}
    assert featurizer.n_features == 2048


def test_params_override_defaults():
    featurizer = make_featurizer({"name": "morgan_bits", "params": {"n_bits": 512}})
    assert featurizer.params == {"radius": 2, "n_bits": 512}
    assert featurizer.n_features == 512


def test_spec_round_trips():
    spec = {"name": "morgan_counts", "params": {"radius": 3, "n_bits": 1024}}
    assert make_featurizer(make_featurizer(spec).spec()).spec() == spec


def test_spec_is_a_copy():
    featurizer = make_featurizer({"name": "morgan_counts"})
    featurizer.spec()["params"]["radius"] = 99
    assert featurizer.params["radius"] == 2


@pytest.mark.parametrize("spec", [{"name": "ecfp"}, {"name": ""}, {}])
def test_unknown_featurizer_lists_the_known(spec):
    with pytest.raises(InvalidRequest) as info:
        make_featurizer(spec)
    known = info.value.details["known_featurizers"]
    assert known == sorted(catalog.FEATURIZERS)
    assert {"morgan_bits", "morgan_counts"} <= set(known)
    assert info.value.code == "validation_error"


def test_unknown_featurizer_is_named_in_the_message():
    with pytest.raises(InvalidRequest, match="unknown featurizer 'ecfp'"):
        make_featurizer({"name": "ecfp"})


def test_unknown_param():
    with pytest.raises(InvalidRequest) as info:
        make_featurizer({"name": "morgan_counts", "params": {"radius": 2, "chirality": True}})
    assert "chirality" in info.value.message
    assert info.value.details == {"known_parameters": ["n_bits", "radius"]}


def test_register_featurizer(monkeypatch):
    monkeypatch.setattr(base, "FEATURIZERS", dict(FEATURIZERS))
    monkeypatch.setitem(catalog.FEATURIZERS, "atom_count", {})  # names and defaults live in the catalog

    @register_featurizer
    class AtomCount(Featurizer):
        name = "atom_count"

        @property
        def n_features(self):
            return 1

        def featurize(self, mol):
            return {"indices": [0], "values": [mol.GetNumAtoms()]}

    assert base.FEATURIZERS["atom_count"] is AtomCount
    assert isinstance(make_featurizer({"name": "atom_count"}), AtomCount)
    with pytest.raises(InvalidRequest):
        make_featurizer({"name": "atom_count", "params": {"anything": 1}})  # no defaults: no params allowed


def test_a_class_without_a_catalog_entry_cannot_be_built(monkeypatch):
    monkeypatch.setattr(base, "FEATURIZERS", dict(FEATURIZERS))

    @register_featurizer
    class Uncatalogued(MorganBits):
        name = "uncatalogued"

    with pytest.raises(InvalidRequest) as info:
        make_featurizer({"name": "uncatalogued"})
    assert "uncatalogued" not in info.value.details["known_featurizers"]
