"""Faults soak: kill -9 of the scoring worker mid-job, Redis restarts (AOF on) mid-job, and fair queueing.

Starts its own redis-server (AOF, fsync every second), one worker per queue, a gunicorn gateway (SQLite keys in a
temporary home) and a small akt1 model, then prints:

- ``--kills`` rounds: a job is submitted, its scoring worker is killed with SIGKILL once the job has progress
  (its chunk in flight is left unacknowledged in Redis), and a new scoring worker is started;
- ``--restarts`` rounds: a job is submitted and Redis is restarted once the job has progress;
- how every job ended: succeeded (all molecules), failed (with its error code) or still running (lost), and how
  many chunks the watchdog published again;
- fairness: one-molecule requests (``wait``) answered while a ``--big``-molecule job runs, p50 and max, then the
  big job is cancelled (``DELETE /v1/jobs/<id>``).

``python tests/benchmarks/faults.py`` (about 6 minutes on 2 shared cores with the defaults).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.conftest import CAUSALMOL, Workers, start_gateway, stop_process, wait_until  # noqa: E402
from tests.integration.test_redis_restart import RestartableRedis  # noqa: E402


def molecules(n: int, tag: str) -> list[dict[str, str]]:
    return [{"id": f"{tag}{i}", "smiles": "c1ccccc1" + "C" * (i % 9) + "O"} for i in range(n)]


class Soak:
    def __init__(self, env: dict[str, str], workers: Workers, gateway: object, session: requests.Session) -> None:
        self.env, self.workers, self.gateway, self.session = env, workers, gateway, session

    def url(self, path: str) -> str:
        return self.gateway.url(path)  # type: ignore[attr-defined]

    def submit(self, n: int, tag: str) -> str:
        response = self.session.post(self.url("/v1/predictions"), json={"model": "akt1", "molecules": molecules(
            n, tag)}, timeout=30)
        response.raise_for_status()
        return response.json()["job_id"]

    def job(self, job_id: str) -> dict:
        return self.session.get(self.url(f"/v1/jobs/{job_id}"), timeout=10).json()

    def wait_for_progress(self, job_id: str) -> None:
        wait_until(lambda: self.job(job_id)["progress"]["done"] > 0, 120, f"progress of {job_id}", interval=0.05)

    def restart_scoring_worker(self) -> None:
        old = self.workers.procs["scoring"]
        os.kill(old.pid, signal.SIGKILL)  # the whole worker: its pool child dies with it, its chunk stays unacked
        old.wait()
        log = (self.workers.logs / "scoring.log").open("a")
        self.workers.procs["scoring"] = subprocess.Popen([*CAUSALMOL, "worker", "scoring", "--concurrency", "1"],
                                                         env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self.workers.all_ready, 90, "a new scoring worker", interval=0.5)

    def outcomes(self, job_ids: list[str], timeout: float) -> dict[str, int]:
        deadline, counts = time.monotonic() + timeout, {}
        pending = set(job_ids)
        while pending and time.monotonic() < deadline:
            for job_id in list(pending):
                try:
                    job = self.job(job_id)
                except (requests.RequestException, ValueError):
                    continue
                if job.get("status") in ("succeeded", "failed"):
                    pending.discard(job_id)
                    complete = job["status"] == "succeeded" and job["progress"]["done"] == job["progress"]["total"]
                    key = "completed" if complete else f"failed ({(job.get('error') or {}).get('code')})"
                    counts[key] = counts.get(key, 0) + 1
            time.sleep(0.5)
        if pending:
            counts["lost (still running)"] = len(pending)
        return counts


def requeued_chunks(logs: Path) -> int:
    lines = [line for f in logs.glob("*.log") for line in f.read_text(errors="replace").splitlines()]
    return sum(int(line.split("; ")[1].split(" chunk")[0]) for line in lines if "published again" in line)


def fairness(soak: Soak, big: int, samples: int) -> None:
    big_id = soak.submit(big, "big")
    soak.wait_for_progress(big_id)
    latencies = []
    for i in range(samples):
        started = time.perf_counter()
        response = soak.session.post(soak.url("/v1/predictions"), json={
            "model": "akt1", "wait": 30, "molecules": [{"id": f"one{i}", "smiles": "Nc1ncnc2[nH]ccc12"}]}, timeout=60)
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            print(f"  one-molecule request {i} answered {response.status_code}")
    done = soak.job(big_id)["progress"]
    soak.session.delete(soak.url(f"/v1/jobs/{big_id}"), timeout=10)
    print(f"fairness: one-molecule request while a {big:,}-molecule job runs ({done['done']:,} done when the last "
          f"was answered): p50 {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s over {samples}; "
          f"the big job then cancelled")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument("--molecules", type=int, default=60, help="per soak job")
    parser.add_argument("--big", type=int, default=10_000, help="the big job of the fairness check")
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--deadline", default="10", help="CAUSALMOL_CHUNK_DEADLINE for the soak")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="causalmol-faults-"))
    models = home / "models"
    env = {**os.environ, "CAUSALMOL_HOME": str(home), "CAUSALMOL_MODELS_DIR": str(models),
           "CAUSALMOL_DATASETS_DIR": str(home / "datasets"), "CAUSALMOL_CHUNK_SIZE": "4",
           "CAUSALMOL_CHUNK_DEADLINE": args.deadline, "CAUSALMOL_WATCHDOG_INTERVAL": "2",
           "CAUSALMOL_RATE_LIMIT": "100000/minute"}
    env.pop("CAUSALMOL_DATABASE_URL", None)  # SQLite in the temporary home
    subprocess.run([*CAUSALMOL, "models", "build-reference", "--limit", "400", "--skip-profile"], env=env,
                   cwd=REPO, check=True, capture_output=True)
    server = RestartableRedis(home / "redis")
    (home / "redis").mkdir()
    server.start()
    env["CAUSALMOL_REDIS_URL"] = server.url
    (home / "logs").mkdir()
    workers = Workers(env, home / "logs")
    workers.start()
    gateway = start_gateway(env, home / "logs" / "gateway.log")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {gateway.api_key}"
    soak = Soak(env, workers, gateway, session)
    try:
        def disrupted(times: int, prefix: str, disrupt: Callable[[], None]) -> str:
            """``times`` jobs, each disrupted once it has made progress: their outcomes and the time taken."""
            started, jobs = time.monotonic(), []
            for i in range(times):
                jobs.append(soak.submit(args.molecules, f"{prefix}{i}-"))
                soak.wait_for_progress(jobs[-1])
                disrupt()
            return f"{soak.outcomes(jobs, 300)} ({time.monotonic() - started:.0f} s)"

        print(f"kill -9 of the scoring worker mid-job: {args.kills} kills, {args.kills} jobs of {args.molecules} "
              f"molecules: {disrupted(args.kills, 'k', soak.restart_scoring_worker)}")
        print(f"Redis restarts mid-job (AOF on): {args.restarts} restarts, {args.restarts} jobs: "
              f"{disrupted(args.restarts, 'r', server.restart)}")
        print(f"chunks the watchdog published again: {requeued_chunks(home / 'logs')} "
              f"(deadline {args.deadline} s of no progress)")
        env_small = dict(env, CAUSALMOL_CHUNK_SIZE="500")  # the default chunk size for the fairness check
        stop_process(gateway.proc)
        gateway = start_gateway(env_small, home / "logs" / "gateway-fair.log")
        session.headers["Authorization"] = f"Bearer {gateway.api_key}"
        soak.gateway = gateway
        fairness(soak, args.big, args.samples)
    finally:
        stop_process(gateway.proc)
        workers.stop()
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
