"""services/accounts/webhook_secrets.py and its secret_for on a real SQLite database: a project's own
secret is made, rotated, listed (never shown) and removed, every change audited, and signing prefers it."""

from __future__ import annotations

import pytest

from services.accounts.webhook_secrets import (
    SECRET_PREFIX,
    list_secrets,
    project_secret,
    remove_secret,
    rotate_secret,
    secret_for,
)
from services.audit.records import query
from shared.config import Settings
from shared.errors import InvalidRequest
from shared.job_control import NO_PROJECT


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'causalmol.db'}"


def test_a_secret_is_created_rotated_and_removed_and_each_change_is_audited(url):
    first, created = rotate_secret("lab-a", url)
    assert first.startswith(SECRET_PREFIX) and len(first) > len(SECRET_PREFIX) + 40
    assert (created["project"], created["replaced"]) == ("lab-a", False)
    assert project_secret("lab-a", url) == first
    second, rotated = rotate_secret("lab-a", url)
    assert rotated["replaced"] is True and second != first
    assert project_secret("lab-a", url) == second
    assert project_secret("lab-b", url) is None
    assert remove_secret("lab-a", url) is True
    assert project_secret("lab-a", url) is None
    assert remove_secret("lab-a", url) is False  # nothing left to remove: no record either
    records = query(project="lab-a", action="webhook_secret.", database_url=url)["records"]
    assert [r["action"] for r in records] == ["webhook_secret.created", "webhook_secret.rotated",
                                              "webhook_secret.removed"]
    assert not any(s in repr(records) for s in (first, second))  # the trail never holds a secret


def test_the_list_names_projects_and_never_their_secrets(url):
    secret_b, _ = rotate_secret("lab-b", url)
    secret_a, _ = rotate_secret("lab-a", url)
    listed = list_secrets(url)
    assert [entry["project"] for entry in listed] == ["lab-a", "lab-b"]
    assert all(entry["created_at"].endswith("Z") for entry in listed)
    assert secret_a not in repr(listed) and secret_b not in repr(listed)


@pytest.mark.parametrize("project", ["Lab A", "", "x" * 65, "../etc"])
def test_a_bad_project_is_refused(url, project):
    with pytest.raises(InvalidRequest) as refused:
        rotate_secret(project, url)
    assert "project" in refused.value.details["fields"]
    assert list_secrets(url) == []


def test_signing_uses_the_projects_own_secret_else_the_fallback_else_none(url):
    own, _ = rotate_secret("lab-a", url)
    with_fallback = Settings(webhook_secret="global", database_url=url)
    without = Settings(webhook_secret=None, database_url=url)
    assert secret_for(with_fallback, "lab-a") == own
    assert secret_for(without, "lab-a") == own
    assert secret_for(with_fallback, "lab-b") == "global"
    assert secret_for(with_fallback, None) == secret_for(with_fallback, NO_PROJECT) == "global"
    assert secret_for(without, "lab-b") is None
    remove_secret("lab-a", url)
    assert secret_for(with_fallback, "lab-a") == "global"
