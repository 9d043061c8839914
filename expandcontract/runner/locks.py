"""One ec run per database and environment at a time: a database advisory lock
(``pg_advisory_lock`` / ``GET_LOCK``), or a lock file next to a SQLite database."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from expandcontract.db import backend, connect
from expandcontract.errors import ConcurrentRunError


def lock_name(environment: str) -> str:
    return f"expandcontract:{environment}"[:64]


def _pg_key(name: str) -> int:
    # pg advisory locks take a signed 64-bit key.
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def migration_lock(engine: Any, environment: str, timeout: float) -> Iterator[None]:
    """Hold the lock for the block; raise ConcurrentRunError after ``timeout`` seconds."""
    from sqlalchemy import text

    name = lock_name(environment)
    kind = backend(engine)
    if kind == "sqlite":
        with _file_lock(engine, name, timeout):
            yield
        return
    # Autocommit: a waiter must hold no snapshot, or the holder's CREATE INDEX CONCURRENTLY
    # would wait for the waiter while the waiter waits for the holder.
    conn = connect(engine).execution_options(isolation_level="AUTOCOMMIT")
    try:
        if kind == "postgresql":
            key = _pg_key(name)
            deadline = time.monotonic() + timeout
            while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                if time.monotonic() >= deadline:
                    raise ConcurrentRunError(environment, timeout)
                time.sleep(0.2)
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        else:
            got = conn.execute(text("SELECT GET_LOCK(:n, :t)"), {"n": name, "t": int(max(timeout, 0))}).scalar()
            if got != 1:
                raise ConcurrentRunError(environment, timeout)
            try:
                yield
            finally:
                conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": name})
    finally:
        conn.close()


@contextlib.contextmanager
def _file_lock(engine: Any, name: str, timeout: float) -> Iterator[None]:
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    import fcntl

    path = Path(database).with_name(Path(database).name + ".ec-lock")
    with path.open("a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ConcurrentRunError(name.split(":", 1)[1], timeout) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
