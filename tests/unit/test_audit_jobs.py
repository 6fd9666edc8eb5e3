"""services/audit/jobs.py: a prediction's end record counts its verdicts from the chunks' tallies, reading its
results back only for a job stored without them. The database write (``records.record``) is replaced here by a
list; the integration suite (``tests/integration/test_audit.py``) writes the real one."""

from __future__ import annotations

from typing import Any

import pytest

from services.audit import jobs, records
from shared.jobs import MemoryJobStore, new_job_record
from shared.verdicts import verdict_counts

MODEL = {"name": "akt1", "version": 3}


def result(verdict: str | None) -> dict[str, Any]:
    return {"id": "m", "causal_validity": None if verdict is None else {"verdict": verdict}}


CHUNKS = [[result("supported"), result("caution")], [result(None), result("caution")]]


class CountingStore(MemoryJobStore):
    def __init__(self) -> None:
        super().__init__()
        self.results_read = 0

    def results(self, job_id: str, n_chunks: int) -> list[dict[str, Any]]:
        self.results_read += 1
        return super().results(job_id, n_chunks)


@pytest.fixture
def written(monkeypatch) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    def record(action: str, details: dict[str, Any], **fields: Any) -> bool:
        calls.append((action, details, fields))
        return True

    monkeypatch.setattr(records, "record", record)
    return calls


def finished_job(store: MemoryJobStore, tallied: tuple[bool, ...]) -> str:
    store.create(new_job_record("j1", MODEL, 4, 2, extra={"project": "lab"}))
    for index, (chunk, with_tally) in enumerate(zip(CHUNKS, tallied, strict=True)):
        store.save_chunk("j1", index, chunk, tally=verdict_counts(chunk) if with_tally else None)
    return "j1"


def test_the_end_record_counts_verdicts_from_the_tallies_without_reading_results(written):
    store = CountingStore()
    assert jobs.audit_job_end(store, finished_job(store, (True, True))) is True
    action, details, fields = written[0]
    assert action == "prediction.succeeded"
    assert details["verdicts"] == {"supported": 1, "caution": 2, "error": 1}
    assert store.results_read == 0
    assert (fields["model"], fields["n_molecules"], fields["project"]) == ("akt1@3", 4, "lab")


def test_a_job_with_a_chunk_stored_without_a_tally_is_counted_from_its_results(written):
    store = CountingStore()
    jobs.audit_job_end(store, finished_job(store, (True, False)))
    assert written[0][1]["verdicts"] == {"supported": 1, "caution": 2, "error": 1}
    assert store.results_read == 1


def test_verdict_counts_put_a_failed_molecule_under_error():
    assert verdict_counts([result(None), result("unknown"), {"id": "x"}]) == {"error": 2, "unknown": 1}
