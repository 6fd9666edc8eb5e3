"""A job's statuses and timestamps, shared by the job store, its control side and the gateway's schemas."""

from __future__ import annotations

from datetime import UTC, datetime

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
ACTIVE = (QUEUED, RUNNING)
FINISHED = (SUCCEEDED, FAILED, CANCELLED)  # nothing changes a finished job's status again
STATUSES = (*ACTIVE, *FINISHED)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
