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


class PostgresServer:
    """A server on its own data directory that a test can stop and start again (the data stays)."""

    def __init__(self, port: int) -> None:
        initdb, self.binary = find_binary("initdb"), find_binary("postgres")
        if initdb is None or self.binary is None:
            raise RuntimeError("PostgreSQL is not installed: run `make test` (it installs Debian's postgresql package)")
        self.port = port
        self.prefix, uid, gid = _run_as()
        self.root = Path(tempfile.mkdtemp(prefix="causalmol-pg-"))  # not under pytest's 0700 root-owned tmp
        if uid is not None:
            os.chown(self.root, uid, gid)
        self.data = self.root / "data"
        subprocess.run([*self.prefix, initdb, "-D", str(self.data), "-U", "causalmol", "-A", "trust", "-E", "UTF8",
                        "--no-sync"], check=True, capture_output=True)
        self.proc: subprocess.Popen | None = None
        self.url = f"postgresql+psycopg://causalmol@127.0.0.1:{port}/postgres"

    def start(self) -> None:
        import psycopg

        from tests.conftest import wait_until  # here: conftest imports this module in a fixture

        with (self.root / "postgres.log").open("a") as log:
            self.proc = subprocess.Popen(
                [*self.prefix, self.binary, "-D", str(self.data), "-p", str(self.port), "-h", "127.0.0.1",
                 "-k", str(self.root), "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off"],
                stdout=log, stderr=subprocess.STDOUT,
            )
        dsn = f"host=127.0.0.1 port={self.port} user=causalmol dbname=postgres"
        wait_until(lambda: psycopg.connect(dsn, connect_timeout=2).close() is None, 30, "postgres")

    def stop(self) -> None:
        from tests.conftest import stop_process

        if self.proc is not None:
            stop_process(self.proc, 20)
            self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def postgres_server(port: int) -> Iterator[str]:
    """Yield the SQLAlchemy URL of a fresh server; it is stopped and its files removed afterwards."""
    server = PostgresServer(port)
    try:
        server.start()
        yield server.url
    finally:
        server.remove()


def create_database(url: str, name: str) -> str:
    """A new empty database on the same server (a migration test starts from nothing)."""
    import psycopg

    server = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + f"/{name}"
