"""What the gateway's handlers share: settings, job store and model store, bound to the app in the factory."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from shared.config import Settings
from shared.jobs import JobStore
from shared.model_store import ModelStore

EXTENSION = "causalmol"


@dataclass(frozen=True)
class GatewayContext:
    settings: Settings
    job_store: JobStore
    model_store: ModelStore


def gateway_context() -> GatewayContext:
    return current_app.extensions[EXTENSION]
