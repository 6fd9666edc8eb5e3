"""``causalmol keys``: the parser of services/cli.py and the commands of services/accounts/cli.py, on a real SQLite
database under a temporary home."""

from __future__ import annotations

import json

import pytest

from services.accounts.keys import authenticate
from services.cli import build_parser


@pytest.fixture
def keys(settings_env, tmp_path, capsys):
    settings_env(CAUSALMOL_HOME=str(tmp_path))

    def run(*argv: str) -> tuple[int, str, str]:
        args = build_parser().parse_args(["keys", *argv])
        status = args.run(args)
        out, err = capsys.readouterr()
        return status, out, err

    return run


def test_create_list_and_revoke(keys):
    status, out, err = keys("create", "--project", "lab-a", "--scopes", "predict,train", "--name", "ELN",
                            "--rate-limit", "10/minute")
    token = out.strip()
    assert status == 0 and token.startswith("cm_") and "shown this once" in err
    principal = authenticate(token)
    assert (principal.project, principal.scopes, principal.rate_limit) == ("lab-a", {"predict", "train"}, "10/minute")
    status, out, _ = keys("list", "--json")
    [listed] = json.loads(out)
    assert listed["prefix"] == "_".join(token.split("_")[:2]) and token not in out
    assert keys("revoke", listed["prefix"], "--reason", "rotated")[0] == 0
    assert authenticate(token) is None
    assert "revoked" in keys("list")[1]
    assert keys("revoke", "key_nope")[0] == 1


def test_bad_fields_are_refused_with_exit_status_2(keys):
    status, _, err = keys("create", "--project", "Lab A", "--scopes", "predict,root")
    assert status == 2 and "project" in err and "scopes" in err


def test_the_development_key_is_made_once_and_printed_again(keys, tmp_path):
    first = keys("dev")[1].strip()
    assert keys("dev")[1].strip() == first
    assert (tmp_path / "dev-api-key").stat().st_mode & 0o777 == 0o600
    assert authenticate(first).scopes == {"admin"}


def test_a_webhook_secret_is_printed_once_on_rotate_listed_without_it_and_removed(keys):
    from services.accounts.webhook_secrets import project_secret

    status, out, err = keys("webhook-secret", "rotate", "--project", "lab-a")
    secret = out.strip()
    assert status == 0 and secret.startswith("whsec_") and "created" in err and "shown this once" in err
    assert project_secret("lab-a") == secret
    status, out, err = keys("webhook-secret", "rotate", "--project", "lab-a", "--json")
    rotated = json.loads(out)
    assert status == 0 and rotated["replaced"] is True and rotated["secret"] != secret
    assert project_secret("lab-a") == rotated["secret"]
    status, out, _ = keys("webhook-secret", "list", "--json")
    assert status == 0 and [s["project"] for s in json.loads(out)] == ["lab-a"]
    assert rotated["secret"] not in out and rotated["secret"] not in keys("webhook-secret", "list")[1]
    assert keys("webhook-secret", "remove", "--project", "lab-a")[0] == 0
    assert project_secret("lab-a") is None
    assert keys("webhook-secret", "remove", "--project", "lab-a")[0] == 1
    assert keys("webhook-secret", "rotate", "--project", "Lab A")[0] == 2
