"""Pipeline benchmark: prints latency and throughput through the running distributed stack, and the ceiling.

Run against a stack started with ``deploy/local/stack.sh up`` (or pass ``--start-stack`` to have this script
start and stop one on its own ports). Figures printed:

- single-molecule latency p50/p99: POST with ``wait`` through gateway -> featurizer -> predictor -> causal;
- throughput of one 10,000-molecule job (real AKT1 SMILES from the bundled reference data);
- the same featurize + predict + annotate work done in this one process (the ceiling), and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

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


def measure_latency(url: str, smiles: list[str], n: int) -> list[float]:
    session = requests.Session()
    timings = []
    for i in range(n):
        body = {"model": "akt1", "molecules": [{"id": str(i), "smiles": smiles[i]}], "wait": 10}
        started = time.perf_counter()
        response = session.post(f"{url}/v1/predictions", json=body, timeout=30)
        elapsed = time.perf_counter() - started
        if response.status_code != 200 or response.json()["status"] != "succeeded":
            raise RuntimeError(f"request {i} did not finish within wait: {response.status_code} {response.text[:200]}")
        timings.append(elapsed * 1000)
    return timings


def measure_job(url: str, smiles: list[str]) -> float:
    body = {"model": "akt1", "molecules": [{"id": str(i), "smiles": s} for i, s in enumerate(smiles)]}
    started = time.perf_counter()
    accepted = requests.post(f"{url}/v1/predictions", json=body, timeout=60)
    accepted.raise_for_status()
    status_url = f"{url}/v1/jobs/{accepted.json()['job_id']}"
    while True:
        # Poll the status only: the results are fetched once, at the end, like a real client.
        job = requests.get(status_url, timeout=60).json()
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    if job["status"] != "succeeded" or len(job["results"]) != len(smiles):
        raise RuntimeError(f"job ended {job['status']}: {job.get('error')}")
    return elapsed


def measure_in_process(models_dir: Path, smiles: list[str], chunk_size: int) -> float:
    os.environ["CAUSALMOL_MODELS_DIR"] = str(models_dir)
    os.environ.pop("CAUSALMOL_REDIS_URL", None)
    from services.causal.logic import annotate_chunk
    from services.featurizer.logic import featurize_chunk
    from services.predictor.logic import predict_chunk
    from shared.jobs import MemoryJobStore, new_job_record
    from shared.model_store import ModelStore

    manifest = ModelStore(models_dir).resolve("akt1")
    model = {"name": "akt1", "version": manifest["version"], "featurizer": manifest["featurizer"]}
    store = MemoryJobStore()
    chunks = [smiles[i : i + chunk_size] for i in range(0, len(smiles), chunk_size)]
    store.create(new_job_record("ceiling", {"name": "akt1", "version": manifest["version"]}, len(smiles), len(chunks)))
    warm = {"job_id": "warm", "chunk": 0, "model": model, "molecules": [{"id": "0", "smiles": "CCO"}]}
    annotate_chunk(predict_chunk(featurize_chunk(warm)), store)  # load model and index outside the timing
    started = time.perf_counter()
    for index, chunk in enumerate(chunks):
        message = {"job_id": "ceiling", "chunk": index, "model": model,
                   "molecules": [{"id": str(i), "smiles": s} for i, s in enumerate(chunk)]}
        annotate_chunk(predict_chunk(featurize_chunk(message)), store)
    elapsed = time.perf_counter() - started
    assert store.record("ceiling")["status"] == "succeeded"
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--models-dir", type=Path, default=Path(os.environ.get("CAUSALMOL_MODELS_DIR",
                                                                               REPO / "var/stack/models")))
    parser.add_argument("--latency-requests", type=int, default=300)
    parser.add_argument("--job-size", type=int, default=10_000)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--start-stack", action="store_true", help="start (and stop) deploy/local/stack.sh")
    args = parser.parse_args()

    if args.start_stack:
        subprocess.run([REPO / "deploy/local/stack.sh", "up"], check=True)
    try:
        ready = requests.get(f"{args.url}/readyz", timeout=10)
        if ready.status_code != 200:
            print(f"stack not ready at {args.url}: {ready.text}", file=sys.stderr)
            return 1
        smiles = reference_smiles(max(args.job_size, args.latency_requests))
        measure_latency(args.url, smiles, 20)  # warm up: models loaded, connections open
        latencies = measure_latency(args.url, smiles, args.latency_requests)
        job_seconds = measure_job(args.url, smiles[: args.job_size])
    finally:
        if args.start_stack:
            subprocess.run([REPO / "deploy/local/stack.sh", "down"], check=False)
    ceiling_seconds = measure_in_process(args.models_dir, smiles[: args.job_size], args.chunk_size)

    stack_rate, ceiling_rate = args.job_size / job_seconds, args.job_size / ceiling_seconds
    print(f"cores: {os.cpu_count()}")
    print(f"single-molecule latency over {len(latencies)} requests: p50 {statistics.median(latencies):.1f} ms, "
          f"p99 {percentile(latencies, 99):.1f} ms (target p50 <= 50 ms)")
    print(f"{args.job_size}-molecule job through the stack: {job_seconds:.2f} s = {stack_rate:.0f} molecules/s")
    print(f"in-process ceiling, same work: {ceiling_seconds:.2f} s = {ceiling_rate:.0f} molecules/s")
    print(f"stack / ceiling: {stack_rate / ceiling_rate:.0%} (target >= 50%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
