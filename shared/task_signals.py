"""Celery signal hooks every process installs: the request id travels with each task, and task durations are timed.

Publishing (the gateway, or a worker sending a chain's next step) puts the current request id in the message's
headers; a worker binds it while the task runs, so its JSON log lines carry the ``X-Request-ID`` of the HTTP request
that caused them, through every hop of a chain. Durations go to a Prometheus histogram. A distributed worker writes
it in multiprocess mode to ``worker_metrics_dir`` (``causalmol worker`` sets ``PROMETHEUS_MULTIPROC_DIR`` before
anything imports prometheus-client), which the gateway's ``/metrics`` reads beside its own; in embedded mode the
worker thread records into the gateway process's own metrics.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import time
from contextvars import Token
from functools import cache
from pathlib import Path
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun

from shared.config import Settings
from shared.logging import bind_request_id, current_request_id, reset_request_id

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "causalmol_request_id"
DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600)
_SAMPLE_FILE = re.compile(r"_(\d+)\.db$")  # prometheus-client names each process's file <type>_<pid>.db

_running: dict[str, tuple[float, Token[str | None] | None]] = {}  # task id -> (start, request id token)
_running_lock = threading.Lock()


def worker_metrics_dir(settings: Settings) -> Path:
    return settings.metrics_dir / "workers"


@cache
def task_durations() -> Any:
    """The histogram, made on first use: prometheus-client must be imported after the worker set its directory."""
    from prometheus_client import Histogram

    return Histogram("causalmol_task_duration_seconds", "Celery task run time on the workers, by task and outcome",
                     ["task", "state"], buckets=DURATION_BUCKETS)


def prepare_worker_metrics(settings: Settings) -> Path:
    """Point prometheus-client at the workers' directory; drop the files of processes no longer running. A
    directory that cannot be made (a read-only image) gives way to a private temporary one: the worker still runs,
    its samples reach only its own exporter (``start_worker_exporter``)."""
    directory = worker_metrics_dir(settings)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        directory = Path(tempfile.mkdtemp(prefix="causalmol-worker-metrics-"))
        logger.warning("worker metrics directory %s unusable (%r): using %s", worker_metrics_dir(settings), exc,
                       directory)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    for sample_file in directory.glob("*.db"):
        match = _SAMPLE_FILE.search(sample_file.name)
        if match and not _alive(int(match.group(1))):
            sample_file.unlink(missing_ok=True)  # a dead worker's samples would be summed forever
    return directory


def start_worker_exporter(port: int) -> None:
    """Serve the workers' directory on ``port`` from this (the worker's main) process: for hosts whose gateway cannot
    read that directory (Kubernetes pods), Prometheus scrapes each worker instead."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    start_http_server(port, registry=registry)
    logger.info("worker metrics served on port %d", port)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@before_task_publish.connect
def _carry_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    request_id = current_request_id()
    if headers is not None and request_id and REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = request_id


@task_prerun.connect
def _task_started(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    request_id = task.request.get(REQUEST_ID_HEADER) if task is not None else None
    token = bind_request_id(request_id) if request_id else None
    with _running_lock:
        _running[str(task_id)] = (time.perf_counter(), token)


@task_postrun.connect
def _task_finished(task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any) -> None:
    with _running_lock:
        started, token = _running.pop(str(task_id), (None, None))
    if token is not None:
        try:
            reset_request_id(token)
        except ValueError:  # bound in another context (a pool that switched threads): leave it to the next bind
            logger.debug("request id of task %s not reset here", task_id)
    if started is None or task is None:
        return
    try:
        task_durations().labels(task=task.name, state=(state or "unknown").lower()).observe(
            time.perf_counter() - started)
    except Exception:  # noqa: BLE001  (a metric never fails a task)
        logger.exception("duration of task %s not recorded", task_id)
