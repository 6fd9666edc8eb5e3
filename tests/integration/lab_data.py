"""A lab's dataset for the HTTP tests: real PIK3CA IC50 records from the four largest assays (bundled, ChEMBL
CC BY-SA 3.0), plus four rows made bad on purpose, labelled synthetic in their ids."""

from __future__ import annotations

import csv
import io
import json

import requests

from tests.conftest import REPO, poll_job

PIK3CA = REPO / "services/predictor/reference/pik3ca_CHEMBL4005-1_IC50_chembl32.csv"
MAPPING = {"structure": "canonical_smiles", "activity": "pchembl_value", "id": "compound_chembl_id",
           "context": ["assay_chembl_id"]}
BAD_ROWS = [
    {"compound_chembl_id": "SYNTHETIC-bad-smiles", "canonical_smiles": "C1CC(", "pchembl_value": "6.1"},
    {"compound_chembl_id": "SYNTHETIC-not-a-number", "canonical_smiles": "CCO", "pchembl_value": "potent"},
    {"compound_chembl_id": "SYNTHETIC-missing", "canonical_smiles": "CCN", "pchembl_value": ""},
    {"compound_chembl_id": "SYNTHETIC-empty-structure", "canonical_smiles": "", "pchembl_value": "5.0"},
]


def lab_csv(n_assays: int = 4) -> bytes:
    with PIK3CA.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    by_count: dict[str, int] = {}
    for row in rows:
        by_count[row["assay_chembl_id"]] = by_count.get(row["assay_chembl_id"], 0) + 1
    assays = sorted(by_count, key=lambda a: (-by_count[a], a))[:n_assays]
    kept = [r for r in rows if r["assay_chembl_id"] in assays]
    for bad in BAD_ROWS:
        kept.append({"assay_chembl_id": assays[0], **bad})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["assay_chembl_id", "compound_chembl_id", "canonical_smiles",
                                             "pchembl_value"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(kept)
    return out.getvalue().encode()


def upload(gateway, content: bytes, mapping: dict, wait: float = 30) -> requests.Response:
    return requests.post(gateway.url("/v1/datasets"), files={"file": ("lab.csv", content, "text/csv")},
                         data={"mapping": json.dumps(mapping), "wait": str(wait)}, timeout=60)


def train(gateway, body: dict) -> dict:
    accepted = requests.post(gateway.url("/v1/models"), json=body, timeout=30)
    assert accepted.status_code == 202, accepted.text
    job = poll_job(gateway, accepted.json()["job_id"], timeout=240)
    assert job["status"] == "succeeded", job
    return job["result"]


