"""The client and the ``causalmol`` client commands against a real embedded gateway serving the small ``akt1``.

The gateway is ``test_embedded.py``'s fixture (gunicorn, embedded worker, the session's ``models_dir``); the
commands run as real processes, ``causalmol score`` through the REINVENT4 ExternalProcess parser of
``tests/unit/test_reinvent_score.py``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess

import pytest
from rdkit import Chem

from services.client import CausalmolError, Client, to_dataframe
from tests.conftest import CAUSALMOL, REPO
from tests.integration import test_embedded
from tests.unit.test_reinvent_score import reinvent_external_process

pytestmark = pytest.mark.integration
embedded_gateway = test_embedded.embedded_gateway  # the fixture itself, reused

MOLECULES = [
    ("capivasertib", "NC(=O)C1(CCN(CC1)c1ncnc2[nH]ccc12)Cc1ccc(Cl)cc1"),
    ("adenine-like", "Nc1ncnc2[nH]ccc12"),
    ("ethanol", "CCO"),
]
BROKEN_RECORD = "broken\n  handmade\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\n    0.0 Xx\nM  END\n$$$$\n"


def causalmol(gateway, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    command = [*CAUSALMOL, *argv, "--url", gateway.base_url, "--api-key", gateway.api_key]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, input=stdin, timeout=180)


@pytest.fixture
def sdf_file(tmp_path):
    """Three RDKit-written records with titles and a ``cid`` property, then one no reader can parse."""
    path = tmp_path / "in.sdf"
    out = io.StringIO()
    writer = Chem.SDWriter(out)
    for name, smiles in MOLECULES:
        mol = Chem.MolFromSmiles(smiles)
        mol.SetProp("_Name", name)
        mol.SetProp("cid", f"CID-{name}")
        writer.write(mol)
    writer.close()
    path.write_text(out.getvalue() + BROKEN_RECORD)
    return path


def test_predict_an_sdf_into_a_csv_row_per_record(embedded_gateway, sdf_file, tmp_path):
    out = tmp_path / "out.csv"
    proc = causalmol(embedded_gateway, "predict", "-i", str(sdf_file), "-o", str(out), "--model", "akt1")
    assert proc.returncode == 0, proc.stderr
    assert "100%" in proc.stderr and "4 molecules, 1 failed" in proc.stderr
    rows = list(csv.DictReader(out.open()))
    assert [r["id"] for r in rows] == ["capivasertib", "adenine-like", "ethanol", "broken"]
    assert all(float(r["prediction"]) > 0 for r in rows[:3])
    assert (rows[3]["prediction"], rows[3]["error_code"]) == ("", "invalid_structure")
    assert rows[0]["canonical_smiles"] == Chem.CanonSmiles(MOLECULES[0][1])

    by_property = tmp_path / "by-cid.csv"
    proc = causalmol(embedded_gateway, "predict", "-i", str(sdf_file), "-o", str(by_property), "--model", "akt1@1",
                     "--id-column", "cid", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert [r["id"] for r in csv.DictReader(by_property.open())][:3] == [f"CID-{n}" for n, _ in MOLECULES]


def test_predict_a_csv_into_the_servers_sdf(embedded_gateway, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("compound,structure\n" + "".join(f"{n},{s}\n" for n, s in MOLECULES) + "bad,C1CC\n")
    out = tmp_path / "out.sdf"
    proc = causalmol(embedded_gateway, "predict", "-i", str(source), "-o", str(out), "--model", "akt1",
                     "--id-column", "compound", "--smiles-column", "structure")
    assert proc.returncode == 0, proc.stderr
    records = [r for r in Chem.SDMolSupplier(str(out), sanitize=False)]
    assert len(records) == 4
    assert [r.GetProp("id") for r in records] == ["capivasertib", "adenine-like", "ethanol", "bad"]
    assert records[3].GetProp("error_code") == "invalid_smiles"


def test_score_is_read_by_reinvents_external_process(embedded_gateway):
    smiles = [MOLECULES[0][1], "C1CC", MOLECULES[2][1], "", MOLECULES[1][1]]
    command = [*CAUSALMOL, "score", "--model", "akt1", "--url", embedded_gateway.base_url,
               "--api-key", embedded_gateway.api_key]
    scores, data = reinvent_external_process(command, smiles)  # check=True: a failed molecule is not a failed step
    assert [math.isnan(s) for s in scores] == [False, True, False, True, False]
    assert data["metadata"]["model"] == "akt1@1"
    assert data["metadata"]["error"] == [None, "invalid_smiles", None, "empty_smiles", None]
    for lo, value, hi in zip(data["payload"]["interval_lo"], scores, data["payload"]["interval_hi"], strict=True):
        assert math.isnan(value) or lo <= value <= hi
    assert {s for s in data["payload"]["causal_support"] if not math.isnan(s)} <= {0.0, 0.5, 1.0}


def test_a_service_failure_is_a_non_zero_exit(embedded_gateway, tmp_path):
    source = tmp_path / "in.smi"
    source.write_text("CCO\n")
    proc = causalmol(embedded_gateway, "predict", "-i", str(source), "-o", str(tmp_path / "o.csv"), "--model", "nope")
    assert proc.returncode == 1 and "model_not_found" in proc.stderr
    proc = causalmol(embedded_gateway, "score", "--model", "nope", stdin="CCO")
    assert proc.returncode == 1 and proc.stdout == ""


def test_models_and_jobs_commands(embedded_gateway):
    proc = causalmol(embedded_gateway, "models", "list")
    assert proc.returncode == 0 and "akt1 @1" in proc.stdout.splitlines()
    card = json.loads(causalmol(embedded_gateway, "models", "show", "akt1@1").stdout)
    assert (card["name"], card["version"]) == ("akt1", 1)

    job = Client(embedded_gateway.base_url).predict_jobs("akt1", ["CCO"])[0]
    shown = json.loads(causalmol(embedded_gateway, "jobs", "show", job["job_id"]).stdout)
    assert shown["status"] == "succeeded" and shown["results"][0]["id"] == "0"
    summary = causalmol(embedded_gateway, "jobs", "show", job["job_id"], "--summary").stdout.split()
    assert summary == [job["job_id"], "succeeded", "1/1", "akt1@1"]


def test_the_python_client_cuts_batches_and_keeps_ids(embedded_gateway):
    client = Client(embedded_gateway.base_url, max_molecules=2)
    smiles = [s for _, s in MOLECULES] + ["C1CC", "c1ccccc1O"]
    progress = []
    jobs = client.predict_jobs("akt1", smiles, on_progress=lambda done, total: progress.append((done, total)))
    assert len(jobs) == 3 and progress[-1] == (5, 5)
    frame = to_dataframe([r for job in jobs for r in job["results"]])
    assert list(frame["id"]) == ["0", "1", "2", "3", "4"] and frame.loc[3, "error_code"] == "invalid_smiles"
    with pytest.raises(CausalmolError) as info:
        client.model("nope")
    assert (info.value.code, info.value.status) == ("model_not_found", 404)
