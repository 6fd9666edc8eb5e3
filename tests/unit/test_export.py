"""shared/export.py (CSV) and services/featurizer/export.py (SDF): one record per result, same fields."""

from __future__ import annotations

import csv
import io

import pytest
from rdkit import Chem

from services.featurizer.export import results_to_sdf
from shared.export import CSV_COLUMNS, PROVENANCE_COLUMNS, export_provenance, flat_result, results_to_csv

# SYNTHETIC results in the shape of shared.schemas.MoleculeResultSchema (values made up).
OK = {
    "id": "capivasertib", "input_smiles": "NC(=O)C1(CCN(CC1)c1ncnc2[nH]ccc12)Cc1ccc(Cl)cc1",
    "canonical_smiles": "NC(=O)C1(Cc2ccc(Cl)cc2)CCN(c2ncnc3[nH]ccc23)CC1",
    "prediction": {"value": 7.9, "unit": "pActivity", "interval": [6.8, 9.0], "interval_80": [7.1, 8.7]},
    "causal_validity": {"verdict": "unknown", "reasons": ["inside the domain", "no causal profile yet"],
                        "applicability_domain": {"max_similarity": 0.71, "in_domain": True, "threshold": 0.26},
                        "mechanism": {"id": "M2", "label": "atp_competitive_or_unknown", "probability": 0.93,
                                      "focus": None}},
    "error": None,
}
BAD = {"id": "=HYPERLINK(\"x\")", "input_smiles": "C1CC", "canonical_smiles": None, "prediction": None,
       "causal_validity": None, "error": {"code": "invalid_smiles", "message": "RDKit could not\nparse it"}}
NO_MOLBLOCK = {"id": "m", "input_smiles": None, "canonical_smiles": None, "prediction": None, "causal_validity": None,
               "error": {"code": "invalid_structure", "message": "unreadable"}}
RESULTS = [OK, BAD, NO_MOLBLOCK]


def read_csv(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_has_one_row_per_result_under_the_fixed_header():
    text = results_to_csv(RESULTS)
    assert text.splitlines()[0] == ",".join(CSV_COLUMNS)
    assert len(read_csv(text)) == len(RESULTS)
    assert results_to_csv([]) == ",".join(CSV_COLUMNS) + "\n"


def test_csv_fields_of_a_prediction():
    row = read_csv(results_to_csv([OK]))[0]
    assert row["id"] == "capivasertib"
    assert (row["prediction"], row["unit"], row["interval_lo"], row["interval_hi"]) == ("7.9", "pActivity", "6.8",
                                                                                        "9.0")
    assert (row["interval_80_lo"], row["interval_80_hi"]) == ("7.1", "8.7")
    assert (row["verdict"], row["in_domain"], row["max_similarity"], row["ad_threshold"]) == ("unknown", "true",
                                                                                              "0.71", "0.26")
    assert row["reasons"] == "inside the domain; no causal profile yet"
    assert (row["mechanism_id"], row["mechanism_label"], row["mechanism_probability"]) == (
        "M2", "atp_competitive_or_unknown", "0.93")
    assert row["error_code"] == row["error_message"] == ""


def test_csv_fields_of_an_error_and_formula_quoting():
    row = read_csv(results_to_csv([BAD]))[0]
    assert row["id"] == "'=HYPERLINK(\"x\")"  # a spreadsheet must not run a caller's id as a formula
    assert (row["error_code"], row["error_message"]) == ("invalid_smiles", "RDKit could not\nparse it")
    assert row["prediction"] == row["verdict"] == row["canonical_smiles"] == ""


def test_negative_numbers_are_not_quoted():
    result = {**OK, "prediction": {"value": -1.5, "unit": "pActivity", "interval": [-2.0, -1.0]}}
    row = read_csv(results_to_csv([result]))[0]
    assert (row["prediction"], row["interval_lo"]) == ("-1.5", "-2.0")


def test_a_bare_mechanism_label_and_no_interval():
    result = {**OK, "prediction": {"value": 6.0, "unit": "pActivity", "interval": None},
              "causal_validity": {**OK["causal_validity"], "mechanism": "allosteric"}}
    flat = flat_result(result)
    assert (flat["mechanism_id"], flat["mechanism_label"], flat["mechanism_probability"]) == (None, "allosteric", None)
    assert flat["interval_lo"] is flat["interval_hi"] is flat["interval_80_lo"] is None


def read_sdf(text):
    return list(Chem.ForwardSDMolSupplier(io.BytesIO(text.encode())))


def test_sdf_has_one_record_per_result_in_order():
    text = results_to_sdf(RESULTS)
    assert text.count("$$$$") == len(RESULTS)
    records = read_sdf(text)
    assert len(records) == len(RESULTS) and all(r is not None for r in records)
    assert [r.GetProp("_Name") for r in records] == [OK["id"], BAD["id"], "m"]


def test_sdf_structure_and_properties_of_a_prediction():
    record = read_sdf(results_to_sdf([OK]))[0]
    assert Chem.MolToSmiles(record) == OK["canonical_smiles"]
    assert record.GetNumConformers() == 1 and not record.GetConformer().Is3D()
    coords = record.GetConformer().GetPositions()
    assert abs(coords[:, :2]).sum() > 0  # real 2D coordinates, not all zeros
    props = record.GetPropsAsDict()
    assert props["id"] == "capivasertib"
    assert props["prediction"] == pytest.approx(7.9)
    assert (props["interval_lo"], props["interval_hi"]) == (pytest.approx(6.8), pytest.approx(9.0))
    assert props["verdict"] == "unknown" and props["in_domain"] == "true"
    assert props["reasons"] == "inside the domain; no causal profile yet"
    assert props["mechanism_label"] == "atp_competitive_or_unknown"
    assert "error_code" not in props


def test_sdf_failed_molecules_are_empty_records_with_their_error():
    bad, unreadable = read_sdf(results_to_sdf([BAD, NO_MOLBLOCK]))
    assert bad.GetNumAtoms() == unreadable.GetNumAtoms() == 0
    assert bad.GetProp("id") == BAD["id"]
    assert bad.GetProp("error_code") == "invalid_smiles"
    assert bad.GetProp("error_message") == "RDKit could not parse it"  # one line: SD values cannot break lines
    assert unreadable.GetProp("error_code") == "invalid_structure"
    assert not bad.HasProp("prediction")


def test_sdf_survives_hostile_ids():
    results = [{**BAD, "id": "$$$$"}, {**OK, "id": "a\nb"}]
    records = read_sdf(results_to_sdf(results))
    assert len(records) == 2
    assert records[0].GetProp("id").strip() == "$$$$"  # kept, but never at a line start where it ends a record
    assert records[1].GetProp("id") == "a b"


# A JSON body can carry "\ud800"; jobs stored before the gateway refused such ids, and SMILES it still accepts
# (each a per-molecule invalid_smiles), reach the exports with it.
SURROGATE = {**BAD, "id": "lone\ud800id", "input_smiles": "C\udfff"}


def test_csv_of_a_lone_surrogate_is_still_utf8():
    text = results_to_csv([OK, SURROGATE])
    text.encode("utf-8")  # the response body: used to raise UnicodeEncodeError (a 500)
    rows = read_csv(text)
    assert (rows[1]["id"], rows[1]["input_smiles"]) == ("lone\ufffdid", "C\ufffd")


def test_sdf_of_a_lone_surrogate_keeps_every_record():
    records = read_sdf(results_to_sdf([SURROGATE, OK]))  # used to raise in RDKit: the export never appeared
    assert [r.GetProp("id") for r in records] == ["lone\ufffdid", "capivasertib"]
    assert records[0].GetProp("input_smiles") == "C\ufffd"


JOB = {"job_id": "0123abcd", "model": {"name": "akt1", "version": 3}}


def test_every_csv_row_of_a_service_export_names_its_job_and_model_version():
    text = results_to_csv(RESULTS, export_provenance(JOB))
    assert text.splitlines()[0].split(",") == [*CSV_COLUMNS, *PROVENANCE_COLUMNS]
    rows = read_csv(text)
    assert [(r["job_id"], r["model"], r["model_version"]) for r in rows] == [("0123abcd", "akt1", "3")] * 3
    assert "job_id" not in read_csv(results_to_csv(RESULTS))[0]  # a client-side file of several jobs: unchanged


def test_every_sdf_record_of_a_service_export_names_its_job_and_model_version():
    records = read_sdf(results_to_sdf(RESULTS, export_provenance(JOB)))
    assert [(r.GetProp("job_id"), r.GetProp("model"), r.GetProp("model_version")) for r in records] == [
        ("0123abcd", "akt1", "3")] * 3
