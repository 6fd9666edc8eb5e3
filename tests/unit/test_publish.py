"""shared/publish.py: chains go out by name, and no message header carries the chunk's structures."""

from __future__ import annotations

import uuid

import pytest

import shared.publish
from shared.celery_app import celery_app
from shared.publish import BULK_PRIORITY, publish

SMILES = "CC(C)Nc1ncnc2[nH]ccc12"


class RecordingChain:
    sent: list[tuple] = []

    def __init__(self, *signatures):
        self.signatures = signatures

    def apply_async(self):
        RecordingChain.sent.append(self.signatures)


@pytest.fixture
def sent(monkeypatch):
    RecordingChain.sent = []
    monkeypatch.setattr(shared.publish, "chain", RecordingChain)
    return RecordingChain.sent


def test_every_step_names_its_job_not_its_structures(sent):
    publish(("featurize.batch", "score.batch"), {"job_id": "j1", "chunk": 0, "molecules": [{"smiles": SMILES}]},
            BULK_PRIORITY)
    (signatures,) = sent
    assert [s.task for s in signatures] == ["featurize.batch", "score.batch"]
    for signature in signatures:  # the second step's options go with its own message, from the worker
        assert signature.options == {"argsrepr": "(job j1)", "kwargsrepr": "{}", "priority": BULK_PRIORITY}


def test_celery_writes_those_reprs_into_the_headers_instead_of_the_arguments(sent):
    message = {"job_id": "j2", "chunk": 0, "molecules": [{"smiles": SMILES}]}
    publish(("featurize.batch",), message)
    options = sent[0][0].options
    assert "priority" not in options  # a one-molecule request goes at the default, served first
    task_message = celery_app.amqp.as_task_v2(uuid.uuid4().hex, "featurize.batch", args=(message,),
                                              argsrepr=options["argsrepr"], kwargsrepr=options["kwargsrepr"])
    assert task_message.headers["argsrepr"] == "(job j2)"
    assert SMILES not in repr(task_message.headers)
    # without them, Celery writes a repr of the arguments themselves (cut at a depth and a length)
    default = celery_app.amqp.as_task_v2(uuid.uuid4().hex, "featurize.batch", args=(message,))
    assert "'molecules': [" in default.headers["argsrepr"]
