"""``causalmol``: run the gateway or a service worker, manage models, and predict or score through the service."""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.accounts import cli as keys_cli
from services.client.client import API_KEY_ENV, DEFAULT_URL, URL_ENV
from services.client.reinvent import PROPERTIES
from shared.config import QUEUES, get_settings
from shared.logging import configure_logging

logger = logging.getLogger(__name__)

REFERENCE_MODELS = ("akt1", "akt", "pik3ca")
WORKER_TASK_MODULES = {
    "featurizer": "services.featurizer.tasks",
    "scoring": "services.scoring.tasks",
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

    from shared.task_signals import prepare_worker_metrics

    settings = get_settings()
    if settings.embedded:
        print("a worker needs CAUSALMOL_REDIS_URL (embedded mode runs its worker inside the gateway)", file=sys.stderr)
        return 2
    prepare_worker_metrics(settings)  # before prometheus-client is imported: task durations go to shared files
    if settings.worker_metrics_port:
        from shared.task_signals import start_worker_exporter

        start_worker_exporter(settings.worker_metrics_port)
    from shared.celery_app import celery_app, configure_celery, worker_queues

    configure_celery(settings)
    importlib.import_module(WORKER_TASK_MODULES[args.service])
    celery_app.worker_main([
        "worker", "--queues", ",".join(worker_queues(args.service)), "--hostname", f"{args.service}@%h-{os.getpid()}",
        "--concurrency", str(args.concurrency), "--pool", args.pool, "--loglevel", settings.log_level,
        "--without-gossip", "--without-mingle",
    ])
    return 0


def stale_profile(store: Any, name: str, version: int) -> bool:
    """A ready causal profile written by an earlier engine (``make run`` rebuilds it rather than serve ``unknown``)."""
    from services.causal.evidence import PROFILE_VERSION
    from shared.model_store import CAUSAL_PROFILE_FILE

    profile = store.read_sidecar(name, version, CAUSAL_PROFILE_FILE)
    return profile is not None and profile.get("status") == "ready" and profile.get("version") != PROFILE_VERSION


def run_build_reference(args: argparse.Namespace) -> int:
    from services.predictor.reference import build_reference
    from shared.model_store import ModelStore

    store = ModelStore(get_settings().models_dir)
    if args.if_missing and store.versions(args.name):
        newest = store.versions(args.name)[-1]
        if not args.skip_profile and stale_profile(store, args.name, newest):
            from services.causal.attach import attach_profile

            status = attach_profile(store, get_settings().datasets_dir, store.manifest(args.name, newest))
            print(f"{args.name}@{newest} already exists; its causal profile, from an earlier engine, was rebuilt "
                  f"({status})")
        else:
            print(f"{args.name}@{newest} already exists; nothing to do")
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


def service_command(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A command that talks to the service: a service error is one line on stderr and exit status 1."""

    @functools.wraps(run)
    def wrapper(args: argparse.Namespace) -> int:
        from services.client import CausalmolError

        try:
            return run(args)
        except CausalmolError as exc:
            print(f"causalmol {args.command}: {exc}", file=sys.stderr)
            return 1

    return wrapper


def client(args: argparse.Namespace) -> Any:
    from services.client import Client

    return Client(args.url, api_key=args.api_key)


def print_json(document: Any) -> None:
    print(json.dumps(document, indent=2))


@service_command
def run_list_models(args: argparse.Namespace) -> int:
    models = client(args).models()
    if args.json:
        print_json(models)
    for model in [] if args.json else models:
        print(model["name"], " ".join(f"@{v['version']}" + (" (retired)" if v["retired"] else "")
                                      for v in model["versions"]))
    return 0


@service_command
def run_show_model(args: argparse.Namespace) -> int:
    print_json(client(args).model(args.ref))
    return 0


@service_command
def run_show_job(args: argparse.Namespace) -> int:
    job = client(args).job(args.job_id)
    if args.summary:
        model = job.get("model") or {}
        print(job["job_id"], job["status"], f"{job['progress']['done']}/{job['progress']['total']}",
              f"{model.get('name')}@{model.get('version')}" if model else "-")
    else:
        print_json(job)
    return 0


OUTPUT_FORMATS = {".csv": "csv", ".sdf": "sdf", ".sd": "sdf", ".json": "json"}


def write_results(api: Any, jobs: list[dict[str, Any]], path: Path, file_format: str) -> None:
    """CSV and JSON as the server exports them (the same columns); SDF rendered by the server, one job at a time."""
    from shared.export import results_to_csv

    results = [result for job in jobs for result in job["results"]]
    if file_format == "csv":
        text = results_to_csv(results)
    elif file_format == "json":
        text = json.dumps(results, indent=1)
    else:
        text = "".join(part if part.endswith("\n") else part + "\n"
                       for part in (api.export(job["job_id"], "sdf") for job in jobs))
    path.write_text(text, encoding="utf-8")


def run_predict(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from services.client import CausalmolError
    from services.client.inputs import read_molecules
    from shared.errors import CausalmolError as InputError

    file_format = OUTPUT_FORMATS.get(args.output.suffix.lower())
    if file_format is None:
        print(f"causalmol predict: name the output *.csv, *.sdf or *.json, not {args.output.name}", file=sys.stderr)
        return 2
    try:
        molecules = read_molecules(args.input, args.id_column, args.smiles_column)
    except (OSError, InputError) as exc:
        print(f"causalmol predict: {args.input}: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 2
    if not molecules:
        print(f"causalmol predict: no molecules in {args.input}", file=sys.stderr)
        return 2
    api = client(args)
    try:
        with tqdm(total=len(molecules), unit="mol", desc=args.model, disable=args.quiet, file=sys.stderr) as bar:
            jobs = api.predict_jobs(args.model, molecules, timeout=args.timeout,
                                    on_progress=lambda done, _total: bar.update(done - bar.n))
        write_results(api, jobs, args.output, file_format)
    except CausalmolError as exc:  # the service failed: the only non-zero exit once the input was read
        print(f"causalmol predict: {exc}", file=sys.stderr)
        return 1
    failed = sum(1 for job in jobs for result in job["results"] if result.get("error"))
    print(f"{len(molecules)} molecules, {failed} failed, written to {args.output}", file=sys.stderr)
    return 0


@service_command
def run_score(args: argparse.Namespace) -> int:
    from services.client import reinvent

    smiles = reinvent.read_smiles(sys.stdin.read())
    sent = [(i, s) for i, s in enumerate(smiles) if s]
    results: list[dict[str, Any] | None] = [None] * len(smiles)
    model = args.model
    if sent:
        jobs = client(args).predict_jobs(args.model, [{"id": str(i), "smiles": s} for i, s in sent],
                                         wait=reinvent.SUBMIT_WAIT, timeout=args.timeout,
                                         response=reinvent.RESPONSE)
        for (index, _), result in zip(sent, (r for job in jobs for r in job["results"]), strict=True):
            results[index] = result
        model = "{name}@{version}".format(**jobs[0]["model"])
    sys.stdout.write(reinvent.dumps(reinvent.score_document(results, model, args.predictions)) + "\n")
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
    listing = models.add_parser("list", help="list the service's models and versions")
    listing.add_argument("--json", action="store_true", help="print the listing as JSON")
    listing.set_defaults(run=run_list_models)
    show = models.add_parser("show", help="print a model card (name or name@version)")
    show.add_argument("ref")
    show.set_defaults(run=run_show_model)

    jobs = commands.add_parser("jobs", help="inspect jobs").add_subparsers(dest="jobs", required=True)
    show_job = jobs.add_parser("show", help="print a job (status, progress, results)")
    show_job.add_argument("job_id")
    show_job.add_argument("--summary", action="store_true", help="one line: id, status, done/total, model")
    show_job.set_defaults(run=run_show_job)

    predict = commands.add_parser("predict", help="predict every molecule of a file through the service")
    predict.add_argument("-i", "--input", type=Path, required=True, help="*.sdf, *.csv or *.smi")
    predict.add_argument("-o", "--output", type=Path, required=True, help="*.csv, *.sdf or *.json")
    predict.add_argument("--model", required=True, help="name (newest version) or name@version")
    predict.add_argument("--id-column", help="CSV column or SD property with the ids (default: row / record title)")
    predict.add_argument("--smiles-column", help="CSV column (default smiles) or SD property with SMILES "
                         "(default: the SDF molblock)")
    predict.add_argument("--timeout", type=float, default=None, help="give up waiting after this many seconds")
    predict.add_argument("--quiet", action="store_true", help="no progress bar")
    predict.set_defaults(run=run_predict)

    score = commands.add_parser("score", help="REINVENT4 ExternalProcess scorer: SMILES on stdin, JSON on stdout")
    score.add_argument("--model", required=True, help="name (newest version) or name@version")
    score.add_argument("--predictions", default="pactivity", choices=PROPERTIES,
                       help="the property REINVENT reads as payload.predictions (default pactivity)")
    score.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the predictions")
    score.set_defaults(run=run_score)

    for command in (listing, show, show_job, predict, score):
        command.add_argument("--url", default=None, help=f"the service (default ${URL_ENV} or {DEFAULT_URL})")
        command.add_argument("--api-key", default=None, help=f"the API key (default ${API_KEY_ENV})")
    keys_cli.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.command, get_settings().log_level)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
