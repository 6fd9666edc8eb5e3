"""services/gateway/uploads.py: uploaded CSV and SDF files read in plain Python, an unreadable one a 400."""

from __future__ import annotations

import csv

import pytest

from services.gateway.uploads import MAX_CSV_COLUMNS, csv_header, csv_rows, molecules_from_upload
from shared.errors import InvalidRequest


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending_reads_the_same(ending):
    content = ending.join([b"smiles,name", b"CCO,ethanol", b"c1ccccc1,benzene", b""])
    assert molecules_from_upload(content, "csv", {"id": "name"}) == [
        {"id": "ethanol", "smiles": "CCO"}, {"id": "benzene", "smiles": "c1ccccc1"}]
    assert csv_header(content) == ["smiles", "name"]


def test_blank_lines_are_skipped_and_short_rows_filled():
    content = b"name,smiles\na,CCO\n\nb\n"
    assert molecules_from_upload(content, "csv", {"id": "name"}) == [{"id": "a", "smiles": "CCO"},
                                                                     {"id": "b", "smiles": ""}]


@pytest.mark.parametrize("content", [
    b"smiles,pactivity\n" + b"C" * (csv.field_size_limit() + 1) + b",5\n",  # a data row
    b"smiles" + b"C" * (csv.field_size_limit() + 1) + b"\nCCO\n",  # the header itself
])
def test_a_field_over_the_csv_limit_is_a_400_naming_the_line(content):
    with pytest.raises(InvalidRequest) as info:
        csv_header(content)  # reads the whole file, so a dataset upload is refused before its job starts
    assert "longer than 131,072 characters" in info.value.message
    assert info.value.details["line"] in (1, 2)
    with pytest.raises(InvalidRequest):
        molecules_from_upload(content, "csv", {})


def test_too_many_columns_is_a_400():
    content = ",".join(f"c{i}" for i in range(MAX_CSV_COLUMNS + 1)).encode() + b"\n"
    with pytest.raises(InvalidRequest) as info:
        next(csv_rows(content))
    assert info.value.details == {"line": 1, "max_columns": MAX_CSV_COLUMNS}


def test_not_utf8_is_a_400():
    with pytest.raises(InvalidRequest):
        csv_header(b"smiles\n\xff\n")


def test_sdf_records_with_blank_titles_keep_their_header():
    """RDKit writes a blank title line for a molecule without _Name: the molblock's header must not shift."""
    from rdkit import Chem

    block = "".join(Chem.MolToMolBlock(Chem.MolFromSmiles(s)) + "\n>  <id>\nm" + str(i) + "\n\n$$$$\n"
                    for i, s in enumerate(["CCO", "c1ccccc1"]))
    molecules = molecules_from_upload(block.encode(), "sdf", {"id": "id"})
    assert [m["id"] for m in molecules] == ["m0", "m1"]
    for molecule, smiles in zip(molecules, ["CCO", "c1ccccc1"], strict=True):
        assert Chem.MolToSmiles(Chem.MolFromMolBlock(molecule["molblock"])) == Chem.CanonSmiles(smiles)
