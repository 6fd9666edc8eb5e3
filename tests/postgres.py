"""A throwaway PostgreSQL server for the tests: ``initdb`` in a temporary directory, ``postgres`` on a free port.

Like the Redis the tests start, it never touches a system server. PostgreSQL refuses to run as root, so as root
the server runs as the ``postgres`` user (Debian's package creates it), else as ``nobody``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEBIAN_BIN = Path("/usr/lib/postgresql")


def find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(DEBIAN_BIN.glob(f"*/bin/{name}"), reverse=True)  # the newest major version first
    return str(candidates[0]) if candidates else None


def _run_as() -> tuple[list[str], int | None, int | None]:
    if os.geteuid() != 0:
        return [], None, None
    for name in ("postgres", "nobody"):
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            continue
        return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"], user.pw_uid, \
            user.pw_gid
    raise RuntimeError("running as root with neither a 'postgres' nor a 'nobody' user to run PostgreSQL as")


@contextmanager
def postgres_server(port: int) -> Iterator[str]:
    """Yield the SQLAlchemy URL of a fresh server; it is stopped and its files removed afterwards."""
    import psycopg

    from tests.conftest import stop_process, wait_until  # here: conftest imports this module in a fixture

    initdb, postgres = find_binary("initdb"), find_binary("postgres")
    if initdb is None or postgres is None:
        raise RuntimeError("PostgreSQL is not installed: run `make test` (it installs Debian's postgresql package)")
    prefix, uid, gid = _run_as()
    root = Path(tempfile.mkdtemp(prefix="causalmol-pg-"))  # not under pytest's 0700 root-owned tmp: pg must enter it
    if uid is not None:
        os.chown(root, uid, gid)
    data = root / "data"
    subprocess.run([*prefix, initdb, "-D", str(data), "-U", "causalmol", "-A", "trust", "-E", "UTF8", "--no-sync"],
                   check=True, capture_output=True)
    log = (root / "postgres.log").open("w")
    proc = subprocess.Popen(
        [*prefix, postgres, "-D", str(data), "-p", str(port), "-h", "127.0.0.1", "-k", str(root),
         "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    dsn = f"host=127.0.0.1 port={port} user=causalmol dbname=postgres"
    try:
        wait_until(lambda: psycopg.connect(dsn, connect_timeout=2).close() is None, 30, "postgres")
        yield f"postgresql+psycopg://causalmol@127.0.0.1:{port}/postgres"
    finally:
        stop_process(proc, 20)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def create_database(url: str, name: str) -> str:
    """A new empty database on the same server (a migration test starts from nothing)."""
    import psycopg

    server = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + f"/{name}"
