"""services/cli.py: the command line: parsing, model listing, and the embedded-mode worker guard."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from services.cli import WORKER_TASK_MODULES, build_parser, run_list_models, run_worker
from shared.config import QUEUES
from shared.model_store import ModelStore

REPO = Path(__file__).resolve().parents[2]


def test_worker_modules_cover_every_queue():
    assert set(WORKER_TASK_MODULES) == set(QUEUES)


def test_gateway_defaults(monkeypatch):
    monkeypatch.delenv("CAUSALMOL_BIND", raising=False)
    args = build_parser().parse_args(["gateway"])
    assert (args.bind, args.workers, args.threads) == ("127.0.0.1:8000", 2, 8)


def test_worker_arguments():
    args = build_parser().parse_args(["worker", "predictor", "--concurrency", "3", "--pool", "solo"])
    assert (args.service, args.concurrency, args.pool) == ("predictor", 3, "solo")
    assert args.run is run_worker


@pytest.mark.parametrize("argv", [["worker", "gateway"], ["worker", "causal", "--pool", "gevent"], [],
                                  ["models"], ["models", "build-reference", "--limit", "many"]])
def test_bad_command_lines_exit(argv, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == 2


def test_build_reference_arguments():
    args = build_parser().parse_args(["models", "build-reference", "--limit", "50", "--if-missing"])
    assert (args.name, args.limit, args.if_missing) == ("akt1", 50, True)


def test_list_models(settings_env, tmp_path, capsys):
    store = ModelStore(tmp_path)
    for name in ("beta", "alpha", "alpha"):
        store.write_version(name, lambda folder: {})
    settings_env(CAUSALMOL_MODELS_DIR=str(tmp_path))
    assert run_list_models(build_parser().parse_args(["models", "list"])) == 0
    assert capsys.readouterr().out.splitlines() == ["alpha @1 @2", "beta @1"]


def test_worker_refuses_embedded_mode(settings_env, capsys):
    settings_env()  # no CAUSALMOL_REDIS_URL
    assert run_worker(build_parser().parse_args(["worker", "featurizer"])) == 2
    assert "CAUSALMOL_REDIS_URL" in capsys.readouterr().err


def test_build_reference_if_missing_does_nothing_when_built(tiny_model, tmp_path):
    shutil.copytree(tiny_model.root / "tiny" / "1", tmp_path / "akt1" / "1")  # stands in for a built akt1
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAUSALMOL_")}
    env["CAUSALMOL_MODELS_DIR"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "services.cli", "models", "build-reference", "--name", "akt1",
                           "--if-missing"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "akt1@1" in proc.stdout and "nothing to do" in proc.stdout
    assert ModelStore(tmp_path).versions("akt1") == [1]


def test_build_reference_rejects_unknown_names():
    proc = subprocess.run([sys.executable, "-m", "services.cli", "models", "build-reference", "--name", "tiny"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "akt1" in proc.stderr
