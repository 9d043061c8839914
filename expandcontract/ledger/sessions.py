"""Counting a color's open database sessions.

Apps tag their connections: PostgreSQL ``application_name``, MySQL/MariaDB connection
attribute ``program_name`` (read from performance_schema, which MariaDB leaves off by
default). Where attributes cannot be read, sessions are matched by the color's database user
(``ledger.session-users``). When neither is possible the count is *unknown*, and callers must
not treat unknown as zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from expandcontract.config import LedgerSettings
from expandcontract.db import backend


@dataclass(frozen=True)
class Session:
    id: int
    user: str | None
    application: str | None
    client: str | None

    def describe(self) -> str:
        who = self.application or self.user or "?"
        return f"#{self.id} {who}@{self.client or 'local'}"


@dataclass(frozen=True)
class SessionCount:
    sessions: tuple[Session, ...] = ()
    #: Set when the count could not be taken; the reason says why.
    unknown: str | None = None
    how: list[str] = field(default_factory=list, compare=False)

    @property
    def count(self) -> int | None:
        return None if self.unknown else len(self.sessions)

    def describe(self) -> str:
        if self.unknown:
            return f"sessions unknown ({self.unknown})"
        return f"{len(self.sessions)} session(s) connected"


def session_tag(settings: LedgerSettings, environment: str, color: str) -> str:
    return settings.session_tag.format(color=color, environment=environment)


def count_sessions(conn: Any, settings: LedgerSettings, environment: str, color: str) -> SessionCount:
    kind = backend(conn)
    tag = session_tag(settings, environment, color)
    user = settings.session_users.get(color)
    if kind == "postgresql":
        return _postgres(conn, tag, user)
    if kind == "mysql":
        return _mysql(conn, tag, user)
    # SQLite (local trials): one process, no server sessions to count.
    return SessionCount()


def _postgres(conn: Any, tag: str, user: str | None) -> SessionCount:
    from sqlalchemy import text

    rows = conn.execute(
        text(
            "SELECT pid, usename, application_name, client_addr::text FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND datname = current_database() "
            "AND (application_name = :tag OR usename = CAST(:user AS text)) ORDER BY pid"
        ),
        {"tag": tag, "user": user},
    ).all()
    sessions = tuple(Session(int(r[0]), r[1], r[2] or None, r[3]) for r in rows)
    how = [f"application_name = {tag!r}"] + ([f"user = {user!r}"] if user else [])
    return SessionCount(sessions, how=how)


def _mysql(conn: Any, tag: str, user: str | None) -> SessionCount:
    from sqlalchemy import text

    found: dict[int, Session] = {}
    how: list[str] = []
    attrs_on = bool(conn.execute(text("SELECT @@performance_schema")).scalar())
    if attrs_on:
        rows = conn.execute(
            text(
                "SELECT a.PROCESSLIST_ID, p.USER, a.ATTR_VALUE, p.HOST "
                "FROM performance_schema.session_connect_attrs a "
                "LEFT JOIN information_schema.PROCESSLIST p ON p.ID = a.PROCESSLIST_ID "
                "WHERE a.ATTR_NAME = 'program_name' AND a.ATTR_VALUE = :tag AND a.PROCESSLIST_ID <> CONNECTION_ID()"
            ),
            {"tag": tag},
        ).all()
        for r in rows:
            found[int(r[0])] = Session(int(r[0]), r[1], r[2], r[3])
        how.append(f"program_name = {tag!r}")
    if user:
        rows = conn.execute(
            text(
                "SELECT ID, USER, HOST FROM information_schema.PROCESSLIST WHERE USER = :user AND ID <> CONNECTION_ID()"
            ),
            {"user": user},
        ).all()
        for r in rows:
            found.setdefault(int(r[0]), Session(int(r[0]), r[1], None, r[2]))
        how.append(f"user = {user!r}")
    if not how:
        return SessionCount(
            unknown="performance_schema is off, so program_name cannot be read, and ledger.session-users names no "
            "database user for this color"
        )
    return SessionCount(tuple(sorted(found.values(), key=lambda s: s.id)), how=how)
