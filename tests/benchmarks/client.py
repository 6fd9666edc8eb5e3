"""Client benchmark: `causalmol predict` on 10,000 SMILES against the same job posted by hand, and `causalmol score`.

Starts an embedded gateway (no Redis, keys off, as ``compact.py``) on a free port with its own CAUSALMOL_HOME in
a temporary directory, over the ``akt1`` reference model with its causal profile: built there with
``causalmol models build-reference --if-missing``, or reused from ``--models`` when that directory has one.
SMILES are real AKT1 molecules from the bundled reference data, cycled to ``--n`` (``pipeline.reference_smiles``).
Every HTTP byte goes through a counting TCP relay, so "bytes moved" is what crossed the socket (headers included).

- ``causalmol predict -i in.smi -o out.csv --model akt1``, a subprocess timed from start to exit (interpreter start,
  reading the file, submit, polling with the progress bar, writing the CSV);
- the same job by hand with requests: POST /v1/predictions (no wait), poll GET /v1/jobs/<id> every 0.2 s (the
  poll that sees it succeeded carries every result, as the client's does), then the same results again in pages
  of 1,000 (GET /v1/jobs/<id>/results?limit=1000&cursor=...), timed on its own;
- ``causalmol score --model akt1`` on ``--n-score`` SMILES, ``--repeat`` times: seconds per call, bytes on the
  wire per molecule and stdout bytes per molecule (what REINVENT reads).

    .venv/bin/python tests/benchmarks/client.py [--n 10000] [--n-score 1000] [--models DIR] [--hand-first]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.benchmarks.pipeline import reference_smiles  # noqa: E402
from tests.conftest import CAUSALMOL, start_gateway, stop_process  # noqa: E402


class CountingRelay:
    """A TCP relay on a free local port in front of ``target``: counts the bytes each way since ``reset``."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.up = self.down = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self) -> None:
        with self._lock:
            self.up = self.down = 0

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:  # closed
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, upstream, "up"), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, "down"), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, direction: str) -> None:
        try:
            while data := source.recv(1 << 16):
                sink.sendall(data)
                with self._lock:
                    setattr(self, direction, getattr(self, direction) + len(data))
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._server.close()


def megabytes(relay: CountingRelay) -> str:
    return f"{relay.up / 1e6:.2f} MB up, {relay.down / 1e6:.2f} MB down"


def by_hand(url: str, smiles: list[str], relay: CountingRelay) -> None:
    """POST, poll until succeeded (results in the last poll), then the results again in pages: printed."""
    session, polls = requests.Session(), 0
    body = {"model": "akt1", "wait": 0, "molecules": [{"id": str(i), "smiles": s} for i, s in enumerate(smiles)]}
    started = time.perf_counter()
    accepted = session.post(url + "/v1/predictions", json=body, timeout=120)
    accepted.raise_for_status()
    job_id = accepted.json()["job_id"]
    while (job := session.get(f"{url}/v1/jobs/{job_id}", timeout=120).json())["status"] not in ("succeeded",
                                                                                                "failed"):
        polls += 1
        time.sleep(0.2)
    finished = time.perf_counter() - started
    inline = "results" in job  # a big job's document may link its results (results_url) instead of holding them
    if job["status"] != "succeeded" or (inline and len(job["results"]) != len(smiles)):
        raise SystemExit(f"the hand-posted job ended {job['status']} with {len(job.get('results') or [])} results")
    print(f"  by hand (POST, poll every 0.2 s, {polls + 1} polls): {finished:.2f} s to succeeded, "
          f"{'with every result in the last poll' if inline else 'the document links its results'}; "
          f"{megabytes(relay)}")
    relay.reset()
    started, paged, cursor = time.perf_counter(), 0, None
    while True:
        params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = session.get(f"{url}/v1/jobs/{job_id}/results", params=params, timeout=120).json()
        paged += len(page["results"])
        if (cursor := page["next_cursor"]) is None:
            break
    paging = time.perf_counter() - started
    print(f"    {'the same results again' if inline else 'its results'} in pages of 1,000: {paging:.2f} s for "
          f"{paged} results; {megabytes(relay)}")
    total = finished + (0.0 if inline else paging)
    print(f"    by hand, POST to every result in hand: {total:.2f} s, {len(smiles) / total:.0f} molecules/s")


def with_cli(env: dict[str, str], infile: Path, outfile: Path, relay: CountingRelay, n: int) -> None:
    """``causalmol predict`` as a subprocess, timed from start to exit: printed."""
    started = time.perf_counter()
    run = subprocess.run([*CAUSALMOL, "predict", "-i", str(infile), "-o", str(outfile), "--model", "akt1", "--url",
                          relay.url, "--quiet"], env=env, cwd=REPO, capture_output=True, text=True)
    cli = time.perf_counter() - started
    if run.returncode == 0:
        rows = sum(1 for _ in outfile.open()) - 1
        print(f"  causalmol predict: {cli:.2f} s wall, {n / cli:.0f} molecules/s, {rows} CSV rows; {megabytes(relay)}")
    else:  # reported, not raised: the hand-posted job and the scorer are still measured
        print(f"  causalmol predict FAILED (exit {run.returncode}) after {cli:.2f} s: "
              f"{run.stderr.strip().splitlines()[-1]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--n-score", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--hand-first", action="store_true", help="post the job by hand before the CLI runs")
    parser.add_argument("--models", type=Path, default=None, help="reuse akt1 from this models dir (else built)")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="causalmol-client-bench-"))
    models = (args.models or home / "models").absolute()
    env = {k: v for k, v in os.environ.items() if k not in ("CAUSALMOL_REDIS_URL", "CAUSALMOL_API_KEY",
                                                             "CAUSALMOL_DATABASE_URL", "CAUSALMOL_URL")}
    env.update(CAUSALMOL_HOME=str(home), CAUSALMOL_MODELS_DIR=str(models), CAUSALMOL_AUTH="disabled")
    started = time.perf_counter()
    built = subprocess.run([*CAUSALMOL, "models", "build-reference", "--name", "akt1", "--if-missing"], env=env,
                           cwd=REPO, check=True, capture_output=True, text=True)
    print(f"akt1 in {models}: {'reused' if 'already exists' in built.stdout else 'built'} "
          f"({time.perf_counter() - started:.1f} s)")

    smiles = reference_smiles(args.n)
    infile, outfile = home / "in.smi", home / "out.csv"
    infile.write_text("".join(f"{s} m{i}\n" for i, s in enumerate(smiles)))
    gateway = start_gateway(env, home / "gateway.log")
    relay = CountingRelay(int(gateway.base_url.rsplit(":", 1)[1]))
    try:
        requests.post(gateway.url("/v1/predictions"), json={"model": "akt1", "wait": 30, "molecules": [
            {"id": str(i), "smiles": s} for i, s in enumerate(smiles[:10])]}, timeout=60).raise_for_status()  # warm
        print(f"{args.n} molecules ({len(set(smiles))} distinct AKT1 SMILES), load {os.getloadavg()[0]:.2f}")

        phases = [lambda: with_cli(env, infile, outfile, relay, args.n), lambda: by_hand(relay.url, smiles, relay)]
        for phase in reversed(phases) if args.hand_first else phases:  # the order is a switch: both run alike
            relay.reset()
            phase()

        stdin = "".join(s + "\n" for s in smiles[:args.n_score]).encode()
        seconds, wire, out = [], [], 0
        for _ in range(args.repeat):
            relay.reset()
            started = time.perf_counter()
            run = subprocess.run([*CAUSALMOL, "score", "--model", "akt1", "--url", relay.url], input=stdin,
                                 capture_output=True, env=env, cwd=REPO, check=True)
            seconds.append(time.perf_counter() - started)
            wire.append((relay.up, relay.down))
            out = len(run.stdout)
        up, down = wire[seconds.index(min(seconds))]
        print(f"  causalmol score, {args.n_score} SMILES: {min(seconds):.2f} s per call (best of {args.repeat}; "
              f"median {sorted(seconds)[len(seconds) // 2]:.2f} s); on the wire {up / args.n_score:.0f} B/mol up, "
              f"{down / args.n_score:.0f} B/mol down; stdout {out / args.n_score:.0f} B/mol")
        print(f"load at the end {os.getloadavg()[0]:.2f}")
    finally:
        relay.close()
        stop_process(gateway.proc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
