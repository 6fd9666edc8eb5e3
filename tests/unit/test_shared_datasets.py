"""shared/datasets.py: dataset ids, folders (never outside the datasets dir), and reading a stored dataset."""

from __future__ import annotations

import json

import pytest

from shared.datasets import (
    BASE_COLUMNS,
    META_FILE,
    ROWS_FILE,
    DatasetNotFound,
    dataset_dir,
    dataset_id_for,
    read_meta,
    read_rows,
)


def write_dataset(root, dataset_id, rows, meta):
    folder = root / dataset_id
    folder.mkdir(parents=True)
    (folder / META_FILE).write_text(json.dumps(meta))
    columns = list(rows[0])
    lines = [",".join(columns)] + [",".join(str(r[c]) for c in columns) for r in rows]
    (folder / ROWS_FILE).write_text("\n".join(lines) + "\n")


def test_dataset_id_is_a_content_hash():
    first = dataset_id_for(b"smiles,y\nCCO,5\n", {"smiles": "smiles", "activity": "y"})
    assert first.startswith("ds_") and len(first) == 3 + 24
    assert first[3:].isalnum()
    assert first == dataset_id_for(b"smiles,y\nCCO,5\n", {"activity": "y", "smiles": "smiles"})  # key order ignored
    assert first != dataset_id_for(b"smiles,y\nCCO,6\n", {"smiles": "smiles", "activity": "y"})
    assert first != dataset_id_for(b"smiles,y\nCCO,5\n", {"smiles": "smiles", "activity": "pIC50"})


def test_dataset_dir(tmp_path):
    assert dataset_dir(tmp_path, "ds_abc123") == tmp_path / "ds_abc123"


@pytest.mark.parametrize("dataset_id", ["abc", "ds_", "ds_../x", "ds_a/b", "ds_a.b", "../ds_abc", "ds_a b"])
def test_dataset_dir_refuses_ids_that_are_not_ids(tmp_path, dataset_id):
    with pytest.raises(DatasetNotFound) as info:
        dataset_dir(tmp_path, dataset_id)
    assert (info.value.status, info.value.code) == (404, "dataset_not_found")
    assert info.value.details == {"dataset_id": dataset_id}


def test_read_meta_and_rows(tmp_path):
    rows = [{"id": "a", "canonical_smiles": "CCO", "pactivity": "5.25", "assay_ph": "7.4"},
            {"id": "b", "canonical_smiles": "c1ccccc1", "pactivity": "6.0", "assay_ph": "6.5"}]
    write_dataset(tmp_path, "ds_abc", rows, {"rows_accepted": 2})
    assert read_meta(tmp_path, "ds_abc") == {"rows_accepted": 2}
    assert read_rows(tmp_path, "ds_abc") == rows  # strings, verbatim


def test_unknown_dataset(tmp_path):
    with pytest.raises(DatasetNotFound):
        read_meta(tmp_path, "ds_missing")
    with pytest.raises(DatasetNotFound):
        read_rows(tmp_path, "ds_missing")


def test_base_columns():
    assert BASE_COLUMNS == ("id", "canonical_smiles", "pactivity")
