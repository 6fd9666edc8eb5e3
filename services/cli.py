"""``causalmol``: run the gateway, a service worker, or manage models."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from shared.config import QUEUES, get_settings
from shared.logging import configure_logging

logger = logging.getLogger(__name__)

REFERENCE_MODELS = ("akt1", "akt", "pik3ca")
WORKER_TASK_MODULES = {
    "featurizer": "services.featurizer.tasks",
    "predictor": "services.predictor.tasks",
    "causal": "services.causal.tasks",
}


def run_gateway(args: argparse.Namespace) -> int:
    settings = get_settings()
    workers = 1 if settings.embedded else args.workers  # embedded: one process holds the in-memory broker
    conf = Path(__file__).parent / "gateway" / "gunicorn_conf.py"
    argv = ["gunicorn", "--config", str(conf), "--bind", args.bind,
            "--workers", str(workers), "--threads", str(args.threads), "services.gateway:create_app()"]
    logger.info("gateway on http://%s (%s mode)", args.bind, "embedded" if settings.embedded else "distributed")
    os.execvp(sys.executable, [sys.executable, "-m", *argv])
    return 0


def run_worker(args: argparse.Namespace) -> int:
    import importlib

    from shared.celery_app import celery_app, configure_celery

    settings = get_settings()
    if settings.embedded:
        print("a worker needs CAUSALMOL_REDIS_URL (embedded mode runs its worker inside the gateway)", file=sys.stderr)
        return 2
    configure_celery(settings)
    importlib.import_module(WORKER_TASK_MODULES[args.service])
    celery_app.worker_main([
        "worker", "--queues", args.service, "--hostname", f"{args.service}@%h-{os.getpid()}",
        "--concurrency", str(args.concurrency), "--pool", args.pool, "--loglevel", settings.log_level,
        "--without-gossip", "--without-mingle",
    ])
    return 0


def run_build_reference(args: argparse.Namespace) -> int:
    from services.predictor.reference import build_reference
    from shared.model_store import ModelStore

    store = ModelStore(get_settings().models_dir)
    if args.if_missing and store.versions(args.name):
        print(f"{args.name}@{store.versions(args.name)[-1]} already exists; nothing to do")
        return 0
    manifest = build_reference(store, args.name, args.limit)
    if not args.skip_profile:
        from services.causal.attach import attach_profile

        manifest["causal_profile"] = attach_profile(store, get_settings().datasets_dir, manifest)
    print(json.dumps({"model": f"{manifest['name']}@{manifest['version']}", "held_out": manifest["metrics"]["held_out"],
                      "interval": manifest["interval"], "applicability_domain": manifest["applicability_domain"],
                      "training_seconds": manifest["training_seconds"],
                      "causal_profile": manifest.get("causal_profile", "skipped")}, indent=2))
    return 0


def run_list_models(_: argparse.Namespace) -> int:
    from shared.model_store import ModelStore

    store = ModelStore(get_settings().models_dir)
    for name in store.names():
        print(name, " ".join(f"@{v}" for v in store.versions(name)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="causalmol", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    gateway = commands.add_parser("gateway", help="serve the HTTP API with gunicorn")
    gateway.add_argument("--bind", default=os.environ.get("CAUSALMOL_BIND", "127.0.0.1:8000"))
    gateway.add_argument("--workers", type=int, default=2)
    gateway.add_argument("--threads", type=int, default=8)
    gateway.set_defaults(run=run_gateway)

    worker = commands.add_parser("worker", help="run one service's Celery worker on its queue")
    worker.add_argument("service", choices=QUEUES)
    worker.add_argument("--concurrency", type=int, default=1)
    worker.add_argument("--pool", default="prefork", choices=["prefork", "solo", "threads"])
    worker.set_defaults(run=run_worker)

    models = commands.add_parser("models", help="manage models").add_subparsers(dest="models", required=True)
    build = models.add_parser("build-reference", help="train the bundled reference model (deterministic)")
    build.add_argument("--name", default="akt1", choices=REFERENCE_MODELS)
    build.add_argument("--limit", type=int, default=None, help="train on a sample of this many rows (tests)")
    build.add_argument("--if-missing", action="store_true", help="do nothing when a version exists")
    build.add_argument("--skip-profile", action="store_true", help="do not build the causal profile (faster)")
    build.set_defaults(run=run_build_reference)
    models.add_parser("list", help="list models and versions").set_defaults(run=run_list_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.command, get_settings().log_level)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
