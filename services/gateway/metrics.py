"""Prometheus metrics of the gateway: requests, submitted jobs, predicted molecules and verdicts, queue depths.

Under gunicorn every worker process writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR`` (set by
``gunicorn_conf.py``) and a scrape of any worker sums them all; without that variable the process-local registry
is served. Queue depths are read from Redis at scrape time, so no worker ever holds a stale gauge.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

import redis
from flask import Flask, Response, g, request
from prometheus_client import REGISTRY, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from shared.config import QUEUES, Settings
from shared.jobs import PREDICTION, SUCCEEDED, JobStore
from shared.task_signals import worker_metrics_dir

logger = logging.getLogger(__name__)

REQUESTS = Histogram("causalmol_http_request_duration_seconds", "HTTP request latency by route template and status",
                     ["method", "route", "status"],
                     buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
JOBS_SUBMITTED = Counter("causalmol_jobs_submitted", "Jobs accepted and queued, by kind", ["kind"])
MOLECULES_PREDICTED = Counter("causalmol_molecules_predicted", "Molecules of succeeded jobs that got a prediction",
                              ["model"])
MOLECULES_FAILED = Counter("causalmol_molecules_failed", "Molecules of succeeded jobs that failed, by error code",
                           ["model", "code"])
VERDICTS = Counter("causalmol_verdicts", "Causal-validity verdicts of succeeded jobs", ["model", "verdict"])

# Set on a job (as an attachment, kept as long as the job) once its results are counted, in whatever process.
COUNTED_MARK = "metrics-counted"
# Kombu's Redis transport keeps priorities 3, 6 and 9 of a queue under suffixed keys beside the plain one.
PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def count_submitted(kind: str) -> None:
    JOBS_SUBMITTED.labels(kind=kind).inc()


def count_results(store: JobStore, job: dict[str, Any]) -> None:
    """Count a succeeded prediction job's molecules and verdicts the first time the gateway reads it.

    Later reads (polling, exports, any gunicorn worker) find the mark and count nothing: the mark is set if absent,
    atomically, so two first reads racing in two processes count once. Metrics never fail a request.
    """
    if job.get("kind", PREDICTION) != PREDICTION or job["status"] != SUCCEEDED:
        return
    try:
        if not store.put_attachment_if_absent(job["job_id"], COUNTED_MARK, "1"):
            return
    except Exception as exc:  # a store hiccup costs a sample, never the client's answer
        logger.warning("job %s not counted: %r", job["job_id"], exc)
        return
    model = f"{job['model']['name']}@{job['model']['version']}" if job.get("model") else "unknown"
    for result in job["results"]:
        if result.get("prediction") is not None:
            MOLECULES_PREDICTED.labels(model=model).inc()
        if result.get("error"):
            MOLECULES_FAILED.labels(model=model, code=result["error"].get("code", "unknown")).inc()
        if result.get("causal_validity"):
            VERDICTS.labels(model=model, verdict=result["causal_validity"]["verdict"]).inc()


class QueueDepthCollector(Collector):
    """``LLEN`` of each Celery queue, read when Prometheus scrapes."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def collect(self) -> Iterator[Metric]:
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                for queue in QUEUES:
                    for suffix in PRIORITY_SUFFIXES:
                        pipe.llen(queue + suffix)
                lengths = pipe.execute()
        except redis.RedisError as exc:  # an absent series says "unknown"; a zero would lie
            logger.warning("queue depths not read: %r", exc)
            return
        family = GaugeMetricFamily("causalmol_queue_depth", "Messages waiting in each Celery queue", labels=["queue"])
        per_queue = len(PRIORITY_SUFFIXES)
        for i, queue in enumerate(QUEUES):
            family.add_metric([queue], sum(lengths[i * per_queue : (i + 1) * per_queue]))
        yield family


class Scrape(Collector):
    """What one ``/metrics`` answer exposes: the samples of every process (or this one), then the queues."""

    def __init__(self, sources: Iterable[Collector]) -> None:
        self._sources = list(sources)

    def collect(self) -> Iterator[Metric]:
        for source in self._sources:
            yield from source.collect()


def scrape_sources(settings: Settings) -> list[Collector]:
    # In multiprocess mode the default registry holds this process's samples only: read the shared files instead.
    sources: list[Collector] = [MultiProcessCollector(None) if os.environ.get("PROMETHEUS_MULTIPROC_DIR")
                                else REGISTRY]
    if not settings.embedded:  # embedded mode has no Redis: its in-memory queue is drained by the worker thread
        assert settings.redis_url is not None  # not embedded: there is a Redis URL
        client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=settings.broker_timeout_seconds,
                                      socket_timeout=settings.broker_timeout_seconds)
        # The workers' task durations (shared.task_signals), in their own directory: gunicorn clears the gateway's.
        workers = worker_metrics_dir(settings)
        try:
            workers.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # the gateway still serves its own metrics
            logger.warning("worker metrics directory %s unusable: %r", workers, exc)
        else:
            if str(workers) != os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
                sources.append(MultiProcessCollector(None, path=str(workers)))
        sources.append(QueueDepthCollector(client))
    return sources


def init_app(app: Flask, settings: Settings) -> None:
    """Time every request, log one access line for it, and serve ``GET /metrics``."""
    scrape = Scrape(scrape_sources(settings))

    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
        # The rule's template, not the URL: one series per route, whatever ids clients send (404s share one).
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        REQUESTS.labels(method=request.method, route=route, status=str(response.status_code)).observe(seconds)
        logger.info("%s %s %d %.1fms", request.method, request.path, response.status_code, seconds * 1000,
                           extra={"method": request.method, "route": route, "status": response.status_code,
                                  "duration_ms": round(seconds * 1000, 1)})
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(scrape), content_type=CONTENT_TYPE_PLAIN_0_0_4)
