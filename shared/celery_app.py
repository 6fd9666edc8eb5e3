"""The one Celery app every service uses, created unbound here and configured by ``configure_celery``.

Tasks are routed by name glob to one queue per service, so the gateway can enqueue ``featurize.batch`` by name
without importing the featurizer (and thus RDKit). Messages are JSON only. The online path is two hops,
``PREDICTION_CHAIN``: featurize on the featurizer queue, then score (predict, interval, attributions, domain,
verdict, and the write of the chunk's results) on the scoring queue, in the process that holds the estimator and
the causal profile. The predictor queue keeps training, the causal queue the offline profiles and effect questions.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, Task, states
from celery.app import trace
from celery.exceptions import Ignore
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

import shared.task_signals  # noqa: F401  (request ids into tasks, task durations: signal hooks in every process)
from shared.config import QUEUES, Settings
from shared.errors import BrokerUnavailable, job_error

logger = logging.getLogger(__name__)

FEATURIZE_TASK = "featurize.batch"
SCORE_TASK = "score.batch"
INGEST_DATASET_TASK = "featurize.ingest"
FEATURIZE_DATASET_TASK = "featurize.dataset"
EXPORT_SDF_TASK = "featurize.export_sdf"
TRAIN_TASK = "predict.train"
PROFILE_TASK = "causal.profile"
EFFECT_TASK = "causal.effect"
LONG_TASKS = (INGEST_DATASET_TASK, FEATURIZE_DATASET_TASK, TRAIN_TASK, PROFILE_TASK, EFFECT_TASK)
PREDICTION_CHAIN: tuple[str, ...] = (FEATURIZE_TASK, SCORE_TASK)  # what the gateway publishes per chunk
# Errors of a broker or job store that is coming back (a Redis restart): they do not fail a prediction job.
TRANSIENT = (BrokerUnavailable, RedisConnectionError, RedisTimeoutError, OperationalError, ConnectionError)

# Callbacks: short HTTP calls, consumed beside the scoring queue (``causalmol worker scoring``, embedded mode).
WEBHOOKS_QUEUE = "webhooks"
# Queues a service's worker consumes beside its own.
EXTRA_QUEUES: dict[str, tuple[str, ...]] = {"scoring": (WEBHOOKS_QUEUE,)}
TASK_ROUTES: dict[str, dict[str, str]] = {
    "featurize.*": {"queue": "featurizer"},
    "score.*": {"queue": "scoring"},
    "predict.*": {"queue": "predictor"},
    "causal.*": {"queue": "causal"},
    "webhook.*": {"queue": WEBHOOKS_QUEUE},
}

celery_app = Celery("causalmol")


def worker_queues(service: str) -> list[str]:
    """The queues ``causalmol worker <service>`` consumes: its own, then any that ride along (webhooks)."""
    return [service, *EXTRA_QUEUES.get(service, ())]

# Celery logs each task's return value by default: ours carry the labs' structures, which stay out of logs.
trace.LOG_SUCCESS = "Task %(name)s[%(id)s] succeeded in %(runtime)ss"


def configure_celery(settings: Settings) -> Celery:
    """Bind the shared app to the settings: Redis in distributed mode, in-process memory transport otherwise."""
    if settings.embedded:
        broker, transport_options = "memory://", {"polling_interval": 0.005}
    else:
        assert settings.redis_url is not None  # not embedded: there is a Redis URL
        broker = settings.redis_url
        # A short socket timeout makes an unreachable broker a quick 503 rather than a hung request.
        transport_options = {
            "socket_connect_timeout": settings.broker_timeout_seconds,
            "socket_timeout": max(settings.broker_timeout_seconds, 10.0),
            # An unacknowledged message is redelivered after this: it must outlast the longest task.
            "visibility_timeout": max(settings.task_time_limit, settings.training_time_limit) * 2,
        }
    celery_app.conf.update(
        broker_url=broker,
        result_backend=None,
        task_ignore_result=True,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_routes=TASK_ROUTES,
        task_default_queue=QUEUES[0],
        task_create_missing_queues=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_soft_time_limit=settings.task_soft_time_limit,
        task_time_limit=settings.task_time_limit,
        # Whole-dataset steps (ingest, featurize, fit, profile, effect questions) get the longer training limit.
        task_annotations={
            name: {"soft_time_limit": settings.training_time_limit, "time_limit": settings.training_time_limit + 60}
            for name in LONG_TASKS
        },
        task_publish_retry=False,
        broker_transport_options=transport_options,
        broker_connection_timeout=settings.broker_timeout_seconds,
        broker_connection_retry_on_startup=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        enable_utc=True,
    )
    # Chain steps are dispatched from worker threads, where Celery falls back to the default app: make it ours.
    celery_app.set_default()
    celery_app.set_current()
    return celery_app


def payload_job_id(args: tuple[Any, ...]) -> str | None:
    """The job a pipeline task works for: every pipeline task takes the chunk message first."""
    if args and isinstance(args[0], dict):
        return args[0].get("job_id")
    return None


class PipelineTask(Task):
    """Base for pipeline tasks: a task that fails for good marks its job failed, so clients never wait forever."""

    # Whether a run that succeeds can end its job (a last chunk's scores, a training's model), so that the job's end
    # is audited and called back after it. A featurize step that succeeds only hands its chunk on: it sets False
    # and spares every chunk that read of the job. A task that fails may always have ended its job.
    ends_job_on_success = True
    # Whether the task's first step is to mark its job running: the check before it starts then does that too,
    # reading the status the mark leaves (one round trip, where a status read and a mark were two).
    marks_running = False

    def on_failure(self, exc: BaseException, task_id: str, args: tuple, kwargs: dict, einfo: Any) -> None:
        from shared.jobs import get_job_store  # the store needs settings that are only known at run time

        job_id = payload_job_id(args)
        # The exception (paths, hosts, library internals) stays in the log (Celery adds the traceback);
        # the client gets job_error's stable text.
        if self.name in PREDICTION_CHAIN and isinstance(exc, TRANSIENT):
            # Redis restarting: the chunk is not lost for good; the watchdog publishes it again if it never lands.
            logger.warning("task %s (%s) for job %s hit a broker outage (%r); left to the watchdog", self.name,
                           task_id, job_id, exc)
            return
        logger.error("task %s (%s) failed for job %s: %r", self.name, task_id, job_id, exc)
        if job_id:
            get_job_store().mark_failed(job_id, job_error(self.name, exc))

    def before_start(self, task_id: str, args: tuple, kwargs: dict) -> None:
        """A cancelled job's queued tasks are skipped: Ignore also stops the rest of the chain."""
        from shared.jobs import CANCELLED, get_job_store

        job_id = payload_job_id(args)
        if not job_id:
            return
        store = get_job_store()
        if (store.mark_running(job_id) if self.marks_running else store.status(job_id)) == CANCELLED:
            logger.info("task %s (%s) skipped: job %s is cancelled", self.name, task_id, job_id)
            raise Ignore()

    def after_return(self, status: str, retval: Any, task_id: str, args: tuple, kwargs: dict, einfo: Any) -> None:
        job_id = payload_job_id(args)
        if job_id and (status != states.SUCCESS or self.ends_job_on_success):
            _job_end(job_id)


def _job_end(job_id: str) -> None:
    """If the job has finished: the audit record of its end, then its webhook, from one read of the job. Neither
    fails the task: a broker or database hiccup here is logged (the watchdog sends a callback that was missed)."""
    from services.audit.jobs import audit_job_end  # the database layer is only loaded in the workers
    from shared.jobs import FINISHED, get_job_store
    from shared.webhooks import notify_if_finished

    store = get_job_store()
    try:
        record = store.record(job_id)
    except Exception:
        logger.exception("the end of job %s was not looked for", job_id)
        return
    if record is None or record["status"] not in FINISHED:
        return
    try:
        audit_job_end(store, job_id, record)
    except Exception:
        logger.exception("the end of job %s was not audited", job_id)
    try:
        notify_if_finished(store, job_id, record)
    except Exception:
        logger.exception("the callback of job %s was not queued", job_id)
