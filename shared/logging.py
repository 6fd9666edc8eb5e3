"""One log format for every service: timestamp, level, process role, logger and message on one line."""

from __future__ import annotations

import logging
import os

FORMAT = "%(asctime)s %(levelname)s [{role}] %(name)s: %(message)s"


def configure_logging(role: str, level: str = "INFO") -> None:
    logging.basicConfig(level=level, format=FORMAT.format(role=role), force=True)
    logging.getLogger().info("logging configured for %s (pid %d)", role, os.getpid())
