"""shared/logging.py: one line format, naming the process role."""

from __future__ import annotations

import logging
import os

import pytest

from shared.logging import FORMAT, configure_logging


@pytest.fixture
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


def test_configure_logging_sets_level_and_role(restore_root_logger, capsys):
    configure_logging("predictor", "DEBUG")
    root = restore_root_logger
    assert root.level == logging.DEBUG
    assert len(root.handlers) == 1
    assert root.handlers[0].formatter._fmt == FORMAT.format(role="predictor")
    logging.getLogger("unit.test").warning("hello %s", "there")
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].endswith(f" INFO [predictor] root: logging configured for predictor (pid {os.getpid()})")
    assert lines[-1].endswith(" WARNING [predictor] unit.test: hello there")


def test_level_filters(restore_root_logger, capsys):
    configure_logging("gateway", "WARNING")
    logging.getLogger("unit.test").info("quiet")
    assert "quiet" not in capsys.readouterr().err
