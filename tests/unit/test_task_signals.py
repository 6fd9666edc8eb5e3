"""The signal hooks on their own: the request id goes into a published message's headers and is bound while its
task runs, and each run is timed into the histogram (the Celery task object is a stand-in here; the stack test
runs them on real workers)."""

from __future__ import annotations

import os
from types import SimpleNamespace

from celery.signals import before_task_publish, task_postrun, task_prerun

from shared.config import load_settings
from shared.logging import bind_request_id, current_request_id, reset_request_id
from shared.task_signals import REQUEST_ID_HEADER, prepare_worker_metrics, task_durations


class FakeTask:  # hashable, as Celery's signal dispatch needs its sender to be
    def __init__(self, name: str, headers: dict) -> None:
        self.name, self.request = name, SimpleNamespace(get=headers.get)


def fake_task(name: str, headers: dict) -> FakeTask:
    return FakeTask(name, headers)


def test_publishing_carries_the_current_request_id() -> None:
    headers: dict = {}
    before_task_publish.send(sender="featurize.batch", headers=headers)
    assert headers == {}  # outside a request nothing is added
    token = bind_request_id("req-42")
    try:
        before_task_publish.send(sender="featurize.batch", headers=headers)
    finally:
        reset_request_id(token)
    assert headers == {REQUEST_ID_HEADER: "req-42"}


def test_a_task_runs_under_its_request_id_and_is_timed() -> None:
    histogram = task_durations().labels(task="unit.test", state="success")
    before = histogram._sum.get()
    task = fake_task("unit.test", {REQUEST_ID_HEADER: "req-7"})
    task_prerun.send(sender=task, task_id="t1", task=task)
    assert current_request_id() == "req-7"
    task_postrun.send(sender=task, task_id="t1", task=task, state="SUCCESS")
    assert current_request_id() is None
    assert histogram._sum.get() > before
    untagged = fake_task("unit.test", {})
    task_prerun.send(sender=untagged, task_id="t2", task=untagged)
    assert current_request_id() is None
    task_postrun.send(sender=untagged, task_id="t2", task=untagged, state="FAILURE")
    assert task_durations().labels(task="unit.test", state="failure")._sum.get() >= 0


def test_the_worker_metrics_directory_drops_dead_processes_files(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "elsewhere")
    directory = prepare_worker_metrics(load_settings({"CAUSALMOL_HOME": str(tmp_path)}))
    assert directory == tmp_path / "metrics" / "workers"
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(directory)
    (directory / f"histogram_{os.getpid()}.db").write_bytes(b"x")
    (directory / "histogram_999999999.db").write_bytes(b"x")  # no such process
    prepare_worker_metrics(load_settings({"CAUSALMOL_HOME": str(tmp_path)}))
    assert sorted(p.name for p in directory.iterdir()) == [f"histogram_{os.getpid()}.db"]


EXPORTER_SCRIPT = """
import sys, time
from shared.config import load_settings
from shared.task_signals import prepare_worker_metrics, start_worker_exporter, task_durations
prepare_worker_metrics(load_settings({"CAUSALMOL_HOME": sys.argv[1]}))
start_worker_exporter(int(sys.argv[2]))
task_durations().labels(task="featurize.batch", state="success").observe(0.25)
print("ready", flush=True)
time.sleep(60)
"""


def test_a_worker_can_serve_its_task_durations_itself(tmp_path) -> None:
    # Its own process: prometheus-client picks multiprocess mode when first imported.
    import subprocess
    import sys

    import requests

    from tests.conftest import REPO, free_port, stop_process

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", EXPORTER_SCRIPT, str(tmp_path), str(port)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        stop_process(proc)
    assert 'causalmol_task_duration_seconds_sum{state="success",task="featurize.batch"} 0.25' in text
    assert list((tmp_path / "metrics" / "workers").glob("histogram_*.db"))
