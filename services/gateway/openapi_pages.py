"""The OpenAPI part of the chemist's pages (``services/gateway/pages.py``): HTML and SVG answers, errors as JSON,
and the browser sign-in they redirect to. ``services/gateway/openapi.py`` calls ``add_pages`` on its paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.gateway.openapi_session import BACK_TO_FORM, add_session
from services.gateway.pages import MAX_PAGE_ROWS
from shared.depiction import MAX_ATOMS

JsonAnswer = Callable[[str, str], dict[str, Any]]
HTML = {"description": "An HTML page (server-rendered, no scripts)", "content": {"text/html": {"schema": {
    "type": "string"}}}}
SVG = {"description": "The structure, relied-on substructures highlighted by causal status",
       "content": {"image/svg+xml": {"schema": {"type": "string"}}}}


def _path(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]


def add_pages(paths: dict[str, dict[str, Any]], json_answer: JsonAnswer) -> None:
    def error(text: str) -> dict[str, Any]:
        return json_answer("Error", text)

    paths["/v1/models/{ref}/card"] = {"get": {
        "operationId": "model_card_page",
        "summary": "The model card as a page: data and split, held-out parity, error against similarity, interval "
                   "coverage per similarity bin, error where the verdict's conditions hold, mechanisms with their "
                   "chemotypes, a forest plot of naive and adjusted substructure effects",
        "parameters": _path("ref"),
        "responses": {"200": HTML, "400": error("validation_error: a malformed model reference"),
                      "404": error("model_not_found"), "410": error("model_retired")}}}
    paths["/v1/jobs/{job_id}/page"] = {"get": {
        "operationId": "results_page",
        "summary": "A succeeded prediction job's results as a page: each molecule's depiction, prediction with its "
                   "interval, verdict and reasons, and its nearest training molecules",
        "parameters": [*_path("job_id"),
                       {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
                       {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                   "maximum": MAX_PAGE_ROWS, "default": 20}}],
        "responses": {"200": HTML, "400": error("validation_error: offset or limit out of range"),
                      "404": error("job_not_found"), "409": error("job_not_finished")}}}
    paths["/v1/jobs/{job_id}/results/{ref}/depiction.svg"] = {"get": {
        "operationId": "depiction",
        "summary": "One result's structure as SVG, drawn by the featurizer and kept with the job; ref is the "
                   "molecule's id, or else its 0-based index",
        "parameters": _path("job_id", "ref"),
        "responses": {"200": SVG, "404": error("job_not_found or result_not_found"),
                      "409": error("job_not_finished"),
                      "422": error(f"no_structure: the molecule failed; structure_too_large: over {MAX_ATOMS} "
                                   "heavy atoms"),
                      "503": error("depiction_not_ready: still being drawn, ask again")}}}
    # A browser without a key or a valid sign-in cookie is sent to the form (303), which brings it back.
    for path in ("/v1/models/{ref}/card", "/v1/jobs/{job_id}/page", "/v1/jobs/{job_id}/results/{ref}/depiction.svg"):
        paths[path]["get"]["responses"]["303"] = BACK_TO_FORM
        paths[path]["get"]["description"] = ("Also takes the cookie of a browser sign-in (/v1/session); without "
                                             "credentials a browser is redirected there.")
    add_session(paths)
    paths["/favicon.ico"] = {"get": {"operationId": "favicon", "summary": "No icon: browsers ask for one",
                                     "responses": {"204": {"description": "nothing"}}}}
