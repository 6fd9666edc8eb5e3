"""services/causal/attributions.py: additive per-unit attributions of real models trained on real AKT1 structures."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from rdkit import Chem
from sklearn.ensemble import ExtraTreesRegressor, HistGradientBoostingRegressor, RandomForestRegressor

from services.causal.attributions import (
    REMAINDER_KEY,
    attribute,
    environment_centres,
    explainer,
    feature_attributions,
    group,
    morgan_block,
    smarts_attribution,
)
from services.causal.substructures import partition
from services.featurizer.logic import make_featurizer
from services.predictor.estimators import TanimotoNeighboursRegressor
from services.predictor.reference import AKT1_FILE
from services.predictor.training import dense_matrix

CAPIVASERTIB = "NC(=O)C1(CCN(CC1)c1ncnc2[nH]ccc12)Cc1ccc(Cl)cc1"
COUNTS = {"name": "morgan_counts", "params": {"radius": 2, "n_bits": 2048}}
BITS = {"name": "morgan_bits", "params": {"radius": 2, "n_bits": 2048}}
WITH_DESCRIPTORS = {"name": "morgan_counts+rdkit2d", "params": {"radius": 2, "n_bits": 2048}}


def reference_rows(n: int = 60, step: int = 80) -> tuple[list[str], np.ndarray]:
    with AKT1_FILE.open(newline="") as handle:
        rows = list(csv.DictReader(handle))[::step][:n]
    return [r["canonical_smiles"] for r in rows], np.array([float(r["pchembl_value"]) for r in rows])


def features(smiles: list[str], spec: dict) -> np.ndarray:
    featurizer = make_featurizer(spec)
    return dense_matrix([featurizer.featurize(Chem.MolFromSmiles(s)) for s in smiles], featurizer.n_features)


@pytest.fixture(scope="module")
def data():
    smiles, y = reference_rows()
    return [*smiles, CAPIVASERTIB], y


@pytest.fixture(scope="module")
def forest(data):
    smiles, y = data
    x = features(smiles, COUNTS)
    model = RandomForestRegressor(n_estimators=8, random_state=0, n_jobs=1).fit(x[:-1], y)
    return model, x, [Chem.MolFromSmiles(s) for s in smiles]


def assert_additive(model, x, attributions):
    predicted = model.predict(x)
    for a, p in zip(attributions, predicted, strict=True):
        total = a.baseline + sum(u["attribution"] for u in a.units) + a.remainder
        assert total == pytest.approx(a.prediction, abs=1e-6)
        assert a.prediction == pytest.approx(p, abs=1e-6)


def test_attributions_are_additive_over_the_partition(forest):
    model, x, mols = forest
    attributions = attribute(model, COUNTS, mols, x)
    assert len(attributions) == len(mols)
    assert_additive(model, x, attributions)
    for a, mol in zip(attributions, mols, strict=True):
        assert sorted(i for u in a.units for i in u["atoms"]) == list(range(mol.GetNumAtoms()))
        assert sum(a.atom_attributions) == pytest.approx(sum(u["attribution"] for u in a.units), abs=1e-9)


def test_capivasertib_units_carry_names_and_attributions(forest):
    model, x, mols = forest
    capivasertib = attribute(model, COUNTS, mols[-1:], x[-1:])[0]
    names = [u["name"] for u in capivasertib.units]
    assert names[:3] == ["piperidine", "pyrrolo[2,3-d]pyrimidine", "benzene"]
    entry = capivasertib.to_dict()
    assert set(entry) == {"baseline", "prediction", "units", "remainder"}
    assert entry["remainder"]["key"] == REMAINDER_KEY
    assert set(entry["units"][0]) == {"key", "kind", "name", "smarts", "atoms", "attribution"}
    assert any(u["attribution"] != 0 for u in capivasertib.units)


def test_a_feature_centred_in_a_unit_lands_in_that_unit():
    mol = Chem.MolFromSmiles(CAPIVASERTIB)
    units = partition(mol)
    centres = environment_centres(mol, 2, 2048)
    owner = {a: i for i, u in enumerate(units) for a in u.atoms}
    x = np.zeros(2048)
    for bit, atoms in centres.items():
        x[bit] = len(atoms)
    inside = next(b for b, atoms in centres.items() if len(atoms) == 1 and owner[atoms[0]] == 1)  # the hinge binder
    spread = next(b for b, atoms in centres.items() if len({owner[a] for a in atoms}) > 1)
    absent = next(b for b in range(2048) if b not in centres)
    for bit in (inside, spread, absent):
        phi = np.zeros(2048)
        phi[bit] = 1.0
        by_unit, remainder, _ = group(phi, x, centres, units, mol.GetNumAtoms(), 2048)
        if bit == inside:
            assert by_unit[1] == 1.0 and sum(by_unit) == 1.0 and remainder == 0.0
        elif bit == spread:
            shares = [sum(owner[a] == i for a in centres[bit]) / len(centres[bit]) for i in range(len(units))]
            assert by_unit == pytest.approx(shares) and remainder == pytest.approx(0.0)
        else:
            assert by_unit == [0.0] * len(units) and remainder == 1.0, "an absent feature is the remainder"


def test_non_morgan_columns_go_to_the_remainder():
    mol = Chem.MolFromSmiles(CAPIVASERTIB)
    units = partition(mol)
    centres = environment_centres(mol, 2, 2048)
    phi, x = np.zeros(2048 + 216), np.ones(2048 + 216)
    phi[2048 + 3] = 0.7
    by_unit, remainder, _ = group(phi, x, centres, units, mol.GetNumAtoms(), 2048)
    assert sum(by_unit) == 0.0 and remainder == pytest.approx(0.7)


def test_real_feature_lands_where_its_centre_is(forest):
    """On the trained forest: the per-atom credit of a single-occurrence feature is at its centre atom."""
    model, x, mols = forest
    mol, row = mols[-1], x[-1]
    baseline, phi = feature_attributions(model, x[-1:])
    centres = environment_centres(mol, 2, 2048)
    single = [b for b, atoms in centres.items() if len(atoms) == 1 and phi[0, b] != 0]
    assert single, "the forest splits on some environment of capivasertib"
    units = partition(mol)
    for bit in single:
        only = np.zeros_like(phi[0])
        only[bit] = phi[0, bit]
        by_unit, remainder, _ = group(only, row, centres, units, mol.GetNumAtoms(), 2048)
        holder = next(i for i, u in enumerate(units) if centres[bit][0] in u.atoms)
        assert by_unit[holder] == pytest.approx(phi[0, bit]) and remainder == pytest.approx(0.0)


def test_centres_count_as_the_featurizer_counts(data):
    smiles, _ = data
    featurizer = make_featurizer(COUNTS)
    for s in smiles[:20]:
        mol = Chem.MolFromSmiles(s)
        vector = featurizer.featurize(mol)
        centres = environment_centres(mol, 2, 2048)
        assert {b: len(a) for b, a in centres.items()} == dict(zip(vector["indices"], vector["values"], strict=True))


@pytest.mark.parametrize("spec", [BITS, WITH_DESCRIPTORS])
def test_other_morgan_featurizers(data, spec):
    smiles, y = data
    x = features(smiles, spec)
    model = RandomForestRegressor(n_estimators=5, random_state=0, n_jobs=1).fit(x[:-1], y)
    attributions = attribute(model, spec, [Chem.MolFromSmiles(s) for s in smiles], x)
    assert_additive(model, x, attributions)


@pytest.mark.parametrize("model", [
    ExtraTreesRegressor(n_estimators=5, random_state=0, n_jobs=1),
    HistGradientBoostingRegressor(max_iter=20, random_state=0),
])
def test_other_tree_models(forest, data, model):
    _, x, mols = forest
    model.fit(x[:-1], data[1])
    assert_additive(model, x, attribute(model, COUNTS, mols, x))


def test_no_attribution_without_trees_or_atoms(forest, data):
    model, x, mols = forest
    knn = TanimotoNeighboursRegressor(n_neighbors=3, metric="jaccard").fit(x[:-1], data[1])
    assert attribute(knn, COUNTS, mols, x) is None and explainer(knn) is None
    assert attribute(model, {"name": "rdkit2d", "params": {}}, mols, x) is None
    assert morgan_block({"name": "rdkit2d", "params": {}}) is None
    assert morgan_block(WITH_DESCRIPTORS) == (2, 2048)
    assert explainer(RandomForestRegressor()) is None, "not fitted"


def test_unparsed_molecules_get_none(forest):
    model, x, mols = forest
    out = attribute(model, COUNTS, [None, mols[1]], x[:2])
    assert out[0] is None and out[1] is not None


def test_explainer_is_cached_per_estimator(forest):
    model, _, _ = forest
    assert explainer(model) is explainer(model)


def test_smarts_attribution_sums_matched_atoms(forest):
    model, x, mols = forest
    mol = mols[-1]
    a = attribute(model, COUNTS, [mol], x[-1:])[0]
    chloro = next(u for u in a.units if u["key"] == "fg:chloro")
    assert smarts_attribution(mol, a, "Cl") == pytest.approx(chloro["attribution"])
    matched = {i for m in mol.GetSubstructMatches(Chem.MolFromSmarts("c1ncnc2[nH]ccc12")) for i in m}
    assert smarts_attribution(mol, a, "c1ncnc2[nH]ccc12") == pytest.approx(sum(a.atom_attributions[i] for i in matched))
    assert smarts_attribution(mol, a, "S(=O)(=O)N") is None


@pytest.mark.parametrize("spec", [COUNTS, WITH_DESCRIPTORS])
def test_the_chunk_per_atom_attributions_are_the_per_molecule_ones_bit_for_bit(data, spec):
    """``attribute`` groups a whole chunk at once: the very floats of ``atom_attributions`` molecule by molecule
    (the bit-info map of each), with absent and non-Morgan features left out the same way."""
    from services.causal.attributions import atom_attributions, chunk_atom_attributions

    smiles, _ = data
    mols = [Chem.MolFromSmiles(s) for s in [*smiles, "C", "CCO", "[Na+]"]]
    x = features([Chem.MolToSmiles(m) for m in mols], spec)
    x[3, np.flatnonzero(x[3])[:5]] = 0  # features the molecule has but the vector lacks: the remainder's
    phi = np.random.default_rng(0).normal(size=x.shape)
    chunk = chunk_atom_attributions(phi, x, mols, 2, 2048)
    for row, mol in enumerate(mols):
        alone = atom_attributions(phi[row], x[row], environment_centres(mol, 2, 2048), mol.GetNumAtoms(), 2048)
        assert chunk[row].tobytes() == alone.tobytes(), smiles[row] if row < len(smiles) else row
    assert chunk_atom_attributions(phi[:0], x[:0], [], 2, 2048) == []
