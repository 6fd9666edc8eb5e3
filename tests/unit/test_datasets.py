"""services/featurizer/datasets.py (ingestion) and the dataset side of services/featurizer/logic.py.

The CSV and SDF files here are SYNTHETIC: small made-up tables of common molecules, written to exercise each rule.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from rdkit import Chem

from services.featurizer.base import make_featurizer
from services.featurizer.datasets import MAX_REJECTIONS_LISTED, ingest_dataset
from services.featurizer.logic import (
    INVALID_STRUCTURE,
    features_path,
    featurize_dataset,
    featurize_molecule,
    load_features,
)
from shared.datasets import META_FILE, ROWS_FILE, dataset_dir, dataset_id_for, read_meta, read_rows
from shared.errors import InvalidRequest

# SYNTHETIC: ids, SMILES, IC50 in nM and an assay context; rows 4-7 are bad, rows 1/2 and 8/9 are duplicates.
SYNTHETIC_CSV = b"""compound,smiles,ic50_nm,assay
c1,CCO,100,A1
c2,OCC,1000,A1
c3,CCO,100,A2
c4,C1CC,50,A1
c5,CCN,abc,A1
c6,CCC,,A1
c7,CCCC,0,A1
c8,Oc1ccccn1,10,A1
c9,O=c1cccc[nH]1.Cl,1,A1
"""
MAPPING = {"structure": "smiles", "activity": "ic50_nm", "activity_type": "value", "unit": "nM", "id": "compound",
           "context": ["assay"]}


@pytest.fixture
def ingested(tmp_path):
    return ingest_dataset(SYNTHETIC_CSV, "csv", MAPPING, tmp_path, "synthetic.csv"), tmp_path


def test_report_counts_and_reasons(ingested):
    meta, _ = ingested
    report = meta["report"]
    assert (report["rows_read"], report["rows_accepted"], report["rows_rejected"]) == (9, 5, 4)
    assert report["rejections"] == [
        {"row": 4, "id": "c4", "reason": "row 4: structure could not be parsed"},
        {"row": 5, "id": "c5", "reason": "row 5: activity 'abc' is not a number"},
        {"row": 6, "id": "c6", "reason": "row 6: activity is missing"},
        {"row": 7, "id": "c7", "reason": "row 7: value must be > 0 to convert to pActivity"},
    ]


def test_duplicates_merge_within_a_context_not_across(ingested):
    meta, root = ingested
    rows = read_rows(root, meta["dataset_id"])
    assert [(r["id"], r["canonical_smiles"], r["assay"]) for r in rows] == [
        ("c1", "CCO", "A1"),  # c1 and c2 (the same ethanol, same assay) merged, first id kept
        ("c3", "CCO", "A2"),  # the same ethanol in another assay stays its own row
        ("c8", "Oc1ccccn1", "A1"),  # 2-hydroxypyridine and pyridone: tautomers are deliberately not merged
        ("c9", "O=c1cccc[nH]1", "A1"),  # (the pyridone hydrochloride's salt is stripped, then it is its own row)
    ]
    # 100 nM -> 7.0 and 1000 nM -> 6.0 merge to their mean; 10 nM -> 8 and 1 nM -> 9 stay apart
    assert [float(r["pactivity"]) for r in rows] == [6.5, 7.0, 8.0, 9.0]
    assert meta["report"]["duplicates"]["groups"] == 1
    assert meta["report"]["duplicates"]["rows_merged"] == 1
    assert "mean" in meta["report"]["duplicates"]["policy"]
    assert meta["report"]["rows_written"] == meta["n_rows"] == 4


def test_nanomolar_to_pactivity(tmp_path):
    content = b"smiles,v\nCCO,100\nCCN,1\nCCC,2.5\n"  # SYNTHETIC
    meta = ingest_dataset(content, "csv", {"activity": "v", "activity_type": "value", "unit": "uM"}, tmp_path)
    values = [float(r["pactivity"]) for r in read_rows(tmp_path, meta["dataset_id"])]
    assert values == [4.0, 6.0, round(-np.log10(2.5e-6), 4)]  # the structure column defaults to "smiles"


def test_pactivity_is_taken_as_is_and_ids_default_to_row_numbers(tmp_path):
    meta = ingest_dataset(b"smiles,p\nCCO,5.25\nc1ccccc1,7\n", "csv", {"activity": "p"}, tmp_path)  # SYNTHETIC
    rows = read_rows(tmp_path, meta["dataset_id"])
    assert [(r["id"], r["pactivity"]) for r in rows] == [("1", "5.25"), ("2", "7.0")]


def test_stored_layout_follows_the_contract(ingested):
    meta, root = ingested
    folder = dataset_dir(root, meta["dataset_id"])
    assert (folder / ROWS_FILE).read_text().splitlines()[0] == "id,canonical_smiles,pactivity,assay"
    assert json.loads((folder / META_FILE).read_text()) == meta
    assert meta["columns"] == ["id", "canonical_smiles", "pactivity", "assay"]
    assert (meta["context_columns"], meta["mechanism_column"]) == (["assay"], None)
    assert meta["standardization"] == ["largest_fragment", "neutralize"]  # the same steps as predictions
    assert meta["dataset_id"] == dataset_id_for(SYNTHETIC_CSV, MAPPING)
    assert [p.name for p in root.iterdir()] == [meta["dataset_id"]]  # no staging folder left behind


def test_mechanism_column_is_stored_as_mechanism(tmp_path):
    content = b"smiles,p,moa\nCCO,5,allosteric\nCCN,6,\n"  # SYNTHETIC
    meta = ingest_dataset(content, "csv", {"activity": "p", "mechanism": "moa"}, tmp_path)
    assert [r["mechanism"] for r in read_rows(tmp_path, meta["dataset_id"])] == ["allosteric", ""]
    assert meta["columns"][-1] == "mechanism" and meta["mechanism_column"] == "moa"


def test_same_upload_is_the_same_dataset_and_is_not_rewritten(ingested):
    meta, root = ingested
    meta_file = dataset_dir(root, meta["dataset_id"]) / META_FILE
    written = meta_file.stat().st_mtime_ns
    again = ingest_dataset(SYNTHETIC_CSV, "csv", MAPPING, root, "renamed.csv")
    assert again == meta  # the stored metadata, filename included: a dataset is immutable
    assert meta_file.stat().st_mtime_ns == written
    other = ingest_dataset(SYNTHETIC_CSV, "csv", {**MAPPING, "context": []}, root)
    assert other["dataset_id"] != meta["dataset_id"]  # another mapping is another dataset


def test_missing_columns_are_named_with_the_available_ones(tmp_path):
    with pytest.raises(InvalidRequest) as info:
        ingest_dataset(SYNTHETIC_CSV, "csv", {**MAPPING, "activity": "pIC50", "context": ["assay", "year"]}, tmp_path)
    assert info.value.status == 400
    assert info.value.details == {"missing_columns": ["pIC50", "year"],
                                  "available_columns": ["compound", "smiles", "ic50_nm", "assay"]}
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize(("mapping", "detail"), [
    ({**MAPPING, "unit": "mg/L"}, "known_units"),
    ({**MAPPING, "unit": None}, "known_units"),
    ({"activity": "ic50_nm", "unit": "nM"}, "activity_type"),  # a unit without activity_type "value"
    ({**MAPPING, "activity_type": "pKi"}, "known"),
    ({**MAPPING, "colour": "red"}, "known_keys"),
    ({"structure": "smiles"}, "required_keys"),
    ({**MAPPING, "context": ["id"]}, "reserved_names"),
    ({**MAPPING, "context": "assay"}, "context"),
])
def test_bad_mappings_are_a_400(tmp_path, mapping, detail):
    with pytest.raises(InvalidRequest) as info:
        ingest_dataset(SYNTHETIC_CSV, "csv", mapping, tmp_path)
    assert detail in info.value.details


def test_unreadable_files_are_a_400(tmp_path):
    with pytest.raises(InvalidRequest, match="UTF-8"):
        ingest_dataset(b"smiles,p\n\xff\xfe,1\n", "csv", {"activity": "p"}, tmp_path)
    with pytest.raises(InvalidRequest, match="format"):
        ingest_dataset(SYNTHETIC_CSV, "xlsx", MAPPING, tmp_path)


def test_rejections_are_listed_up_to_the_cap_but_all_counted(tmp_path):
    content = b"smiles,p\n" + b"CCO,n/a\n" * (MAX_REJECTIONS_LISTED + 5) + b"CCO,5\n"  # SYNTHETIC
    report = ingest_dataset(content, "csv", {"activity": "p"}, tmp_path)["report"]
    assert report["rows_rejected"] == MAX_REJECTIONS_LISTED + 5
    assert len(report["rejections"]) == MAX_REJECTIONS_LISTED
    assert report["rows_accepted"] == 1


def synthetic_sdf(records):
    """SYNTHETIC SDF written by RDKit: (title, SMILES or a Mol, properties) per record."""
    from io import StringIO

    out = StringIO()
    writer = Chem.SDWriter(out)
    for title, structure, props in records:
        mol = Chem.MolFromSmiles(structure) if isinstance(structure, str) else structure
        mol.SetProp("_Name", title)
        for key, value in props.items():
            mol.SetProp(key, value)
        writer.write(mol)
    writer.close()
    return out.getvalue().encode()


def test_sdf_ingestion_from_molblocks(tmp_path):
    pentavalent = Chem.MolFromSmiles("C(C)(C)(C)(C)C", sanitize=False)  # five bonds on carbon: RDKit rejects it
    content = synthetic_sdf([
        ("m1", "CC(=O)[O-].[Na+]", {"pIC50": "6.1", "assay": "A"}),
        ("m2", pentavalent, {"pIC50": "5.0", "assay": "A"}),
        ("m3", "c1ccccc1O", {"pIC50": "x", "assay": "B"}),
        ("m4", "CC(=O)O", {"pIC50": "6.3", "assay": "A"}),
    ])
    meta = ingest_dataset(content, "sdf", {"activity": "pIC50", "context": ["assay"]}, tmp_path, "synthetic.sdf")
    rows = read_rows(tmp_path, meta["dataset_id"])
    assert [(r["id"], r["canonical_smiles"], r["pactivity"]) for r in rows] == [("m1", "CC(=O)O", "6.2")]
    assert [(r["row"], r["id"], r["reason"]) for r in meta["report"]["rejections"]] == [
        (2, "m2", "row 2: structure could not be parsed"),
        (3, "m3", "row 3: activity 'x' is not a number"),
    ]
    assert meta["format"] == "sdf"


def test_sdf_structure_from_a_smiles_property_and_missing_property(tmp_path):
    content = synthetic_sdf([("t1", "C", {"SMILES": "CCN", "act": "7"}), ("t2", "C", {"SMILES": "CCO"})])
    meta = ingest_dataset(content, "sdf", {"structure": "SMILES", "activity": "act"}, tmp_path)
    assert [r["canonical_smiles"] for r in read_rows(tmp_path, meta["dataset_id"])] == ["CCN"]
    assert meta["report"]["rejections"][0]["reason"] == "row 2: activity is missing"
    with pytest.raises(InvalidRequest) as info:
        ingest_dataset(content, "sdf", {"activity": "pKi"}, tmp_path)
    assert info.value.details["available_columns"] == ["SMILES", "act", "_Name"]


# ---- featurizing uploads and datasets ---------------------------------------------------------------------------


def test_featurize_molecule_from_a_molblock():
    featurizer = make_featurizer({"name": "morgan_counts"})
    molblock = Chem.MolToMolBlock(Chem.MolFromSmiles("OCC.Cl"))
    from_block = featurize_molecule({"id": "b", "molblock": molblock}, featurizer)
    from_smiles = featurize_molecule({"id": "s", "smiles": "CCO"}, featurizer)
    assert from_block["input_smiles"] == "CCO.Cl"  # what RDKit writes for the parsed block, before standardizing
    assert from_block["canonical_smiles"] == "CCO"
    assert from_block["features"] == from_smiles["features"]
    assert set(from_block) == set(from_smiles)


@pytest.mark.parametrize("molblock", ["not a molblock", "", Chem.MolToMolBlock(Chem.Mol())])
def test_bad_molblocks_are_invalid_structure(molblock):
    result = featurize_molecule({"id": "x", "molblock": molblock}, make_featurizer({"name": "morgan_counts"}))
    assert result["error"]["code"] == INVALID_STRUCTURE == "invalid_structure"
    assert result["input_smiles"] is None and result["canonical_smiles"] is None
    assert "features" not in result


def test_featurize_dataset_writes_once_and_loads(ingested):
    meta, root = ingested
    spec = {"name": "morgan_counts", "params": {"n_bits": 256}}
    key = featurize_dataset(meta["dataset_id"], root, spec)
    path = features_path(root, meta["dataset_id"], key)
    written = path.stat().st_mtime_ns
    assert featurize_dataset(meta["dataset_id"], root, {"name": "morgan_counts", "params": {"n_bits": 256,
                                                                                           "radius": 2}}) == key
    assert path.stat().st_mtime_ns == written  # same resolved spec: same key, not recomputed
    assert featurize_dataset(meta["dataset_id"], root, {"name": "morgan_bits"}) != key
    features = load_features(root, meta["dataset_id"], key)
    assert list(features["ids"]) == ["c1", "c3", "c8", "c9"]
    assert features["ok"].all() and features["n_features"] == 256
    assert features["spec"] == {"name": "morgan_counts", "params": {"radius": 2, "n_bits": 256}}
    expected = featurize_molecule({"id": "c9", "smiles": "O=c1cccc[nH]1"}, make_featurizer(spec))["features"]
    lo, hi = features["indptr"][3], features["indptr"][4]
    assert list(features["indices"][lo:hi]) == expected["indices"]
    assert list(features["values"][lo:hi]) == expected["values"]


@pytest.mark.parametrize("key", ["../../etc/passwd", "morgan_counts", "x-0123456789abcdeZ"])
def test_features_keys_cannot_name_other_paths(tmp_path, key):
    with pytest.raises(InvalidRequest):
        features_path(tmp_path, "ds_abc", key)


def test_read_meta_round_trip(ingested):
    meta, root = ingested
    assert read_meta(root, meta["dataset_id"])["report"]["rows_read"] == 9
