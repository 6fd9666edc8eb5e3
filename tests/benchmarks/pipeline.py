"""Pipeline benchmark: latency, throughput and Redis traffic through the running distributed stack, and the ceiling.

Run against a stack started with ``deploy/local/stack.sh up`` (or pass ``--start-stack`` to have this script
start and stop one). The online path is two hops, ``featurize.batch`` then ``score.batch``. Figures printed:

- single-molecule latency p50/p99: POST with ``wait`` through gateway -> featurizer -> scoring;
- throughput of one 10,000-molecule job (real AKT1 SMILES from the bundled reference data);
- the same featurize + score work done in this one process (the ceiling), and the ratio;
- full annotation in one process against bare featurize + predict, same run;
- concurrent clients each posting one molecule with ``wait``: answered, slowest, 5xx;
- bytes through Redis per molecule during the job (Redis' own network counters, everything included: broker
  messages, job store, status polls, the final results read), and the stage messages' JSON bytes per molecule,
  now (featurize -> score) and as the three-hop chain sent them before (featurize -> predict -> annotate);
- the same job with every worker restarted with ``CAUSALMOL_STACK_CONCURRENCY=2`` (two processes per worker,
  scoring included) against the one-process run above, and the ratio (``--skip-scaling`` leaves it out).

``--latency-only`` runs the single-molecule phase alone (to profile the path, e.g. ``py-spy record -p <pid>`` on the
gateway and worker processes while it runs). Load averages are printed at the start and the end: the figures are
only comparable between runs on an equally loaded machine.

Requests carry an API key: ``--api-key`` or ``$CAUSALMOL_API_KEY``, else one is made with ``causalmol keys create``
in the stack's database (``--stack-dir``), with a rate limit the benchmark cannot reach.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
import requests

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def reference_smiles(n: int) -> list[str]:
    from services.predictor.reference import load_akt1

    smiles = load_akt1().smiles
    return [smiles[i % len(smiles)] for i in range(n)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def authorized(session: requests.Session) -> requests.Session:
    session.headers["Authorization"] = f"Bearer {API_KEY[0]}"
    return session


API_KEY: list[str] = []  # set once in main()


def benchmark_key(stack_dir: Path) -> str:
    """A key of project ``benchmark`` in the stack's own database (the stack's CAUSALMOL_HOME)."""
    env = {**os.environ, "CAUSALMOL_HOME": str(stack_dir)}
    env.pop("CAUSALMOL_DATABASE_URL", None)
    made = subprocess.run([sys.executable, "-m", "services.cli", "keys", "create", "--project", "benchmark",
                           "--scopes", "predict", "--name", "pipeline benchmark", "--rate-limit", "999999/minute",
                           "--json"], env=env, cwd=REPO, check=True, capture_output=True, text=True)
    return json.loads(made.stdout.strip().splitlines()[-1])["token"]


def post_one(session: requests.Session, url: str, molecule_id: str, smiles: str) -> tuple[float, int, bool]:
    """One molecule with ``wait``: (milliseconds, HTTP status, finished within the wait)."""
    body = {"model": "akt1", "molecules": [{"id": molecule_id, "smiles": smiles}], "wait": 10}
    started = time.perf_counter()
    response = session.post(f"{url}/v1/predictions", json=body, timeout=30)
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed, response.status_code, response.status_code == 200 and response.json()["status"] == "succeeded"


def measure_latency(url: str, smiles: list[str], n: int) -> list[float]:
    session = authorized(requests.Session())
    timings = []
    for i in range(n):
        elapsed, status, finished = post_one(session, url, str(i), smiles[i])
        if not finished:
            raise RuntimeError(f"request {i} did not finish within wait: HTTP {status}")
        timings.append(elapsed)
    return timings


def measure_concurrent(url: str, smiles: list[str], clients: int) -> tuple[int, float, int]:
    """``clients`` at once, one molecule each: (answered with a finished job, slowest ms, 5xx count)."""
    def one(i: int) -> tuple[float, int, bool]:
        try:
            return post_one(authorized(requests.Session()), url, str(i), smiles[i % len(smiles)])
        except requests.RequestException:
            return float("inf"), 599, False

    with ThreadPoolExecutor(max_workers=clients) as pool:
        outcomes = list(pool.map(one, range(clients)))
    return (sum(finished for _, _, finished in outcomes), max(ms for ms, _, _ in outcomes),
            sum(status >= 500 for _, status, _ in outcomes))


def measure_job(url: str, smiles: list[str]) -> float:
    body = {"model": "akt1", "molecules": [{"id": str(i), "smiles": s} for i, s in enumerate(smiles)]}
    session = authorized(requests.Session())
    started = time.perf_counter()
    accepted = session.post(f"{url}/v1/predictions", json=body, timeout=60)
    accepted.raise_for_status()
    status_url = f"{url}/v1/jobs/{accepted.json()['job_id']}"
    while True:
        # Poll the status only: the results are read once, at the end, like a real client (and timed with the job).
        job = session.get(status_url, timeout=60).json()
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.05)
    if job["status"] != "succeeded":
        raise RuntimeError(f"job ended {job['status']}: {job.get('error')}")
    # A big job links its results (results_url) instead of carrying them: read them all once, streamed.
    results = job["results"] if "results" in job else [
        line for line in session.get(f"{status_url}/results", params={"format": "ndjson"}, timeout=120).iter_lines()
        if line]
    elapsed = time.perf_counter() - started
    if len(results) != len(smiles):
        raise RuntimeError(f"job returned {len(results)} results for {len(smiles)} molecules")
    return elapsed


def redis_net_bytes(client: redis.Redis) -> int:
    stats = client.info("stats")
    return int(stats["total_net_input_bytes"]) + int(stats["total_net_output_bytes"])


def in_process(models_dir: Path, smiles: list[str], chunk_size: int) -> dict[str, float]:
    """Seconds for the whole job's work in this one process, annotated and bare, and stage-message bytes."""
    os.environ["CAUSALMOL_MODELS_DIR"] = str(models_dir)
    os.environ.pop("CAUSALMOL_REDIS_URL", None)
    from services.featurizer.logic import featurize_chunk
    from services.predictor.logic import predict_chunk
    from services.scoring.logic import score_chunk
    from shared.jobs import MemoryJobStore, new_job_record
    from shared.messages import CHUNK_REQUEST_VERSION, featurized_chunk
    from shared.model_store import ModelStore

    manifest = ModelStore(models_dir).resolve("akt1")
    model = {"name": "akt1", "version": manifest["version"], "featurizer": manifest["featurizer"]}
    chunks = [smiles[i : i + chunk_size] for i in range(0, len(smiles), chunk_size)]

    def request(job_id: str, index: int, chunk: list[str]) -> dict:
        return {"schema_version": CHUNK_REQUEST_VERSION, "job_id": job_id, "chunk": index, "model": model,
                "molecules": [{"id": str(i), "smiles": s} for i, s in enumerate(chunk)]}

    def featurized(message: dict) -> dict:
        return featurized_chunk(message, featurize_chunk(message)["molecules"])

    store = MemoryJobStore()
    store.create(new_job_record("ceiling", {"name": "akt1", "version": manifest["version"]}, len(smiles), len(chunks)))
    store.create(new_job_record("warm", None, 1, 1))
    score_chunk(featurized(request("warm", 0, ["CCO"])), store)  # load model, index and profile outside the timing

    started = time.perf_counter()
    for index, chunk in enumerate(chunks):
        score_chunk(featurized(request("ceiling", index, chunk)), store)
    annotated = time.perf_counter() - started
    assert store.record("ceiling")["status"] == "succeeded"

    started = time.perf_counter()
    for index, chunk in enumerate(chunks):
        predict_chunk(featurized(request("bare", index, chunk)))
    bare = time.perf_counter() - started

    # The JSON each hop carries for the first chunk: now gateway -> featurize -> score; before, the featurizer's
    # output (featurizer spec included) went to predict, and the same plus predictions on to annotate.
    first = request("bytes", 0, chunks[0])
    to_score = featurized(first)
    old_featurized = featurize_chunk(first)
    old_predicted = predict_chunk(json.loads(json.dumps(old_featurized)))
    size = len(json.dumps(first)) + len(json.dumps(to_score))
    before = len(json.dumps(first)) + len(json.dumps(old_featurized)) + len(json.dumps(old_predicted))
    n = len(chunks[0])
    return {"annotated": annotated, "bare": bare, "message_bytes": size / n, "message_bytes_before": before / n}


def restart_workers(concurrency: int, timeout: float = 180) -> None:
    """Every stack worker again with ``concurrency`` processes; back when /readyz says they all consume."""
    env = {**os.environ, "CAUSALMOL_STACK_CONCURRENCY": str(concurrency)}
    subprocess.run([REPO / "deploy/local/stack.sh", "stop-workers"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([REPO / "deploy/local/stack.sh", "start-workers"], env=env, check=True, stdout=subprocess.DEVNULL,
                   timeout=timeout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--redis-url", default=os.environ.get("CAUSALMOL_REDIS_URL", "redis://127.0.0.1:6390/0"),
                        help="the stack's redis, for its network counters (stack.sh's default port)")
    parser.add_argument("--models-dir", type=Path, default=Path(os.environ.get("CAUSALMOL_MODELS_DIR",
                                                                               REPO / "var/stack/models")))
    parser.add_argument("--latency-requests", type=int, default=300)
    parser.add_argument("--concurrent-clients", type=int, default=200)
    parser.add_argument("--job-size", type=int, default=10_000)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--start-stack", action="store_true", help="start (and stop) deploy/local/stack.sh")
    parser.add_argument("--skip-scaling", action="store_true", help="no second job with two processes per worker")
    parser.add_argument("--latency-only", action="store_true", help="the single-molecule phase only, then stop")
    parser.add_argument("--api-key", default=os.environ.get("CAUSALMOL_API_KEY"))
    parser.add_argument("--stack-dir", type=Path, default=Path(os.environ.get("CAUSALMOL_STACK_DIR",
                                                                              REPO / "var/stack")))
    args = parser.parse_args()

    load_before = os.getloadavg()
    if args.start_stack:
        subprocess.run([REPO / "deploy/local/stack.sh", "up"], check=True)
    try:
        ready = requests.get(f"{args.url}/readyz", timeout=10)
        if ready.status_code != 200:
            print(f"stack not ready at {args.url}: {ready.text}", file=sys.stderr)
            return 1
        API_KEY.append(args.api_key or benchmark_key(args.stack_dir))
        smiles = reference_smiles(max(args.job_size, args.latency_requests))
        measure_latency(args.url, smiles, 20)  # warm up: models loaded, connections open
        latencies = measure_latency(args.url, smiles, args.latency_requests)
        if args.latency_only:
            print_latency(latencies)
            print_load(load_before)
            return 0
        answered, slowest, errors = measure_concurrent(args.url, smiles, args.concurrent_clients)
        broker = redis.Redis.from_url(args.redis_url)
        net_before = redis_net_bytes(broker)
        job_seconds = measure_job(args.url, smiles[: args.job_size])
        net_per_molecule = (redis_net_bytes(broker) - net_before) / args.job_size
        scaled_seconds = None
        if not args.skip_scaling:
            restart_workers(2)
            try:
                measure_latency(args.url, smiles, 20)  # the new processes load the model
                scaled_seconds = measure_job(args.url, smiles[: args.job_size])
            finally:
                restart_workers(1)
    finally:
        if args.start_stack:
            subprocess.run([REPO / "deploy/local/stack.sh", "down"], check=False)
    local = in_process(args.models_dir, smiles[: args.job_size], args.chunk_size)

    stack_rate, ceiling_rate = args.job_size / job_seconds, args.job_size / local["annotated"]
    bare_rate = args.job_size / local["bare"]
    print(f"cores: {os.cpu_count()}")
    print_latency(latencies)
    print(f"{args.concurrent_clients} concurrent clients, one molecule each with wait: {answered} answered, "
          f"slowest {slowest:.0f} ms, {errors} 5xx (target: all answered, none over 1 s, no 5xx)")
    print(f"{args.job_size}-molecule job through the stack: {job_seconds:.2f} s = {stack_rate:.0f} molecules/s")
    print(f"in-process ceiling, same work (featurize + score): {local['annotated']:.2f} s = {ceiling_rate:.0f} "
          "molecules/s")
    print(f"stack / ceiling: {stack_rate / ceiling_rate:.0%} (target >= 80%)")
    print(f"bare featurize + predict in process: {bare_rate:.0f} molecules/s; full annotation / bare: "
          f"{ceiling_rate / bare_rate:.0%} (target >= 50%)")
    print(f"bytes through Redis per molecule during the job (all traffic): {net_per_molecule:,.0f}")
    print(f"stage-message JSON per molecule: {local['message_bytes']:,.0f} B now (2 hops), "
          f"{local['message_bytes_before']:,.0f} B as the 3-hop chain sent it")
    if scaled_seconds is not None:
        scaled_rate = args.job_size / scaled_seconds
        print(f"the same job with 2 processes per worker (CAUSALMOL_STACK_CONCURRENCY=2): {scaled_seconds:.2f} s = "
              f"{scaled_rate:.0f} molecules/s; 1 process: {stack_rate:.0f} molecules/s; ratio "
              f"{scaled_rate / stack_rate:.2f}x")
    print_load(load_before)
    return 0


def print_latency(latencies: list[float]) -> None:
    print(f"single-molecule latency over {len(latencies)} requests: p50 {statistics.median(latencies):.1f} ms, "
          f"p99 {percentile(latencies, 99):.1f} ms (target p50 <= 15 ms, p99 <= 50 ms)")


def print_load(before: tuple[float, float, float]) -> None:
    after = os.getloadavg()
    print("load average (1, 5, 15 min) at the start: " + ", ".join(f"{x:.2f}" for x in before)
          + "; at the end: " + ", ".join(f"{x:.2f}" for x in after))


if __name__ == "__main__":
    sys.exit(main())
