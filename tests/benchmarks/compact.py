"""Compact against full responses: bytes per molecule a prediction moves, and `causalmol score` seconds per call.

Starts an embedded gateway (no Redis, keys off) on a free port over ``--models`` and, for ``--n`` real AKT1 SMILES:

- POSTs the batch with ``wait`` as ``"response": "full"`` and as ``"compact"``: the answer's bytes per molecule,
  and the stored results' JSON bytes per molecule (what the job store keeps and a poll or export moves again);
- runs ``causalmol score --model M`` (REINVENT's ExternalProcess contract, which sends compact requests) on the
  same SMILES ``--repeat`` times: wall seconds per call, and the stdout bytes REINVENT reads.

    python tests/benchmarks/compact.py --models var/models --model akt1 --n 1000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def post(url: str, model: str, smiles: list[str], response: str) -> tuple[requests.Response, float]:
    body = {"model": model, "wait": 30, "response": response,
            "molecules": [{"id": str(i), "smiles": s} for i, s in enumerate(smiles)]}
    started = time.perf_counter()
    answer = requests.post(url + "/v1/predictions", json=body, timeout=120)
    elapsed = time.perf_counter() - started
    answer.raise_for_status()
    if answer.status_code != 200:
        raise SystemExit(f"the {response} job did not finish within its wait: {answer.text[:200]}")
    return answer, elapsed


def main() -> int:
    from services.predictor.reference import load_akt1
    from tests.conftest import free_port, start_gateway, stop_process

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=REPO / "var" / "models")
    parser.add_argument("--model", default="akt1")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.n > 1000:  # INLINE_RESULTS_MAX: a bigger job's answer links its results instead of carrying them
        parser.error("--n is at most 1000: the benchmark measures answers that carry their results")

    smiles = load_akt1().smiles
    batch = [smiles[(i * 7) % len(smiles)] for i in range(args.n)]
    home = Path(os.environ.get("TMPDIR", "/tmp")) / f"causalmol-compact-bench-{free_port()}"
    env = {k: v for k, v in os.environ.items() if k not in ("CAUSALMOL_REDIS_URL", "CAUSALMOL_API_KEY")}
    env.update(CAUSALMOL_MODELS_DIR=str(args.models.absolute()), CAUSALMOL_HOME=str(home), CAUSALMOL_AUTH="disabled")
    home.mkdir(parents=True, exist_ok=True)
    gateway = start_gateway(env, home / "gateway.log")
    try:
        post(gateway.base_url, args.model, batch[:10], "full")  # warm-up: model, profile, explainer loaded once
        print(f"{args.n} molecules, model {args.model} ({args.models})")
        for response in ("full", "compact"):
            answer, elapsed = post(gateway.base_url, args.model, batch, response)
            stored = len(json.dumps(answer.json()["results"]).encode())
            print(f"  {response:8s} answer {len(answer.content) / args.n:8.0f} B/mol   stored results "
                  f"{stored / args.n:8.0f} B/mol   {elapsed:6.2f} s")
        stdin = "\n".join(batch) + "\n"
        seconds, out = [], b""
        for _ in range(args.repeat):
            started = time.perf_counter()
            run = subprocess.run([sys.executable, "-m", "services.cli", "score", "--model", args.model, "--url",
                                  gateway.base_url], input=stdin.encode(), capture_output=True, env=env, cwd=REPO,
                                 check=True)
            seconds.append(time.perf_counter() - started)
            out = run.stdout
        print(f"  causalmol score: {min(seconds):.2f} s per call (best of {args.repeat}; median "
              f"{sorted(seconds)[len(seconds) // 2]:.2f} s), stdout {len(out) / args.n:.0f} B/mol")
    finally:
        stop_process(gateway.proc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
