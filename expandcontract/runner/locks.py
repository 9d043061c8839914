"""Advisory locks that keep ec runs from interleaving: ``pg_advisory_lock`` / ``GET_LOCK``, or a
lock file next to a SQLite database.

The migration lock (``ec expand``/``contract``) is one per *database*, whatever the
environment: two environments sharing a database share its schema, so their runs must not
interleave. The traffic lock (``ec switch``/``canary``/``rollback``/``retire``) is one per
environment (each has its own proxy), so a long backfill does not hold up a rollback while two
traffic changes never interleave their apply, verify and record. The ledger lock serialises
the first creation of the ledger tables."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from expandcontract.db import backend, connect
from expandcontract.errors import ConcurrentRunError

MIGRATION, TRAFFIC, LEDGER = "migration", "traffic", "ledger"


def lock_name(environment: str, kind: str = MIGRATION, database: str | None = None) -> str:
    """The lock's name. GET_LOCK names are server-wide, so they carry the database name;
    PostgreSQL advisory locks are per database already."""
    scope = f"{database}:" if database else ""
    name = f"expandcontract:{scope}{kind}"
    if kind not in (MIGRATION, LEDGER):
        name += f":{environment}"
    if len(name) > 64:  # GET_LOCK's limit
        name = "expandcontract:" + hashlib.sha256(name.encode()).hexdigest()[:48]
    return name


def _pg_key(name: str) -> int:
    # pg advisory locks take a signed 64-bit key.
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def migration_lock(
    engine: Any, environment: str, timeout: float, on_wait: Callable[[], None] | None = None
) -> contextlib.AbstractContextManager[None]:
    """Hold the migration lock for the block; raise ConcurrentRunError after ``timeout`` seconds
    (``on_wait`` is called once if another run holds it)."""
    return advisory_lock(engine, environment, timeout, kind=MIGRATION, on_wait=on_wait)


@contextlib.contextmanager
def advisory_lock(
    engine: Any,
    environment: str,
    timeout: float,
    *,
    kind: str = MIGRATION,
    on_wait: Callable[[], None] | None = None,
) -> Iterator[None]:
    """Hold ``kind``'s lock for the block. ``on_wait`` is called once if another run holds it
    (so a CLI can say it is waiting); after ``timeout`` seconds, ConcurrentRunError."""
    from sqlalchemy import text

    database = engine.url.database if backend(engine) == "mysql" else None
    name = lock_name(environment, kind, database)
    waited = _Waiting(on_wait)
    if backend(engine) == "sqlite":
        with _file_lock(engine, environment, kind, timeout, waited):
            yield
        return
    # Autocommit: a waiter must hold no snapshot, or the holder's CREATE INDEX CONCURRENTLY
    # would wait for the waiter while the waiter waits for the holder.
    conn = connect(engine).execution_options(isolation_level="AUTOCOMMIT")
    try:
        if backend(engine) == "postgresql":
            key = _pg_key(name)
            deadline = time.monotonic() + timeout
            while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                if time.monotonic() >= deadline:
                    raise ConcurrentRunError(environment, timeout, kind)
                waited()
                time.sleep(0.1)
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        else:
            got = conn.execute(text("SELECT GET_LOCK(:n, 0)"), {"n": name}).scalar()
            if got != 1:
                waited()
                got = conn.execute(text("SELECT GET_LOCK(:n, :t)"), {"n": name, "t": int(max(timeout, 0))}).scalar()
            if got != 1:
                raise ConcurrentRunError(environment, timeout, kind)
            try:
                yield
            finally:
                conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": name})
    finally:
        conn.close()


class _Waiting:
    def __init__(self, callback: Callable[[], None] | None) -> None:
        self.callback = callback

    def __call__(self) -> None:
        if self.callback is not None:
            callback, self.callback = self.callback, None
            callback()


@contextlib.contextmanager
def _file_lock(engine: Any, environment: str, kind: str, timeout: float, waited: _Waiting) -> Iterator[None]:
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    import fcntl

    # The migration and ledger locks are per database file; the traffic lock per environment.
    suffix = {MIGRATION: ".ec-lock", LEDGER: ".ec-ledger-lock"}.get(kind, f".ec-{kind}-lock")
    path = Path(database).with_name(Path(database).name + suffix)
    with path.open("a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ConcurrentRunError(environment, timeout, kind) from None
                waited()
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
