"""gunicorn settings for the gateway; ``causalmol gateway`` passes bind, workers and threads on its command line.

gunicorn reads this module's public names as settings, so helpers are underscored.
"""

import os as _os
import shutil as _shutil
import tempfile as _tempfile
from pathlib import Path as _Path
from typing import Protocol as _Protocol

from shared.config import get_settings as _get_settings

# Distributed mode: gevent workers, so a client waiting for its job (``wait``) holds a greenlet blocked in Redis,
# not an OS thread: hundreds wait at once. gunicorn patches the stdlib in each worker before it imports the app
# (no preload_app), so redis-py's and kombu's sockets are patched too (psycopg 3 cooperates with gevent by itself
# from 3.1.14). Embedded mode keeps threads: its in-process worker does CPU-bound work that would stall every
# greenlet.
worker_class = "gthread" if _get_settings().embedded else "gevent"
worker_connections = 1000  # per gevent worker: clients served (and waiting) at once
timeout = 60  # a POST may wait up to 30 s for its job
graceful_timeout = 20
accesslog = None
# gunicorn's own lines (start, worker boots and deaths) go out as JSON too, through the handler the app uses;
# the workers inherit it when they fork.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"json": {"()": "shared.logging.json_handler", "role": "gateway"}},
    "root": {"level": _get_settings().log_level, "handlers": ["json"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        # The app logs each request itself, with its request id and route template (services/gateway/metrics.py).
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
    },
}
# gunicorn's control socket has one default path per user: several gateways on one host would collide on it.
control_socket_disable = True

# Prometheus multiprocess mode: each worker writes its samples to files here and any worker's /metrics sums them.
# Set in the master, before it forks, so every worker inherits it (prometheus-client reads it at import).
_OWN_METRICS_DIR = not _os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _OWN_METRICS_DIR:
    _os.environ["PROMETHEUS_MULTIPROC_DIR"] = _tempfile.mkdtemp(prefix="causalmol-metrics-")
_METRICS_DIR = _Path(_os.environ["PROMETHEUS_MULTIPROC_DIR"])


def on_starting(server: object) -> None:
    _METRICS_DIR.mkdir(parents=True, exist_ok=True)
    for stale in _METRICS_DIR.glob("*.db"):  # an earlier run's samples would be summed into this one's
        stale.unlink()


class _Worker(_Protocol):  # what child_exit reads of gunicorn's worker
    pid: int


def child_exit(server: object, worker: _Worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: object) -> None:
    if _OWN_METRICS_DIR:
        _shutil.rmtree(_METRICS_DIR, ignore_errors=True)
