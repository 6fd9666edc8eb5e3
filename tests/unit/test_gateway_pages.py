"""services/gateway/pages_service.py and pages.py on their own: naming a result, what the card plots are made of,
the page's query bounds (the pages themselves are opened in headless Chromium by the integration tests)."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from services.gateway.pages import MAX_PAGE_ROWS, ResultsPageQuerySchema
from services.gateway.pages_service import (
    MAX_FOREST_ROWS,
    ResultNotFound,
    _conditions,
    _forest_rows,
    _mechanisms,
    _verdicts,
    result_index,
)
from shared.verdicts import verdict_rules


def test_a_result_is_named_by_its_id_or_else_by_its_index() -> None:
    results = [{"id": "2"}, {"id": "aspirin"}, {"id": "0"}]
    assert result_index(results, "aspirin") == 1
    assert result_index(results, "2") == 0  # an id wins over the index it also reads as
    assert result_index(results, "1") == 1
    for missing in ("3", "ibuprofen", "-1"):
        with pytest.raises(ResultNotFound):
            result_index(results, missing)


def test_the_forest_shows_the_most_precise_adjusted_effects() -> None:
    effects = [{"smarts": f"S{i}", "status": "null", "adjusted_effect": {"value": 0.0, "ci": [-w, w]}}
               for i, w in enumerate([0.5, 0.1, 2.0] + [1.0] * MAX_FOREST_ROWS)]
    effects.append({"smarts": "none", "status": "untestable", "adjusted_effect": {"value": None, "ci": None}})
    rows = _forest_rows({"effects": effects})
    assert len(rows) == MAX_FOREST_ROWS and [r["smarts"] for r in rows[:2]] == ["S1", "S0"]
    assert "S2" not in {r["smarts"] for r in rows} and "none" not in {r["smarts"] for r in rows}


def test_conditions_and_mechanisms_come_from_the_profile() -> None:
    profile = {"uncertainty": {"mae_out_of_fold": 0.77, "mae_confident": 0.61},
               "coverage": {"mae_out_of_fold": 0.77, "mae_well_covered": 0.52},
               "effects": [{"smarts": "c1ccccc1", "name": "benzene"}],
               "mechanisms": {"items": [{"id": "M1", "label": "M1", "size": 10, "focus": 1.0, "mean_pactivity": 6.0,
                                         "chemotypes": {"enriched_treatments": [{"smarts": "c1ccccc1", "share": 0.5,
                                                                                  "lift": 1.2}],
                                                        "scaffolds": [{"smiles": "c1ccccc1", "n": 3}]}}]}}
    assert [name for name, _ in _conditions(profile)][0] == "all (out of fold)"
    assert [value for _, value in _conditions(profile)] == [0.77, 0.61, 0.52]
    assert _conditions({}) == []
    mechanism = _mechanisms(profile)[0]
    assert mechanism["treatments"][0]["name"] == "benzene" and mechanism["scaffolds"] == [{"smiles": "c1ccccc1",
                                                                                           "n": 3}]


HELD_OUT = {"status": "ready", "n": 6, "mae": 0.6, "method": "held out", "spread_held_out": True,
            "per_verdict": {"unknown": {"n": 1, "mae": 0.0, "rmse": 0.0}, "caution": {"n": 3, "mae": 1.0, "rmse": 1.29},
                            "supported": {"n": 2, "mae": 0.3, "rmse": 0.36}}}


def test_the_verdict_plot_reads_the_held_out_verdicts_in_verdict_order() -> None:
    verdicts = _verdicts({"held_out_verdicts": HELD_OUT})
    assert [(v["verdict"], v["n"], v["mae"]) for v in verdicts["rows"]] == [
        ("supported", 2, 0.3), ("caution", 3, 1.0), ("unknown", 1, 0.0)]
    assert (verdicts["n"], verdicts["mae"], verdicts["method"]) == (6, 0.6, "held out")
    assert _verdicts({}) is None  # a profile built before held-out verdicts were stored
    assert _verdicts({"held_out_verdicts": {"status": "failed", "error": "x"}}) is None


def test_held_out_verdicts_judged_by_an_earlier_rule_are_marked_so() -> None:
    """They were judged in the build that stored the profile's rules.verdict: that is the rule to compare."""
    current = {"held_out_verdicts": HELD_OUT, "rules": {"verdict": verdict_rules()}}
    assert _verdicts(current)["current_rule"] is True
    older = {**verdict_rules(), "min_consistent_share": 0.5}
    assert _verdicts({**current, "rules": {"verdict": older}})["current_rule"] is False
    assert _verdicts({"held_out_verdicts": HELD_OUT})["current_rule"] is False  # no rules stored: cannot say


def test_the_verdict_plot_draws_one_bar_per_verdict_at_its_mae() -> None:
    import base64
    import re

    from services.gateway import plots

    uri = plots.error_by_verdict(_verdicts({"held_out_verdicts": HELD_OUT})["rows"], 0.6)
    assert uri.startswith("data:image/svg+xml;base64,")
    svg = base64.b64decode(uri.split(",", 1)[1]).decode()
    assert all(label in svg for label in ("supported", "n=2", "caution", "n=3", "unknown", "n=1", "all held out 0.60"))
    # The bars are the patches filled with the verdict colours; their heights keep the MAE ratios (0.3 : 1.0 : 0).
    heights = {}
    for colour in ("#2ca02c", "#b8860b", "#7f7f7f"):
        path = re.search(r'<path d="([^"]+)"[^>]*style="fill: ' + colour, svg)
        ys = [float(y) for y in re.findall(r"[ML] [\d.]+ ([\d.]+)", path[1])] if path else [0.0]
        heights[colour] = max(ys) - min(ys)
    assert heights["#7f7f7f"] == pytest.approx(0.0, abs=0.01)
    assert heights["#2ca02c"] / heights["#b8860b"] == pytest.approx(0.3, abs=0.01)


def test_the_results_page_query_is_bounded() -> None:
    schema = ResultsPageQuerySchema()
    assert schema.load({}) == {"offset": 0, "limit": 20}
    assert schema.load({"offset": "40", "limit": str(MAX_PAGE_ROWS), "utm": "x"}) == {"offset": 40,
                                                                                       "limit": MAX_PAGE_ROWS}
    for bad in ({"limit": str(MAX_PAGE_ROWS + 1)}, {"limit": "0"}, {"offset": "-1"}, {"offset": "x"}):
        with pytest.raises(ValidationError):
            schema.load(bad)
