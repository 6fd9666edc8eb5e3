"""Publishing task chains by name: the gateway's jobs, the watchdog's requeues and the webhooks all send this way.

By name, so that the sender never imports the services' code (nor RDKit, scikit-learn or DoWhy).
"""

from __future__ import annotations

from typing import Any

import redis
from celery import chain
from kombu.exceptions import OperationalError

from shared.celery_app import celery_app
from shared.errors import BrokerUnavailable

# Kombu's Redis transport serves priority 0 (the default) before 3, 6 and 9 on every queue: a big job's chunks
# go at BULK_PRIORITY, so a one-molecule request overtakes them at each hop instead of queueing behind them.
BULK_PRIORITY = 9


def publish(task_names: tuple[str, ...], message: dict[str, Any], priority: int | None = None) -> None:
    """Send one chain of tasks, by name, with ``message`` as the first task's argument."""
    first, *rest = task_names
    # Celery writes a repr of each task's arguments into its message headers (``argsrepr``, ``kwargsrepr``) unless
    # told what to write: ours are the labs' structures and features, which stay out of headers (and of anything
    # that prints them), and the repr of a featurized chunk cost more than featurizing one molecule.
    options: dict[str, Any] = {"argsrepr": f"(job {message.get('job_id')})", "kwargsrepr": "{}",
                               **({"priority": priority} if priority else {})}
    try:
        signatures = [celery_app.signature(first, args=(message,), **options),
                      *(celery_app.signature(n, **options) for n in rest)]
        chain(*signatures).apply_async()
    except (OperationalError, OSError, redis.RedisError) as exc:
        raise BrokerUnavailable("the message broker is unreachable; nothing was queued", {"reason": str(exc)}) from exc
