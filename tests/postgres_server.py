"""A private PostgreSQL for tests: pg_stat_statements preloaded (the shared server does not load
it), on 127.0.0.1 and a socket in a directory the caller owns, stopped when the block ends.
PostgreSQL refuses to run as root, so when the tests do, the cluster belongs to `postgres`."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import URL, make_url


class PostgresUnavailable(Exception):
    """initdb/pg_ctl are not installed, or the server did not start."""


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise PostgresUnavailable(f"{name} is not installed (apt-get install postgresql)")
    return found[-1]


@contextlib.contextmanager
def private_postgres(base: Path) -> Iterator[URL]:
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable("running as root and there is no postgres user to own the cluster") from None
        os.chown(base, owner.pw_uid, owner.pw_gid)  # our own temporary directory
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = base / "data"
    done = subprocess.run(
        [*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "postgres"], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise PostgresUnavailable(f"initdb failed: {done.stderr.strip()[-300:]}")
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_stat_statements"
    started = subprocess.run(
        [*as_user, pg_ctl, "-D", str(data), "-l", str(base / "log"), "-w", "-t", "60", "-o", options, "start"],
        capture_output=True,
        text=True,
    )
    if started.returncode != 0:
        raise PostgresUnavailable(f"the server did not start: {started.stderr.strip()[-300:]}")
    try:
        yield make_url(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres")
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
