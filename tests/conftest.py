"""Fixtures shared by the integration tests: a real redis-server, real Celery worker processes, a small model.

Everything runs as separate processes started here, on free ports, so tests never touch a system Redis.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

REPO = Path(__file__).resolve().parents[1]
CAUSALMOL = [sys.executable, "-m", "services.cli"]
SMALL_MODEL_ROWS = 400  # a real-data sample: enough for a working model, quick to train


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception:  # not up yet
            pass
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def stop_process(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: run `make test` (it installs Debian's redis-server package)")
    port = free_port()
    data = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--save", "",
         "--appendonly", "no", "--maxmemory-policy", "noeviction"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/0"
    wait_until(lambda: redis.Redis.from_url(url).ping(), 10, "redis-server")
    yield url
    stop_process(proc)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A real PostgreSQL server of the session's own (``tests/postgres.py``): keys and the audit trail."""
    from tests.postgres import postgres_server

    try:
        with postgres_server(free_port()) as url:
            yield url
    except RuntimeError as exc:
        pytest.fail(str(exc))


# base URL -> the API key test requests send to that gateway unless they name one (``headers={"Authorization":
# None}`` sends none). Every gateway the tests start gets a key of project ``tests`` with predict and train.
DEFAULT_KEYS: dict[str, str] = {}
TEST_PROJECT = "tests"
WEBHOOK_SECRET = "test-webhook-secret"
# Signs the browser sign-in cookie: a distributed gateway has browser sign-in only with one (embedded mode makes its
# own under CAUSALMOL_HOME). Every distributed gateway the tests start gets it through ``stack_env``.
SESSION_SECRET = "test-session-secret-0123456789abcdef"


def create_test_key(env: dict[str, str], project: str = TEST_PROJECT, scopes: tuple[str, ...] = ("predict", "train"),
                    rate_limit: str | None = None) -> str:
    """A new key in the database ``env`` points at (made in this process, as ``causalmol keys create`` would)."""
    from services.accounts.keys import create_key
    from shared.config import load_settings

    token, _ = create_key(project, list(scopes), "pytest", rate_limit, database_url=load_settings(env).database_url)
    return token


def job_of_own_key(gateway: Gateway, env: dict[str, str], project: str,
                   molecules: list[dict[str, str]]) -> tuple[str, str]:
    """(token, job id): a predict key of its own in ``project`` (a test may revoke it) and a succeeded akt1 job it
    made of ``molecules``."""
    token = create_test_key(env, project=project, scopes=("predict",))
    answer = requests.post(gateway.url("/v1/predictions"), headers={"Authorization": f"Bearer {token}"},
                           json={"model": "akt1", "molecules": molecules, "wait": 30}, timeout=60)
    assert answer.status_code == 200, answer.text
    return token, answer.json()["job_id"]


@pytest.fixture(scope="session", autouse=True)
def _requests_send_the_test_key() -> Iterator[None]:
    original = requests.Session.request

    def request(self: requests.Session, method: str, url: str, *args, **kwargs):
        token = next((t for base, t in DEFAULT_KEYS.items() if str(url).startswith(base + "/")), None)
        headers = kwargs.get("headers") or {}
        named = {h.lower() for h in [*headers, *self.headers]} & {"authorization", "x-api-key"}
        if token and not named:
            kwargs["headers"] = {**headers, "Authorization": f"Bearer {token}"}
        return original(self, method, url, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(requests.Session, "request", request)
        yield


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models dir with a small ``akt1`` trained by the real CLI on a sample of the bundled AKT1 data."""
    root = tmp_path_factory.mktemp("models")
    env = {**os.environ, "CAUSALMOL_MODELS_DIR": str(root), "CAUSALMOL_DATASETS_DIR": str(root.parent / "datasets")}
    subprocess.run([*CAUSALMOL, "models", "build-reference", "--limit", str(SMALL_MODEL_ROWS), "--skip-profile"],
                   env=env, check=True, cwd=REPO, capture_output=True)
    return root


@pytest.fixture(scope="session")
def stack_env(redis_url: str, models_dir: Path, database_url: str,
              tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = {
        **os.environ,
        "CAUSALMOL_DATABASE_URL": database_url,
        "CAUSALMOL_REDIS_URL": redis_url,
        "CAUSALMOL_MODELS_DIR": str(models_dir),
        "CAUSALMOL_DATASETS_DIR": str(models_dir.parent / "datasets"),
        "CAUSALMOL_HOME": str(tmp_path_factory.mktemp("home")),
        "CAUSALMOL_CHUNK_SIZE": "2",  # so even small test batches travel as several chunks
        "CAUSALMOL_MAX_CONTENT_LENGTH": str(2 * 1024 * 1024),
        "CAUSALMOL_LOG_LEVEL": "INFO",
        "CAUSALMOL_WEBHOOK_SECRET": WEBHOOK_SECRET,  # signs the callbacks a test's receiver checks
        "CAUSALMOL_SESSION_SECRET": SESSION_SECRET,  # browser sign-in for the pages
    }
    return {**env, "CAUSALMOL_API_KEY": create_test_key(env)}  # the CLI and the Python client read it


class Workers:
    """One real ``causalmol worker`` process per service queue, stoppable and restartable."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self) -> None:
        from shared.config import QUEUES

        for service in QUEUES:
            log = (self.logs / f"{service}.log").open("a")
            self.procs[service] = subprocess.Popen(
                [*CAUSALMOL, "worker", service, "--concurrency", "1"],
                env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
            )
        wait_until(self.all_ready, 60, "a worker on every queue", interval=0.5)

    def all_ready(self) -> bool:
        from shared.celery_app import celery_app, configure_celery
        from shared.config import QUEUES, load_settings

        configure_celery(load_settings(self.env))
        replies = celery_app.control.inspect(timeout=1.0).active_queues() or {}
        queues = {q["name"] for qs in replies.values() for q in qs}
        return set(QUEUES) <= queues

    def stop(self) -> None:
        for proc in self.procs.values():
            stop_process(proc, timeout=30)
        self.procs.clear()


@pytest.fixture(scope="session")
def workers(stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    pool = Workers(stack_env, tmp_path_factory.mktemp("worker-logs"))
    pool.start()
    yield pool
    pool.stop()


class Gateway:
    def __init__(self, base_url: str, proc: subprocess.Popen) -> None:
        self.base_url, self.proc = base_url, proc
        self.api_key: str | None = None

    def url(self, path: str) -> str:
        return self.base_url + path


def start_gateway(env: dict[str, str], log: Path, workers: int = 2, threads: int = 4) -> Gateway:
    port = free_port()
    proc = subprocess.Popen(
        [*CAUSALMOL, "gateway", "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads)],
        env=env, cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    gateway = Gateway(f"http://127.0.0.1:{port}", proc)
    try:
        wait_until(lambda: requests.get(gateway.url("/healthz"), timeout=1).ok, 60, "the gateway")
    except TimeoutError:
        stop_process(proc)
        raise AssertionError(f"gateway did not start:\n{log.read_text()[-3000:]}") from None
    if env.get("CAUSALMOL_AUTH") != "disabled":  # the gateway migrated its database: a key can be made now
        gateway.api_key = env.get("CAUSALMOL_API_KEY") or create_test_key(env)
        DEFAULT_KEYS[gateway.base_url] = gateway.api_key
    return gateway


@pytest.fixture(scope="session")
def gateway(stack_env: dict[str, str], workers: Workers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The distributed gateway, served by gunicorn, in front of the real workers."""
    gw = start_gateway(stack_env, tmp_path_factory.mktemp("gateway") / "gateway.log")
    yield gw
    stop_process(gw.proc)


def poll_job(gateway: Gateway, job_id: str, timeout: float = 60) -> dict:
    def finished() -> dict | None:
        job = requests.get(gateway.url(f"/v1/jobs/{job_id}"), timeout=5).json()
        return job if job["status"] in ("succeeded", "failed") else None

    return wait_until(finished, timeout, f"job {job_id}", interval=0.05)


@pytest.fixture(scope="session")
def profiled_model(gateway: Gateway) -> dict:
    """A lab's PIK3CA model (four real assays, the assay as context) trained through the API with its causal
    profile: dataset upload, featurizer, predictor and causal queues. Shared by the causal and pipeline tests."""
    from tests.integration.lab_data import MAPPING, lab_csv, train, upload

    dataset = upload(gateway, lab_csv(), MAPPING).json()
    result = train(gateway, {"name": "pik3ca-causal", "dataset_id": dataset["dataset_id"], "seed": 0,
                             "estimator": {"name": "random_forest", "params": {"n_estimators": 60}}})
    return {"dataset": dataset, **result}
