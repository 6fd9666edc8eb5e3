"""services/cli.py: the command line: parsing, the embedded-mode worker guard, and the client commands (predict,
score, models, jobs) against a stand-in for the client (the client itself is tested in ``test_client.py``)."""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from services import cli
from services.cli import WORKER_TASK_MODULES, build_parser, main, run_list_models, run_worker
from services.client import CausalmolError
from shared.config import QUEUES
from shared.model_store import ModelStore

REPO = Path(__file__).resolve().parents[2]


def test_worker_modules_cover_every_queue():
    assert set(WORKER_TASK_MODULES) == set(QUEUES)


def test_gateway_defaults(monkeypatch):
    monkeypatch.delenv("CAUSALMOL_BIND", raising=False)
    args = build_parser().parse_args(["gateway"])
    assert (args.bind, args.workers, args.threads) == ("127.0.0.1:8000", 2, 8)


def test_worker_arguments():
    args = build_parser().parse_args(["worker", "predictor", "--concurrency", "3", "--pool", "solo"])
    assert (args.service, args.concurrency, args.pool) == ("predictor", 3, "solo")
    assert args.run is run_worker


@pytest.mark.parametrize("argv", [["worker", "gateway"], ["worker", "causal", "--pool", "gevent"], [],
                                  ["models"], ["models", "build-reference", "--limit", "many"]])
def test_bad_command_lines_exit(argv, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == 2


def test_build_reference_arguments():
    args = build_parser().parse_args(["models", "build-reference", "--limit", "50", "--if-missing"])
    assert (args.name, args.limit, args.if_missing) == ("akt1", 50, True)


def test_worker_refuses_embedded_mode(settings_env, capsys):
    settings_env()  # no CAUSALMOL_REDIS_URL
    assert run_worker(build_parser().parse_args(["worker", "featurizer"])) == 2
    assert "CAUSALMOL_REDIS_URL" in capsys.readouterr().err


def test_build_reference_if_missing_does_nothing_when_built(tiny_model, tmp_path):
    shutil.copytree(tiny_model.root / "tiny" / "1", tmp_path / "akt1" / "1")  # stands in for a built akt1
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAUSALMOL_")}
    env["CAUSALMOL_MODELS_DIR"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "services.cli", "models", "build-reference", "--name", "akt1",
                           "--if-missing"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "akt1@1" in proc.stdout and "nothing to do" in proc.stdout
    assert ModelStore(tmp_path).versions("akt1") == [1]


def test_build_reference_rejects_unknown_names():
    proc = subprocess.run([sys.executable, "-m", "services.cli", "models", "build-reference", "--name", "tiny"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "akt1" in proc.stderr


class StandInClient:
    """Answers like the client would; records what the CLI asked."""

    def __init__(self, fail: CausalmolError | None = None, per_job: int = 2) -> None:
        self.fail, self.per_job = fail, per_job
        self.sent: list[dict] = []
        self.exports: list[str] = []

    def models(self) -> list[dict]:
        self._maybe_fail()
        return [{"name": "alpha", "versions": [{"version": 1, "retired": True}, {"version": 2, "retired": False}]},
                {"name": "beta", "versions": [{"version": 1, "retired": False}]}]

    def model(self, ref: str) -> dict:
        self._maybe_fail()
        return {"name": ref, "version": 1}

    def job(self, job_id: str) -> dict:
        self._maybe_fail()
        return {"job_id": job_id, "status": "running", "progress": {"done": 1, "total": 3},
                "model": {"name": "alpha", "version": 2}}

    def predict_jobs(self, model: str, molecules: list[dict], on_progress=None, **_: object) -> list[dict]:
        self._maybe_fail()
        self.sent.extend(molecules)
        jobs = []
        for start in range(0, len(molecules), self.per_job):
            batch = molecules[start:start + self.per_job]
            results = [{"id": m["id"], "input_smiles": m.get("smiles"),
                        "prediction": None if m.get("smiles") == "C1CC" else {"value": 6.0, "unit": "pActivity",
                                                                               "interval": [5.0, 7.0]},
                        "causal_validity": None if m.get("smiles") == "C1CC" else {
                            "verdict": "supported", "reasons": [], "applicability_domain": {"in_domain": True}},
                        "error": {"code": "invalid_smiles", "message": "bad"} if m.get("smiles") == "C1CC" else None}
                       for m in batch]
            jobs.append({"job_id": f"job{start}", "status": "succeeded", "model": {"name": "alpha", "version": 2},
                         "progress": {"done": len(batch), "total": len(batch)}, "results": results})
        if on_progress:
            on_progress(len(molecules), len(molecules))
        return jobs

    def export(self, job_id: str, file_format: str) -> str:
        self.exports.append(job_id)
        return f"{job_id}\n  M  END\n$$$$"

    def _maybe_fail(self) -> None:
        if self.fail:
            raise self.fail


@pytest.fixture
def stand_in(monkeypatch):
    def install(**kwargs: object) -> StandInClient:
        api = StandInClient(**kwargs)
        monkeypatch.setattr(cli, "client", lambda args: api)
        return api

    return install


DOWN = CausalmolError("connection_error", "cannot reach http://127.0.0.1:1", {"url": "http://127.0.0.1:1"})


def test_client_commands_take_a_url():
    for argv in (["models", "list"], ["models", "show", "akt1"], ["jobs", "show", "j"],
                 ["predict", "-i", "a.csv", "-o", "b.csv", "--model", "akt1"], ["score", "--model", "akt1"]):
        assert build_parser().parse_args([*argv, "--url", "http://gw:8000"]).url == "http://gw:8000"
    assert build_parser().parse_args(["score", "--model", "akt1"]).predictions == "pactivity"


def test_list_models(stand_in, capsys):
    stand_in()
    assert run_list_models(build_parser().parse_args(["models", "list"])) == 0
    assert capsys.readouterr().out.splitlines() == ["alpha @1 (retired) @2", "beta @1"]


def test_models_show_and_jobs_show_print_json_or_a_summary(stand_in, capsys):
    stand_in()
    assert main(["models", "show", "alpha@2"]) == 0
    assert json.loads(capsys.readouterr().out) == {"name": "alpha@2", "version": 1}
    assert main(["jobs", "show", "j1"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "running"
    assert main(["jobs", "show", "j1", "--summary"]) == 0
    assert capsys.readouterr().out.strip() == "j1 running 1/3 alpha@2"


def test_a_service_failure_is_one_line_and_exit_1(stand_in, capsys):
    stand_in(fail=DOWN)
    assert main(["models", "list"]) == 1
    assert "causalmol models: connection_error: cannot reach" in capsys.readouterr().err


def test_predict_writes_one_row_per_molecule_with_errors_as_rows(stand_in, tmp_path, capsys):
    api = stand_in()
    source = tmp_path / "in.csv"
    source.write_text("name,smiles\nmine,CCO\n,C1CC\nthird,c1ccccc1\n")
    out = tmp_path / "out.csv"
    assert main(["predict", "-i", str(source), "-o", str(out), "--model", "alpha", "--id-column", "name"]) == 0
    rows = out.read_text().splitlines()
    assert rows[0].startswith("id,input_smiles,") and len(rows) == 4
    assert [row.split(",")[0] for row in rows[1:]] == ["mine", "1", "third"]
    assert "invalid_smiles" in rows[2]
    err = capsys.readouterr().err
    assert "100%" in err and "3 molecules, 1 failed" in err  # the progress bar, then the summary
    assert [m["id"] for m in api.sent] == ["mine", "1", "third"]


def test_predict_sdf_output_is_the_servers_export_of_every_job(stand_in, tmp_path):
    api = stand_in(per_job=2)
    source = tmp_path / "in.smi"
    source.write_text("CCO a\nCCN b\nCCC c\n")
    out = tmp_path / "out.sdf"
    assert main(["predict", "-i", str(source), "-o", str(out), "--model", "alpha", "--quiet"]) == 0
    assert api.exports == ["job0", "job2"] and out.read_text().count("$$$$") == 2


@pytest.mark.parametrize(("argv", "message"), [
    (["-i", "missing.csv", "-o", "out.csv"], "missing.csv"),
    (["-i", "in.smi", "-o", "out.xlsx"], "name the output"),
    (["-i", "empty.smi", "-o", "out.csv"], "no molecules"),
])
def test_predict_input_problems_exit_2(stand_in, tmp_path, monkeypatch, capsys, argv, message):
    stand_in()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.smi").write_text("CCO\n")
    (tmp_path / "empty.smi").write_text("\n")
    assert main(["predict", *argv, "--model", "alpha"]) == 2
    assert message in capsys.readouterr().err


def test_predict_exits_1_only_when_the_service_fails(stand_in, tmp_path, capsys):
    stand_in(fail=DOWN)
    (tmp_path / "in.smi").write_text("CCO\n")
    assert main(["predict", "-i", str(tmp_path / "in.smi"), "-o", str(tmp_path / "o.csv"), "--model", "a"]) == 1
    assert "connection_error" in capsys.readouterr().err and not (tmp_path / "o.csv").exists()


def test_score_keeps_positions_and_sends_no_blank_line(stand_in, monkeypatch, capsys):
    api = stand_in()
    monkeypatch.setattr("sys.stdin", io.StringIO("CCO\n\nC1CC\nc1ccccc1"))
    assert main(["score", "--model", "alpha"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [m["smiles"] for m in api.sent] == ["CCO", "C1CC", "c1ccccc1"]
    assert [m["id"] for m in api.sent] == ["0", "2", "3"]
    predictions = document["payload"]["predictions"]
    assert predictions[0] == 6.0 and math.isnan(predictions[1]) and math.isnan(predictions[2])
    assert predictions[3] == 6.0
    assert document["metadata"]["model"] == "alpha@2"
    assert document["metadata"]["verdict"] == ["supported", None, None, "supported"]


def test_score_fails_the_step_only_when_the_service_fails(stand_in, monkeypatch, capsys):
    stand_in(fail=DOWN)
    monkeypatch.setattr("sys.stdin", io.StringIO("CCO\n"))
    assert main(["score", "--model", "alpha"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "connection_error" in captured.err
