"""services/client: retries, waiting, batching, typed errors and results, against a scripted HTTP transport.

The transport is a requests adapter that answers from a script: what the client sends and how it reacts to each
answer (429, 503, a lost connection, a slow job) is checked without a server. The real server is exercised by
``tests/integration/test_client_cli.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter

from services.client import CausalmolError, Client, JobFailed, to_dataframe, to_records
from services.client.client import as_molecule, batches
from services.client.inputs import read_molecules, read_smi
from shared.export import CSV_COLUMNS

REPO = Path(__file__).resolve().parents[2]
URL = "http://causalmol.test"


def result(molecule: dict, value: float | None = 6.0) -> dict:
    if value is None:
        return {"id": molecule["id"], "input_smiles": molecule.get("smiles"), "prediction": None,
                "causal_validity": None, "error": {"code": "invalid_smiles", "message": "cannot parse"}}
    return {"id": molecule["id"], "input_smiles": molecule.get("smiles"), "canonical_smiles": molecule.get("smiles"),
            "prediction": {"value": value, "unit": "pActivity", "interval": [value - 1, value + 1],
                           "interval_80": [value - 0.5, value + 0.5]},
            "causal_validity": {"verdict": "caution", "reasons": ["r"], "evidence": [],
                                "applicability_domain": {"max_similarity": 0.5, "in_domain": True, "threshold": 0.3}},
            "error": None}


def finished_job(job_id: str, molecules: list[dict]) -> dict:
    n = len(molecules)
    return {"job_id": job_id, "status": "succeeded", "progress": {"done": n, "total": n},
            "model": {"name": "akt1", "version": 1}, "results": [result(m) for m in molecules], "error": None}


class ScriptedService(BaseAdapter):
    """Answers each (method, path) from a list of answers, the last one repeated: (status, body[, headers]), an
    exception to raise, or a callable of the request returning one of those."""

    def __init__(self, script: dict[tuple[str, str], list]) -> None:
        super().__init__()
        self.script = script
        self.calls: list[tuple[str, str, dict | None]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: object) -> requests.Response:
        parts = urlsplit(request.url)
        body = json.loads(request.body) if request.body else None
        self.calls.append((request.method, parts.path, body))
        answers = self.script[(request.method, parts.path)]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if callable(answer):
            answer = answer(request, body, parse_qs(parts.query))
        if isinstance(answer, Exception):
            raise answer
        status, payload, *headers = answer
        response = requests.Response()
        response.status_code, response.url, response.request = status, request.url, request
        response._content = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        response.headers.update(headers[0] if headers else {"Content-Type": "application/json"})
        return response

    def close(self) -> None:
        pass

    def posts(self) -> list[dict]:
        return [body for method, path, body in self.calls if method == "POST"]


def client_for(script: dict, **kwargs: object) -> tuple[Client, ScriptedService]:
    service = ScriptedService(script)
    session = requests.Session()
    session.mount(URL, service)
    options = {"backoff": 0.0, "poll_interval": 0.0, "max_poll_interval": 0.0, **kwargs}
    return Client(URL, session=session, **options), service


def answer_finished(request, body, query):
    return 200, finished_job(f"job-{body['molecules'][0]['id']}", body["molecules"])


def test_url_defaults_to_the_environment(monkeypatch):
    monkeypatch.setenv("CAUSALMOL_URL", "http://gateway.example:9000/")
    assert Client().url == "http://gateway.example:9000"
    monkeypatch.delenv("CAUSALMOL_URL")
    assert Client().url == "http://127.0.0.1:8000"


@pytest.mark.parametrize(("item", "expected"), [
    ("CCO", {"id": "4", "smiles": "CCO"}),
    (("mine", "CCO"), {"id": "mine", "smiles": "CCO"}),
    ({"smiles": "CCO"}, {"id": "4", "smiles": "CCO"}),
    ({"id": "x", "molblock": "M  END"}, {"id": "x", "molblock": "M  END"}),
])
def test_molecules_get_the_callers_id_or_their_position(item, expected):
    assert as_molecule(item, 4) == expected


def test_batches_respect_the_count_and_the_byte_budget():
    molecules = [{"id": str(i), "smiles": "C" * 10} for i in range(7)]
    assert [len(b) for b in batches(molecules, 3, 10_000)] == [3, 3, 1]
    one = len(json.dumps(molecules[0])) + 2
    assert [len(b) for b in batches(molecules, 100, 2 * one)] == [2, 2, 2, 1]
    assert [m["id"] for b in batches(molecules, 3, 10_000) for m in b] == [str(i) for i in range(7)]


def test_predict_answered_at_once_is_one_request():
    api, service = client_for({("POST", "/v1/predictions"): [answer_finished]})
    results = api.predict("akt1@1", ["CCO", ("b", "c1ccccc1")], wait=30)
    assert [r["id"] for r in results] == ["0", "b"]
    assert service.posts() == [{"model": "akt1@1", "wait": 30.0, "molecules": [
        {"id": "0", "smiles": "CCO"}, {"id": "b", "smiles": "c1ccccc1"}]}]


def test_a_large_input_is_cut_into_jobs_under_the_limit_and_read_back_in_order():
    accepted = []

    def accept(request, body, query):
        job_id = f"job{len(accepted)}"
        accepted.append((job_id, body["molecules"]))
        return 202, {"job_id": job_id, "status": "queued", "status_url": f"{URL}/v1/jobs/{job_id}"}

    script = {("POST", "/v1/predictions"): [accept]}
    for i in range(3):
        script[("GET", f"/v1/jobs/job{i}")] = [lambda r, b, q, i=i: (200, finished_job(*accepted[i]))]
    api, service = client_for(script, max_molecules=2)
    seen = []
    results = api.predict("akt1", [f"C{'C' * i}O" for i in range(5)], on_progress=lambda d, t: seen.append((d, t)))
    assert [len(body["molecules"]) for body in service.posts()] == [2, 2, 1]
    assert [r["id"] for r in results] == ["0", "1", "2", "3", "4"]  # positions in the whole input, not per job
    assert seen[-1] == (5, 5)
    # every batch is submitted before any is awaited, so the workers share them
    assert [method for method, *_ in service.calls] == ["POST"] * 3 + ["GET"] * 3


def test_polling_follows_progress_and_backs_off_while_it_stands_still(monkeypatch):
    progress = [0, 0, 0, 0, 2, 2, 4]
    polls = iter(progress)

    def job(request, body, query):
        done = next(polls)
        status = "succeeded" if done == 4 else "running"
        return 200, {"job_id": "j", "status": status, "progress": {"done": done, "total": 4}, "results": []}

    sleeps: list[float] = []
    monkeypatch.setattr("services.client.client.time.sleep", sleeps.append)
    api, _ = client_for({("GET", "/v1/jobs/j"): [job]}, poll_interval=0.2, max_poll_interval=0.5)
    seen = []
    job_done = api.wait("j", on_progress=lambda d, t: seen.append(d))
    assert job_done["status"] == "succeeded" and seen == progress
    # no progress: from 0.2 growing by half up to 0.5; progress moved: back to 0.2, then growing again
    assert sleeps == pytest.approx([0.3, 0.45, 0.5, 0.5, 0.2, 0.3])


def test_waiting_gives_up_after_the_timeout():
    running = {"job_id": "j", "status": "running", "progress": {"done": 1, "total": 4}}
    api, _ = client_for({("GET", "/v1/jobs/j"): [(200, running)]}, poll_interval=0.01, max_poll_interval=0.01)
    with pytest.raises(CausalmolError) as info:
        api.wait("j", timeout=0.05)
    assert info.value.code == "wait_timeout" and info.value.details == {"job_ids": ["j"], "done": 1, "total": 4}


def test_a_failed_job_raises_its_error_code():
    failed = {"job_id": "j", "status": "failed", "progress": {"done": 0, "total": 1},
              "error": {"code": "task_failed", "message": "predict.batch: boom"}}
    api, _ = client_for({("POST", "/v1/predictions"): [(200, failed)]})
    with pytest.raises(JobFailed) as info:
        api.predict("akt1", ["CCO"])
    assert (info.value.code, info.value.details) == ("task_failed", {"job_id": "j"})


def test_503_and_429_are_retried_honouring_retry_after():
    busy = {"error": {"code": "broker_unavailable", "message": "the message broker is unreachable", "details": {}}}
    slow_down = (429, {"error": {"code": "rate_limited", "message": "slow down", "details": {}}},
                 {"Content-Type": "application/json", "Retry-After": "0.3"})
    api, service = client_for({("POST", "/v1/predictions"): [(503, busy), slow_down, answer_finished]})
    started = time.monotonic()
    assert [r["id"] for r in api.predict("akt1", ["CCO"])] == ["0"]
    assert len(service.posts()) == 3 and time.monotonic() - started >= 0.3


def test_a_lost_connection_is_retried_then_reported_with_its_code():
    refused = requests.ConnectionError("connection refused")
    api, service = client_for({("GET", "/v1/models"): [refused, (200, {"models": []})]})
    assert api.models() == [] and len(service.calls) == 2

    api, service = client_for({("GET", "/v1/models"): [refused]}, retries=2)
    with pytest.raises(CausalmolError) as info:
        api.models()
    assert (info.value.code, info.value.status, len(service.calls)) == ("connection_error", None, 3)


def test_a_post_that_timed_out_is_not_sent_twice_but_a_get_is():
    timeout = requests.ReadTimeout("read timed out")
    api, service = client_for({("POST", "/v1/predictions"): [timeout, answer_finished]})
    with pytest.raises(CausalmolError) as info:
        api.predict("akt1", ["CCO"])
    assert info.value.code == "timeout" and len(service.posts()) == 1  # it may have created a job already

    api, service = client_for({("GET", "/v1/jobs/j"): [timeout, (200, finished_job("j", []))]})
    assert api.job("j")["status"] == "succeeded" and len(service.calls) == 2


def test_api_errors_are_typed_with_code_details_and_status():
    missing = {"error": {"code": "model_not_found", "message": "no model nope", "details": {"model": "nope"}}}
    api, service = client_for({("GET", "/v1/models/nope"): [(404, missing)]})
    with pytest.raises(CausalmolError) as info:
        api.model("nope")
    error = info.value
    assert (error.code, error.message, error.details, error.status) == ("model_not_found", "no model nope",
                                                                         {"model": "nope"}, 404)
    assert error.to_dict() == missing and len(service.calls) == 1  # a 4xx is never retried
    assert str(error) == "model_not_found: no model nope (HTTP 404)"


def test_a_proxy_error_page_still_becomes_a_typed_error():
    api, _ = client_for({("GET", "/v1/models"): [(502, "<html>Bad Gateway</html>", {"Content-Type": "text/html"})]},
                        retries=1)
    with pytest.raises(CausalmolError) as info:
        api.models()
    assert (info.value.code, info.value.status) == ("http_502", 502) and "Bad Gateway" in info.value.message


def test_export_asks_the_server_for_the_format_and_retries_export_not_ready():
    not_ready = {"error": {"code": "export_not_ready", "message": "ask again", "details": {}}}
    sdf = (200, "a\n  M  END\n$$$$\n", {"Content-Type": "chemical/x-mdl-sdfile"})
    api, service = client_for({("GET", "/v1/jobs/j/results"): [(503, not_ready), sdf]})
    assert api.export("j", "sdf").endswith("$$$$\n") and len(service.calls) == 2


def test_models_and_jobs():
    listing = {"models": [{"name": "akt1", "latest": 1, "versions": [{"version": 1, "retired": False}]}]}
    api, _ = client_for({("GET", "/v1/models"): [(200, listing)], ("GET", "/v1/models/akt1@1"): [(200, {"v": 1})],
                         ("GET", "/v1/jobs/j"): [(200, finished_job("j", []))]})
    assert api.models() == listing["models"]
    assert api.model("akt1@1") == {"v": 1}
    assert api.job("j")["job_id"] == "j"


def test_no_molecules_sends_nothing():
    api, service = client_for({})
    assert api.predict("akt1", []) == [] and service.calls == []


def test_results_as_records_and_a_dataframe():
    results = [result({"id": "a", "smiles": "CCO"}, 6.5), result({"id": "b", "smiles": "C1CC"}, None)]
    records = to_records(results)
    assert records[0]["prediction"] == 6.5 and records[1]["error_code"] == "invalid_smiles"
    frame = to_dataframe(results)
    assert list(frame.columns) == list(CSV_COLUMNS) and list(frame["id"]) == ["a", "b"]
    assert frame.loc[0, "interval_lo"] == 5.5 and frame.isna().loc[1, "verdict"]


def test_the_client_and_cli_import_without_the_heavy_libraries():
    blocked = ("rdkit", "sklearn", "dowhy", "numpy", "pandas")
    code = ("import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in blocked)
            + "import services.client, services.client.inputs, services.cli\n"
            + "from services.client.inputs import read_smi\nprint(read_smi('CCO x')[0]['id'])\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "x"


SDF = """first
  handmade

  2  1  0  0  0  0  0  0  0  0999 V2000
    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
    1.5000    0.0000    0.0000 O   0  0  0  0  0  0  0  0  0  0  0  0
  1  2  1  0
M  END
>  <cid>
C-1

$$$$
second
  handmade

  1  0  0  0  0  0  0  0  0  0999 V2000
    0.0000    0.0000    0.0000 N   0  0  0  0  0  0  0  0  0  0  0  0
M  END
>  <cid>
C-2

$$$$
"""


def test_an_sdf_is_read_as_molblocks_with_titles_or_a_property_as_ids(tmp_path):
    path = tmp_path / "in.sdf"
    path.write_text(SDF)
    molecules = read_molecules(path)
    assert [m["id"] for m in molecules] == ["first", "second"]
    assert molecules[0]["molblock"].startswith("first\n") and molecules[0]["molblock"].rstrip().endswith("M  END")
    assert [m["id"] for m in read_molecules(path, id_column="cid")] == ["C-1", "C-2"]


def test_a_csv_with_mapped_columns_and_a_missing_one(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("name,structure\na,CCO\n,C1CC\n")
    assert read_molecules(path, "name", "structure") == [{"id": "a", "smiles": "CCO"}, {"id": "1", "smiles": "C1CC"}]
    with pytest.raises(Exception) as info:
        read_molecules(path, smiles_column="smiles")
    assert info.value.details["available_columns"] == ["name", "structure"]


def test_smiles_files_and_unknown_suffixes(tmp_path):
    assert read_smi("SMILES name\nCCO ethanol\n\n# note\nc1ccccc1\n") == [
        {"id": "ethanol", "smiles": "CCO"}, {"id": "1", "smiles": "c1ccccc1"}]
    path = tmp_path / "in.xlsx"
    path.write_text("x")
    with pytest.raises(Exception, match="name it one of"):
        read_molecules(path)


def test_only_a_single_batch_waits_on_its_post_and_progress_counts_answered_batches():
    def first_answers_then_queue(request, body, query):
        if body["molecules"][0]["id"] == "0":
            return answer_finished(request, body, query)
        return 202, {"job_id": "late", "status": "queued", "status_url": f"{URL}/v1/jobs/late"}

    late = finished_job("late", [{"id": "2", "smiles": "CCC"}])
    api, service = client_for({("POST", "/v1/predictions"): [first_answers_then_queue],
                               ("GET", "/v1/jobs/late"): [(200, late)]}, max_molecules=2)
    seen = []
    results = api.predict("akt1", ["CCO", "CCN", "CCC"], wait=30, on_progress=lambda d, t: seen.append((d, t)))
    assert [r["id"] for r in results] == ["0", "1", "2"]
    assert [body["wait"] for body in service.posts()] == [0.0, 0.0]  # two batches: neither holds the other back
    assert seen[-1] == (3, 3)


def test_a_big_job_that_links_to_its_results_is_read_back_page_by_page():
    molecules = [{"id": f"m{i}", "smiles": "CCO"} for i in range(5)]
    linked = {**finished_job("big", molecules), "results_url": f"{URL}/v1/jobs/big/results?limit=1000"}
    del linked["results"]

    def page(request, body, query):
        start = int(query.get("cursor", ["0"])[0])
        limit = int(query["limit"][0])
        end = min(start + limit, len(molecules))
        return 200, {"job_id": "big", "model": "akt1", "model_version": 1,
                     "results": [result(m) for m in molecules[start:end]],
                     "next_cursor": str(end) if end < len(molecules) else None}

    api, service = client_for({("POST", "/v1/predictions"): [(202, {"job_id": "big", "status": "queued"})],
                               ("GET", "/v1/jobs/big"): [(200, linked)],
                               ("GET", "/v1/jobs/big/results"): [page]})
    assert [r["id"] for r in api.predict("akt1", [(m["id"], m["smiles"]) for m in molecules])] == [
        m["id"] for m in molecules]
    assert [r["id"] for r in api.results("big", page_size=2)] == [m["id"] for m in molecules]
    assert sum(path == "/v1/jobs/big/results" for _, path, _ in service.calls) == 1 + 3
