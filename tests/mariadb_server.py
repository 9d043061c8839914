"""A private mariadbd for tests and benchmarks: performance_schema with the metadata-lock
instrument, ROW binary logging (what gh-ost needs, and the shared server lacks), on 127.0.0.1,
in a directory the caller owns, stopped when the block ends."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url


class MariadbUnavailable(Exception):
    """mariadbd is not installed, or did not start."""


@contextlib.contextmanager
def private_mariadbd(base: Path) -> Iterator[URL]:
    install, server = shutil.which("mariadb-install-db"), shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    if install is None or not os.path.exists(server):
        raise MariadbUnavailable("mariadb-install-db/mariadbd are not installed (apt-get install mariadb-server)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subprocess.run(
        [
            install,
            "--no-defaults",
            f"--datadir={base / 'data'}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--user=root",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    proc = subprocess.Popen(
        [
            server,
            "--no-defaults",
            f"--datadir={base / 'data'}",
            f"--socket={base / 's.sock'}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            f"--pid-file={base / 'm.pid'}",
            "--user=root",
            "--performance-schema=ON",
            # gh-ost (v1.1.8+) checks metadata locks at the cut-over through this instrument;
            # without it, it must be told --skip-metadata-lock-check, which can lose a write.
            "--performance-schema-instrument=wait/lock/metadata/sql/mdl=ON",
            f"--log-bin={base / 'binlog'}",
            "--binlog-format=ROW",
            "--binlog-row-image=FULL",
            "--server-id=7",
            "--skip-name-resolve",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = make_url(f"mysql+pymysql://root@127.0.0.1:{port}/mysql")
    deadline = time.monotonic() + 60
    while True:
        try:
            probe_engine = create_engine(url)
            with probe_engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            probe_engine.dispose()
            break
        except Exception as error:  # noqa: BLE001 - still starting
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise MariadbUnavailable(f"the private mariadbd did not start ({error})") from None
            time.sleep(0.2)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=60)
