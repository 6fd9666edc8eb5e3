"""services/accounts/keys.authenticate on a real SQLite database: a key revoked by another process stops working in
this one at once (the lookup reads the database on every call; a cache would have to keep that true)."""

from __future__ import annotations

import subprocess
import sys

from services.accounts.keys import authenticate, create_key
from tests.conftest import REPO

REVOKE = "import sys; from services.accounts.keys import revoke_key; revoke_key(sys.argv[1], database_url=sys.argv[2])"


def test_a_key_revoked_in_another_process_is_refused_by_the_next_lookup(tmp_path):
    url = f"sqlite:///{tmp_path / 'causalmol.db'}"
    token, key = create_key("lab-a", ["predict"], rate_limit="5/second", database_url=url)
    other, _ = create_key("lab-b", ["admin"], database_url=url)
    for _ in range(3):  # looked up again and again, as requests do
        principal = authenticate(token, url)
        assert (principal.key_id, principal.project, principal.scopes, principal.rate_limit) == (
            key["id"], "lab-a", {"predict"}, "5/second")
    subprocess.run([sys.executable, "-c", REVOKE, key["prefix"], url], cwd=REPO, check=True, timeout=60)
    assert authenticate(token, url) is None
    assert authenticate(other, url).project == "lab-b"  # only that key
    assert authenticate(token[:-1] + ("A" if token[-1] != "A" else "B"), url) is None  # one character off
    assert authenticate("not-a-token", url) is None
