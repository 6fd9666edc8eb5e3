"""HTML pages a chemist opens: a model card, a job's results, one result's depiction. Server-side rendered (Jinja
templates in this package, matplotlib plots as data URIs); no CDN, no JavaScript."""

from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint, Response, render_template, request, url_for
from marshmallow import EXCLUDE, Schema, fields, validate

from services.gateway import pages_service, session
from services.gateway.context import gateway_context
from shared.depiction import HEIGHT, STATUS_COLOURS, WIDTH

bp = Blueprint("pages", __name__, url_prefix="/v1", template_folder="templates")
MAX_PAGE_ROWS = 50  # molecules per results page: each is drawn by the featurizer on first view


class ResultsPageQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE  # a browser's or a proxy's extra query parameters are not an error

    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE_ROWS))


_page_query = ResultsPageQuerySchema()


def html(body: str) -> Response:
    return Response(body, mimetype="text/html")


def svg_uri(svg: str | None) -> str | None:
    return None if svg is None else "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def favicon() -> Response:
    return Response(status=204)  # a browser asks for one with every page (an SVG opened alone too): not a 404


bp.record_once(lambda state: state.app.add_url_rule("/favicon.ico", "favicon", favicon))
# The browser sign-in that lets a chemist open these pages without a header comes with them.
bp.record_once(lambda state: state.app.register_blueprint(session.bp))


@bp.get("/models/<ref>/card")
def model_card_page(ref: str) -> Response:
    page = pages_service.card_page(gateway_context().model_store, ref)
    return html(render_template("card.html", colours=STATUS_COLOURS, **page))


@bp.get("/jobs/<job_id>/page")
def results_page(job_id: str) -> Response:
    query = _page_query.load(request.args)
    store = gateway_context().job_store
    job = pages_service.finished_prediction(store, job_id)
    start, stop = query["offset"], query["offset"] + query["limit"]
    shown = dict(enumerate(job["results"][start:stop], start=start))
    drawn = pages_service.depictions(store, job_id, shown)
    rows: list[dict[str, Any]] = [
        {"index": i, "result": r, "image": svg_uri(drawn.get(i)),
         "depiction_url": url_for("pages.depiction", job_id=job_id, ref=str(i))} for i, r in shown.items()]
    total = len(job["results"])
    links = {"previous": url_for("pages.results_page", job_id=job_id, offset=max(start - query["limit"], 0),
                                 limit=query["limit"]) if start > 0 else None,
             "next": url_for("pages.results_page", job_id=job_id, offset=stop, limit=query["limit"])
             if stop < total else None}
    return html(render_template("results.html", job=job, rows=rows, total=total, start=start, links=links,
                                colours=STATUS_COLOURS, width=WIDTH, height=HEIGHT))


@bp.get("/jobs/<job_id>/results/<ref>/depiction.svg")
def depiction(job_id: str, ref: str) -> Response:
    svg = pages_service.depiction(gateway_context().job_store, job_id, ref)
    return Response(svg, mimetype="image/svg+xml")
