"""``causalmol keys create|list|revoke|dev`` and ``causalmol keys webhook-secret rotate|list|remove``: manage API
keys and projects' webhook secrets on the server, straight in the service database."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from shared.errors import InvalidRequest

logger = logging.getLogger(__name__)

DEV_PROJECT = "local"
DEV_KEY_FILE = "dev-api-key"  # under CAUSALMOL_HOME: embedded `make run` prints the same key every time


def _refused(command: str, exc: InvalidRequest) -> int:
    print(f"causalmol keys {command}: {exc.message}: {exc.details.get('fields')}", file=sys.stderr)
    return 2


def _show_once(args: argparse.Namespace, field: str, secret: str, described: dict[str, Any], note: str) -> int:
    """A new secret: on stdout alone (or in the JSON description with ``--json``), the note on stderr."""
    if args.json:
        print(json.dumps({**described, field: secret}))
    else:
        print(secret)
        print(note, file=sys.stderr)
    return 0


def run_create(args: argparse.Namespace) -> int:
    from services.accounts.keys import create_key

    try:
        token, key = create_key(args.project, args.scopes.replace(",", " ").split(), args.name, args.rate_limit)
    except InvalidRequest as exc:
        return _refused("create", exc)
    return _show_once(args, "token", token, key, f"key {key['id']} ({key['prefix']}) in project {key['project']} "
                      f"with {' '.join(key['scopes'])}; the token is shown this once")


def run_list(args: argparse.Namespace) -> int:
    from services.accounts.keys import list_keys

    keys = list_keys(args.project)
    if args.json:
        print(json.dumps(keys, indent=2))
        return 0
    for key in keys:
        state = f"revoked {key['revoked_at']}" if key["revoked_at"] else "active"
        print(f"{key['id']}  {key['prefix']}  {key['project']:<20} {' '.join(key['scopes']):<20} "
              f"{key['rate_limit'] or '-':<12} {state}  {key['name']}")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    from services.accounts.keys import revoke_key

    key = revoke_key(args.key, args.reason)
    if key is None:
        print(f"causalmol keys revoke: no key {args.key}", file=sys.stderr)
        return 1
    print(f"key {key['id']} ({key['prefix']}) revoked {key['revoked_at']}")
    return 0


def run_dev(_args: argparse.Namespace) -> int:
    """Print the local development key (an ``admin`` key of project ``local``), creating it the first time."""
    from services.accounts.keys import authenticate, create_key
    from shared.config import get_settings

    path = Path(get_settings().home) / DEV_KEY_FILE
    token = path.read_text().strip() if path.is_file() else ""
    if not token or authenticate(token) is None:
        token, key = create_key(DEV_PROJECT, ["admin"], "local development key (make run)")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(token + "\n")
        os.chmod(path, 0o600)
        logger.info("created the local development key %s in %s", key["id"], path)
    print(token)
    return 0


def run_secret_rotate(args: argparse.Namespace) -> int:
    from services.accounts.webhook_secrets import rotate_secret

    try:
        secret, described = rotate_secret(args.project)
    except InvalidRequest as exc:
        return _refused("webhook-secret rotate", exc)
    return _show_once(args, "secret", secret, described, f"webhook secret of project {args.project} "
                      f"{'rotated' if described['replaced'] else 'created'}; it is shown this once and signs the "
                      "project's next callbacks")


def run_secret_list(args: argparse.Namespace) -> int:
    from services.accounts.webhook_secrets import list_secrets

    listed = [s for s in list_secrets() if args.project in (None, s["project"])]
    if args.json:
        print(json.dumps(listed, indent=2))
        return 0
    for entry in listed:
        print(f"{entry['project']:<32} since {entry['created_at']}")
    return 0


def run_secret_remove(args: argparse.Namespace) -> int:
    from services.accounts.webhook_secrets import remove_secret

    if not remove_secret(args.project):
        print(f"causalmol keys webhook-secret remove: project {args.project} has no secret of its own",
              file=sys.stderr)
        return 1
    print(f"webhook secret of project {args.project} removed; its callbacks fall back to CAUSALMOL_WEBHOOK_SECRET "
          "(refused while that is unset)")
    return 0


def add_secret_commands(keys: argparse._SubParsersAction) -> None:
    parser = keys.add_parser("webhook-secret", help="a project's own webhook signing secret")
    sub = parser.add_subparsers(dest="webhook_secret", required=True)
    rotate = sub.add_parser("rotate", help="make or replace the project's secret; prints it once")
    rotate.add_argument("--project", required=True)
    rotate.add_argument("--json", action="store_true", help="print the secret and its description as JSON")
    rotate.set_defaults(run=run_secret_rotate)
    listing = sub.add_parser("list", help="the projects that have a secret (never the secrets)")
    listing.add_argument("--project", default=None)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=run_secret_list)
    remove = sub.add_parser("remove", help="forget the project's secret (back to CAUSALMOL_WEBHOOK_SECRET)")
    remove.add_argument("--project", required=True)
    remove.set_defaults(run=run_secret_remove)


def add_commands(commands: argparse._SubParsersAction) -> None:
    keys = commands.add_parser("keys", help="manage API keys and webhook secrets (on the server: writes the service "
                                            "database)")
    sub = keys.add_subparsers(dest="keys", required=True)
    create = sub.add_parser("create", help="create a key; prints its token once")
    create.add_argument("--project", required=True, help="the project the key works in")
    create.add_argument("--scopes", default="predict", help="comma-separated: predict, train, admin")
    create.add_argument("--name", default="", help="a label (who or what uses the key)")
    create.add_argument("--rate-limit", default=None, help="its own rate, e.g. 100/minute (default: the service's)")
    create.add_argument("--json", action="store_true", help="print the key and its token as JSON")
    create.set_defaults(run=run_create)
    listing = sub.add_parser("list", help="list keys (never their tokens)")
    listing.add_argument("--project", default=None)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=run_list)
    revoke = sub.add_parser("revoke", help="revoke a key by id or prefix")
    revoke.add_argument("key")
    revoke.add_argument("--reason", default="")
    revoke.set_defaults(run=run_revoke)
    dev = sub.add_parser("dev", help="print the local development key, creating it if needed (make run)")
    dev.set_defaults(run=run_dev)
    add_secret_commands(sub)
