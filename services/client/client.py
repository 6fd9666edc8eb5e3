"""HTTP client for the causalmol API: submit predictions, wait for jobs with backoff, retry what is safe to retry.

Retried (with exponential backoff, honouring ``Retry-After``): 429, 502, 503 and 504 answers, which the gateway and
an ingress give before anything was queued, and failed connections. A request that was sent but not answered in
time is retried only if it is a GET: a POST may have created its job.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from services.client.errors import (
    CONNECTION_ERROR,
    TIMEOUT,
    WAIT_TIMEOUT,
    CausalmolError,
    JobFailed,
    error_from_response,
)

logger = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:8000"
URL_ENV = "CAUSALMOL_URL"
API_KEY_ENV = "CAUSALMOL_API_KEY"
MAX_MOLECULES = 100_000  # the server's per-request limit (CAUSALMOL_MAX_MOLECULES default)
MAX_REQUEST_BYTES = 32 * 1024 * 1024  # below the server's default 50 MiB body limit, with room for the envelope
RETRY_STATUSES = frozenset({429, 502, 503, 504})
FINISHED = ("succeeded", "failed")
MAX_WAIT = 30.0  # the longest ``wait`` the API accepts on POST /v1/predictions

Molecule = str | Mapping[str, Any] | Sequence[str]
ProgressCallback = Callable[[int, int], None]


def as_molecule(item: Molecule, index: int) -> dict[str, Any]:
    """``{"id", "smiles"|"molblock"}`` from a SMILES string, an (id, smiles) pair or a dict; the id defaults to
    the 0-based position in the whole input, so ids stay unique when the input is cut into several jobs."""
    if isinstance(item, str):
        return {"id": str(index), "smiles": item}
    if isinstance(item, Mapping):
        molecule = dict(item)
        molecule["id"] = str(molecule.get("id") or index)
        return molecule
    molecule_id, smiles = item
    return {"id": str(molecule_id), "smiles": smiles}


def batches(molecules: list[dict[str, Any]], max_molecules: int, max_bytes: int) -> Iterator[list[dict[str, Any]]]:
    """Consecutive slices of at most ``max_molecules`` molecules and about ``max_bytes`` of JSON each."""
    batch: list[dict[str, Any]] = []
    size = 0
    for molecule in molecules:
        cost = len(json.dumps(molecule)) + 2
        if batch and (len(batch) >= max_molecules or size + cost > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(molecule)
        size += cost
    if batch:
        yield batch


class Client:
    """One causalmol service. ``url`` defaults to ``$CAUSALMOL_URL`` or ``http://127.0.0.1:8000``, ``api_key`` to
    ``$CAUSALMOL_API_KEY`` (sent as ``Authorization: Bearer``)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        timeout: float = 60.0,
        retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        poll_interval: float = 0.2,
        max_poll_interval: float = 5.0,
        max_molecules: int = MAX_MOLECULES,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        session: requests.Session | None = None,
        api_key: str | None = None,
    ) -> None:
        self.url = (url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
        self.timeout, self.retries, self.backoff, self.max_backoff = timeout, retries, backoff, max_backoff
        self.poll_interval, self.max_poll_interval = poll_interval, max_poll_interval
        self.max_molecules, self.max_request_bytes = max_molecules, max_request_bytes
        self.session = session or requests.Session()
        api_key = api_key or os.environ.get(API_KEY_ENV)
        if api_key:  # every request of this client names its key
            self.session.headers["Authorization"] = f"Bearer {api_key}"

    # -- transport -------------------------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send one request, retried per the module's policy; an error answer raises ``CausalmolError``."""
        retrying = Retrying(
            retry=retry_if_exception(lambda exc: self._retryable(method, exc)),
            stop=stop_after_attempt(self.retries + 1),
            wait=self._wait,
            before_sleep=lambda state: logger.warning(
                "%s %s: %s; retry %d of %d", method, path, state.outcome and state.outcome.exception(),
                state.attempt_number, self.retries),
            reraise=True,
        )
        return retrying(self._send, method, path, **kwargs)

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.request(method, self.url + path, timeout=self.timeout, **kwargs)
        except requests.ConnectionError as exc:  # also a connect timeout: nothing reached the service
            raise CausalmolError(CONNECTION_ERROR, f"cannot reach {self.url}: {exc}", {"url": self.url}) from exc
        except requests.Timeout as exc:
            raise CausalmolError(TIMEOUT, f"{method} {path}: no answer within {self.timeout:g} s",
                                 {"url": self.url}) from exc
        if response.status_code >= 400:
            raise error_from_response(response)
        return response

    @staticmethod
    def _retryable(method: str, exc: BaseException) -> bool:
        if not isinstance(exc, CausalmolError):
            return False
        return (exc.status in RETRY_STATUSES or exc.code == CONNECTION_ERROR
                or (exc.code == TIMEOUT and method == "GET"))

    def _wait(self, state: RetryCallState) -> float:
        backoff = wait_exponential(multiplier=self.backoff, max=self.max_backoff)(state)
        exc = state.outcome.exception() if state.outcome else None
        return max(backoff, getattr(exc, "retry_after", None) or 0.0)

    def get_json(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None).json()

    # -- models and jobs -------------------------------------------------------------------------------------

    def models(self) -> list[dict[str, Any]]:
        """Every model with its versions (``GET /v1/models``)."""
        return self.get_json("/v1/models")["models"]

    def model(self, ref: str) -> dict[str, Any]:
        """The model card of ``name`` (its newest version) or ``name@version``."""
        return self.get_json(f"/v1/models/{ref}")

    def job(self, job_id: str) -> dict[str, Any]:
        return self.get_json(f"/v1/jobs/{job_id}")

    def results(self, job_id: str, page_size: int = 1000) -> list[dict[str, Any]]:
        """A succeeded job's results, read page by page (``GET /v1/jobs/<id>/results?limit=&cursor=``)."""
        results: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = {"limit": page_size, **({"cursor": cursor} if cursor else {})}
            page = self.get_json(f"/v1/jobs/{job_id}/results", **params)
            results += page["results"]
            if (cursor := page["next_cursor"]) is None:
                return results

    def export(self, job_id: str, file_format: str = "csv") -> str:
        """A succeeded job's results as the server renders them: ``json``, ``csv`` or ``sdf`` (the SDF is rendered
        by the featurizer; its 503 ``export_not_ready`` is retried like any 503)."""
        return self.request("GET", f"/v1/jobs/{job_id}/results", params={"format": file_format}).text

    # -- predictions -----------------------------------------------------------------------------------------

    def submit(self, model: str, molecules: list[dict[str, Any]], wait: float = 0.0,
               response: str = "full") -> dict[str, Any]:
        """POST one batch (at most the server's limit): the whole job if it finished within ``wait`` seconds,
        else ``{"job_id", "status", "status_url"}``. ``response="compact"``: results without evidence."""
        body = {"model": model, "molecules": molecules, "wait": min(max(wait, 0.0), MAX_WAIT)}
        if response != "full":
            body["response"] = response
        return self.request("POST", "/v1/predictions", json=body).json()

    def wait(self, job_id: str, timeout: float | None = None, on_progress: ProgressCallback | None = None
             ) -> dict[str, Any]:
        """Poll a job until it is finished (see ``wait_all``)."""
        return self.wait_all([job_id], timeout, on_progress)[0]

    def wait_all(self, job_ids: list[str], timeout: float | None = None, on_progress: ProgressCallback | None = None
                 ) -> list[dict[str, Any]]:
        """Poll jobs until every one has finished; the finished jobs in the same order.

        The poll interval starts at ``poll_interval`` and grows by half at each round in which no job's
        ``progress.done`` moved, up to ``max_poll_interval``; it falls back as soon as progress moves again, so a
        busy job is followed closely and a queued one is not hammered. ``on_progress(done, total)`` gets the sum
        over the jobs after every round. A job still running after ``timeout`` seconds raises ``wait_timeout``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        finished: dict[str, dict[str, Any]] = {}
        done = dict.fromkeys(job_ids, 0)
        total = dict.fromkeys(job_ids, 0)
        interval = self.poll_interval
        while True:
            moved = False
            for job_id in job_ids:
                if job_id in finished:
                    continue
                job = self.job(job_id)
                progress = job.get("progress") or {}
                moved |= progress.get("done", 0) > done[job_id]
                done[job_id], total[job_id] = progress.get("done", 0), progress.get("total", 0)
                if job["status"] in FINISHED:
                    finished[job_id] = job
            if on_progress is not None:
                on_progress(sum(done.values()), sum(total.values()))
            if len(finished) == len(job_ids):
                return [finished[job_id] for job_id in job_ids]
            if deadline is not None and time.monotonic() >= deadline:
                pending = [job_id for job_id in job_ids if job_id not in finished]
                raise CausalmolError(WAIT_TIMEOUT, f"{len(pending)} job(s) still running after {timeout:g} s",
                                     {"job_ids": pending, "done": sum(done.values()), "total": sum(total.values())})
            interval = self.poll_interval if moved else min(interval * 1.5, self.max_poll_interval)
            time.sleep(interval if deadline is None else max(0.0, min(interval, deadline - time.monotonic())))

    def predict_jobs(
        self,
        model: str,
        molecules: Iterable[Molecule],
        *,
        timeout: float | None = None,
        wait: float = 0.0,
        on_progress: ProgressCallback | None = None,
        response: str = "full",
    ) -> list[dict[str, Any]]:
        """Predict any number of molecules: one job per batch the server accepts (every batch is submitted before
        any is awaited, so the workers share them), then the finished jobs in input order.

        ``wait`` is passed to the POST when the input is one batch: ``wait=30`` often answers in one round trip.
        A job that ends ``failed`` raises ``JobFailed`` carrying its error code.
        """
        prepared = [as_molecule(item, i) for i, item in enumerate(molecules)]
        if not prepared:
            return []
        chunks = list(batches(prepared, self.max_molecules, self.max_request_bytes))
        # Waiting on a POST holds the next batch back: only a single batch waits there.
        answers = [self.submit(model, batch, wait if len(chunks) == 1 else 0.0, response) for batch in chunks]
        pending = [answer["job_id"] for answer in answers if answer.get("status") not in FINISHED]
        answered = sum(len(b) for b, answer in zip(chunks, answers, strict=True) if answer.get("status") in FINISHED)
        if pending:
            logger.debug("%d molecule(s) in %d job(s): %s", len(prepared), len(answers), ", ".join(pending))
            progress = None if on_progress is None else (
                lambda done, total: on_progress(answered + done, answered + total))
            waited = dict(zip(pending, self.wait_all(pending, timeout, progress), strict=True))
        else:
            waited = {}
            if on_progress is not None:
                on_progress(len(prepared), len(prepared))
        jobs = [waited.get(answer["job_id"], answer) for answer in answers]
        for job in jobs:
            if job["status"] == "failed":
                error = job.get("error") or {}
                raise JobFailed(error.get("code", "task_failed"), error.get("message", "the job failed"),
                                {"job_id": job["job_id"]})
            if "results" not in job and job.get("results_url"):  # a big job links to its results: read the pages
                job["results"] = self.results(job["job_id"])
        return jobs

    def predict(self, model: str, molecules: Iterable[Molecule], **kwargs: Any) -> list[dict[str, Any]]:
        """One result per molecule, in input order (``predict_jobs`` takes the same keyword arguments); a molecule
        that could not be read has ``prediction`` None and its ``error``."""
        return [result for job in self.predict_jobs(model, molecules, **kwargs) for result in job["results"]]
