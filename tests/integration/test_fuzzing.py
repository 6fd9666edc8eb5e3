"""Schema fuzzing: schemathesis against the generated OpenAPI of a live embedded gateway (real worker thread),
a bounded number of cases per operation: no response is a 5xx, and every status is one the document lists.

The cases are generated per operation with schemathesis' Hypothesis strategies and sent over HTTP (its pytest
plugin does not run under this pytest); ``tests/benchmarks/fuzz.py`` prints the same counts for any gateway.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import status_code_conformance

from tests.conftest import start_gateway, stop_process

pytestmark = pytest.mark.integration
CASES_PER_OPERATION = 15  # ~20 operations: about 300 requests, well under a minute


@pytest.fixture(scope="module")
def fuzzed_gateway(models_dir, tmp_path_factory):
    env = {k: v for k, v in os.environ.items() if k != "CAUSALMOL_REDIS_URL"}
    env.update(CAUSALMOL_MODELS_DIR=str(models_dir), CAUSALMOL_CHUNK_SIZE="2", CAUSALMOL_WEBHOOK_SECRET="fuzz",
               CAUSALMOL_HOME=str(tmp_path_factory.mktemp("fuzz-home")),
               CAUSALMOL_DATASETS_DIR=str(tmp_path_factory.mktemp("fuzz-datasets")))
    gw = start_gateway(env, tmp_path_factory.mktemp("fuzz") / "gateway.log")
    yield gw
    stop_process(gw.proc)


def fuzz(base_url: str, cases_per_operation: int) -> tuple[Counter, list[str]]:
    """(status counts, failures) of ``cases_per_operation`` generated requests against every documented operation."""
    api = schemathesis.openapi.from_url(base_url + "/openapi.json")
    statuses: Counter = Counter()
    failures: list[str] = []
    for result in api.get_all_operations():
        @given(case=result.ok().as_strategy())
        @settings(max_examples=cases_per_operation, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case: schemathesis.Case) -> None:
            response = case.call(base_url=base_url, timeout=40)
            statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=[not_a_server_error, status_code_conformance])
            except FailureGroup as group:  # each failure is reported, the run goes on
                failures.extend(f"{case.method} {case.operation.path} -> {response.status_code}: "
                                f"{type(exc).__name__}" for exc in group.exceptions)

        run()
    return statuses, failures


def test_no_5xx_and_no_undocumented_status(fuzzed_gateway) -> None:
    statuses, failures = fuzz(fuzzed_gateway.base_url, CASES_PER_OPERATION)
    print(f"schemathesis: {sum(statuses.values())} requests, statuses {dict(sorted(statuses.items()))}")
    assert sum(statuses.values()) >= 100
    assert not [s for s in statuses if s >= 500]
    assert sorted(set(failures)) == []
