"""shared/logging.py: one JSON object per line, naming the process role and the request id; the gateway's request id."""

from __future__ import annotations

import json
import logging
import os
import re

import pytest

from shared.logging import bind_request_id, configure_logging, current_request_id, reset_request_id
from tests.unit.test_gateway_api import ctx  # noqa: F401  (the fixture: a memory job store and a recording chain)
from tests.unit.test_gateway_metrics import make_app


@pytest.fixture
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    for handler in handlers:  # one another test configured may write to a stream its capture has closed
        root.removeHandler(handler)
    yield root
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


def json_lines(captured: str) -> list[dict]:
    return [json.loads(line) for line in captured.strip().splitlines()]


def test_configure_logging_sets_level_and_role(restore_root_logger, capsys):
    configure_logging("predictor", "DEBUG")
    root = restore_root_logger
    assert root.level == logging.DEBUG
    assert len(root.handlers) == 1
    logging.getLogger("unit.test").warning("hello %s", "there")
    first, *_, last = json_lines(capsys.readouterr().err)
    assert first["message"] == f"logging configured for predictor (pid {os.getpid()})"
    assert {k: last[k] for k in ("level", "logger", "message", "role", "request_id")} == {
        "level": "WARNING", "logger": "unit.test", "message": "hello there", "role": "predictor", "request_id": None}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00", last["time"])  # ISO 8601, UTC


def test_level_filters(restore_root_logger, capsys):
    configure_logging("gateway", "WARNING")
    logging.getLogger("unit.test").info("quiet")
    assert "quiet" not in capsys.readouterr().err


def test_the_bound_request_id_is_on_every_line_until_reset(restore_root_logger, capsys):
    configure_logging("gateway")
    token = bind_request_id("req-1")
    logging.getLogger("a").info("one")
    logging.getLogger("b.c").error("two", extra={"job_id": "j1"})
    reset_request_id(token)
    logging.getLogger("a").info("three")
    lines = json_lines(capsys.readouterr().err)[1:]
    assert [(line["message"], line["request_id"]) for line in lines] == [
        ("one", "req-1"), ("two", "req-1"), ("three", None)]
    assert lines[1]["job_id"] == "j1"  # extra fields become JSON fields
    assert current_request_id() is None


def test_an_exception_stays_on_one_line(restore_root_logger, capsys):
    configure_logging("gateway")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("a").exception("failed")
    (line,) = json_lines(capsys.readouterr().err)[1:]
    assert "ValueError: boom" in line["exc_info"]


@pytest.fixture
def client(ctx):  # noqa: F811
    return make_app(ctx).test_client()


def request_lines(captured: str) -> list[dict]:
    return [line for line in json_lines(captured) if line["logger"] != "root"]


def test_a_callers_request_id_is_logged_echoed_and_kept_on_the_job(restore_root_logger, capsys, client, ctx):  # noqa: F811
    configure_logging("gateway")
    response = client.post("/v1/predictions", json={"model": "akt1", "molecules": [{"smiles": "C"}]},
                           headers={"X-Request-ID": "lims-42.a"})
    assert response.status_code == 202
    assert response.headers["X-Request-ID"] == "lims-42.a"
    lines = request_lines(capsys.readouterr().err)
    assert lines and {line["request_id"] for line in lines} == {"lims-42.a"}
    access = lines[-1]  # the access line comes last, with the route template
    assert (access["method"], access["route"], access["status"]) == ("POST", "/v1/predictions", 202)
    assert ctx.job_store.record(response.get_json()["job_id"])["request_id"] == "lims-42.a"
    assert current_request_id() is None  # unbound once the request is over


@pytest.mark.parametrize("sent", [None, "", "x" * 129, "two words", "a;b=c"])
def test_a_missing_or_unfit_request_id_is_replaced_by_a_new_one(restore_root_logger, capsys, client, sent):
    configure_logging("gateway")
    response = client.get("/v1/jobs/nope", headers={} if sent is None else {"X-Request-ID": sent})
    assert response.status_code == 404  # errors carry the id too
    request_id = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert {line["request_id"] for line in request_lines(capsys.readouterr().err)} == {request_id}


def test_each_request_gets_its_own_id(client):
    ids = {client.get("/v1/jobs/nope").headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3
