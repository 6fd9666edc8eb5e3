"""README.md's error table lists every error code the gateway can answer (the "Done when" of issue 11).

The codes come from the code itself: every ``CausalmolError`` subclass the gateway can raise, werkzeug's HTTP codes
(``HTTP_CODES`` and its fallback), and the literal codes of the answers built by hand (``error_response`` and the
sign-in form's ``_error``), read from the gateway's source so a new one cannot be left out.
"""

from __future__ import annotations

import re
from pathlib import Path

import services.gateway.pages_service
import services.gateway.registry_service
import services.gateway.service  # noqa: F401  (with the two above: every error class the gateway defines)
from services.gateway.errors import HTTP_CODES
from shared.errors import CausalmolError

REPO = Path(__file__).resolve().parents[2]
LITERAL = re.compile(r"(?:error_response|_error)\(\s*[\w.]+,\s*(?:HTTP_CODES\.get\([^)]*\"([a-z_]+)\"\)|\"([a-z_]+)\")")


def subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    return found.union(*(subclasses(c) for c in found)) if found else found


def gateway_codes() -> set[str]:
    codes = {c.code for c in subclasses(CausalmolError) if not c.__module__.startswith("services.client")}
    codes |= {CausalmolError.code, *HTTP_CODES.values()}
    for source in (REPO / "services" / "gateway").glob("*.py"):
        for fallback, literal in LITERAL.findall(source.read_text()):
            codes.add(fallback or literal)
    return codes


def readme_table_codes() -> set[str]:
    text = (REPO / "README.md").read_text()
    table = text[text.index("### Errors"):text.index("## What the verdict means")]
    rows = [line.split("|")[2] for line in table.splitlines() if line.startswith("| ")]
    return set(re.findall(r"`([a-z_]+)`", "".join(rows)))


def test_every_code_the_gateway_answers_is_in_the_readme_error_table() -> None:
    codes = gateway_codes()
    assert {"validation_error", "sign_in_disabled", "not_ready", "http_error", "job_not_finished"} <= codes
    assert sorted(codes - readme_table_codes()) == []
