"""shared/verdicts.py: the rules are written once, and the README shows exactly these words."""

from __future__ import annotations

from services.causal.effects import STATUSES
from shared import schemas, verdicts
from shared.verdicts import verdict_rules
from tests.conftest import REPO


def test_the_readme_prints_the_rule_tables_verbatim():
    assert verdicts.markdown_tables() in (REPO / "README.md").read_text()


def test_engine_schemas_and_rules_name_the_same_statuses():
    assert STATUSES is verdicts.EFFECT_STATUSES
    assert set(schemas.EFFECT_STATUSES) == set(verdicts.EFFECT_STATUSES)
    assert set(schemas.VERDICTS) == set(verdicts.VERDICTS) == set(verdict_rules()["verdicts"])
    assert verdict_rules()["reliance"] == verdicts.RELIANCE
