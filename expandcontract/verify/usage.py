"""``ec verify --usage``: is anything still running the SQL a pending contract revision breaks?

The gate proves the old color is retired; it cannot see a cron job, a report or a forgotten
query in the new color that still reads ``users.name``. The database can: PostgreSQL's
``pg_stat_statements`` and MySQL/MariaDB's ``performance_schema`` statement digests count every
statement text. This reads them twice, ``window`` seconds apart, and reports each statement that
references a table or column a pending contract revision drops or renames and that ran in
between (``SELECT *`` on the table counts). When the statistics are not available it says so,
and how to turn them on; it never passes silently.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from expandcontract.db import backend
from expandcontract.schema.model import table_key
from expandcontract.sql import changes as c


@dataclass(frozen=True)
class Digest:
    id: str
    text: str
    calls: int


@dataclass
class Use:
    """A statement that ran during the window and references what a contract revision removes."""

    text: str
    calls: int
    objects: list[str] = field(default_factory=list)
    revisions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"statement": self.text, "calls": self.calls, "objects": self.objects, "revisions": self.revisions}


class StatisticsUnavailable(Exception):
    """The server keeps no statement statistics here; the message says how to turn them on."""


def read_digests(conn: Any) -> list[Digest]:
    """Every normalised statement of this database with its execution count."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    kind = backend(conn)
    if kind == "postgresql":
        installed = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")).first()
        if installed is None:
            raise StatisticsUnavailable(
                "pg_stat_statements is not installed in this database: add pg_stat_statements to "
                "shared_preload_libraries (restart), then CREATE EXTENSION pg_stat_statements"
            )
        try:
            rows = conn.execute(
                text(
                    "SELECT queryid::text, query, calls FROM pg_stat_statements "
                    "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            ).all()
        except DBAPIError as error:
            conn.rollback()
            raise StatisticsUnavailable(
                "pg_stat_statements cannot be read (is it in shared_preload_libraries?): "
                + str(getattr(error, "orig", error)).strip().splitlines()[0]
            ) from None
        return [Digest(str(r[0]), str(r[1]), int(r[2])) for r in rows]
    if kind == "mysql":
        if not conn.execute(text("SELECT @@performance_schema")).scalar():
            raise StatisticsUnavailable(
                "performance_schema is off: start the server with performance_schema=ON (the statement "
                "digests are on by default then)"
            )
        rows = conn.execute(
            text(
                "SELECT DIGEST, DIGEST_TEXT, COUNT_STAR FROM performance_schema.events_statements_summary_by_digest "
                "WHERE SCHEMA_NAME = DATABASE() AND DIGEST_TEXT IS NOT NULL"
            )
        ).all()
        return [Digest(str(r[0]), str(r[1]), int(r[2])) for r in rows]
    raise StatisticsUnavailable(f"{kind} keeps no statement statistics")


def removed_objects(changes: list[c.Change]) -> list[tuple[str, str | None]]:
    """(table, column) a revision drops or renames away; column None for a whole table."""
    out: list[tuple[str, str | None]] = []
    for change in changes:
        table = table_key(change.table)
        if isinstance(change, (c.DropTable, c.RenameTable)) and table:
            out.append((table, None))
        elif isinstance(change, (c.DropColumn, c.RenameColumn)) and table and change.column:
            out.append((table, change.column.lower().strip('"`')))
    return out


def pending_removals(graph: Any, pending: list[str]) -> dict[str, list[tuple[str, str | None]]]:
    """What each pending contract revision removes (needs ``graph.classify`` to have captured
    them); revisions that remove nothing are left out."""
    return {
        rev: items
        for rev in pending
        if graph.is_contract(rev) and (items := removed_objects(graph.captured.get(rev, [])))
    }


@dataclass
class _References:
    tables: set[str] = field(default_factory=set)
    columns: set[str] = field(default_factory=set)
    star: bool = False


def references(statement: str, dialect: str) -> _References:
    """Tables and column names a normalised statement text mentions (sqlglot; when it cannot
    parse the text, every word counts - a use is never missed for a parse failure)."""
    import sqlglot
    from sqlglot import exp

    found = _References()
    try:
        trees = sqlglot.parse(statement, read="postgres" if dialect == "postgresql" else "mysql")
    except Exception:  # noqa: BLE001
        trees = []
    if not trees or any(t is None for t in trees):
        words = {w.lower() for w in re.findall(r"[A-Za-z_][\w$]*", statement)}
        found.tables, found.columns, found.star = words, words, "*" in statement
        return found
    for tree in trees:
        if tree is None:
            continue
        for table in tree.find_all(exp.Table):
            found.tables.add(table_key(".".join(p for p in (table.db, table.name) if p)))
            found.tables.add(table_key(table.name))
        for column in tree.find_all(exp.Column):
            found.columns.add(column.name.lower())
        found.star = found.star or any(True for _ in tree.find_all(exp.Star))
    return found


def uses(
    before: list[Digest],
    after: list[Digest],
    removed: dict[str, list[tuple[str, str | None]]],
    dialect: str,
) -> list[Use]:
    """Statements whose count grew from ``before`` to ``after`` and that reference an object a
    revision (the keys of ``removed``) takes away."""
    counted = {d.id: d.calls for d in before}
    # Only texts naming a removed table can reference it: parse those alone (thousands of
    # digests otherwise cost seconds of parsing).
    names = {table.rsplit(".", 1)[-1] for items in removed.values() for table, _ in items}
    out: list[Use] = []
    for digest in after:
        ran = digest.calls - counted.get(digest.id, 0)
        if ran <= 0:
            continue
        lowered = digest.text.lower()
        if not any(name in lowered for name in names):
            continue
        refs = references(digest.text, dialect)
        objects: list[str] = []
        revisions: list[str] = []
        for revision, items in removed.items():
            for table, column in items:
                if table not in refs.tables:
                    continue
                if column is None or column in refs.columns or refs.star:
                    objects.append(f"{table}.{column}" if column else table)
                    revisions.append(revision)
        if objects:
            out.append(Use(digest.text, ran, sorted(set(objects)), sorted(set(revisions))))
    return out


def watch(conn: Any, removed: dict[str, list[tuple[str, str | None]]], window: float, dialect: str) -> list[Use]:
    """Read the statistics, wait ``window`` seconds, read them again: the uses in between."""
    before = read_digests(conn)
    conn.rollback()
    time.sleep(max(window, 0.0))
    after = read_digests(conn)
    conn.rollback()
    return uses(before, after, removed, dialect)


@dataclass
class UsageReport:
    #: Pending contract revisions and what each removes.
    removes: dict[str, list[str]]
    uses: list[Use]
    window: float

    @property
    def exit_code(self) -> int:
        return 1 if self.uses else 0

    def to_dict(self) -> dict[str, object]:
        return {
            "removes": self.removes,
            "window_seconds": self.window,
            "uses": [u.to_dict() for u in self.uses],
            "exit_code": self.exit_code,
        }


def usage_check(window: float = 60.0, **kwargs: Any) -> UsageReport:
    """The engine of ``ec verify --usage``: statements that ran during ``window`` seconds and
    reference what the pending contract revisions drop or rename. Raises
    :class:`~expandcontract.errors.UsageUnknown` when the server keeps no statistics."""
    from expandcontract.db import connect, create_engine, server_target
    from expandcontract.errors import UsageUnknown
    from expandcontract.ledger.commands import database_heads, resolve_target
    from expandcontract.migrations.project import load_project

    target = resolve_target(**kwargs)
    project = load_project(target.project)
    graph = project.graph
    engine = create_engine(target.url)
    try:
        with connect(engine) as conn:
            server = server_target(conn, target.settings.target)
            pending = graph.pending(database_heads(conn))
            conn.rollback()
            graph.classify(pending, target.settings, server, project.source.sys_path)
            removed = pending_removals(graph, pending)
            described = {rev: [f"{t}.{col}" if col else t for t, col in items] for rev, items in removed.items()}
            if not removed:
                return UsageReport(described, [], window)
            try:
                found = watch(conn, removed, window, server.dialect)
            except StatisticsUnavailable as error:
                raise UsageUnknown(str(error)) from None
    finally:
        engine.dispose()
    return UsageReport(described, found, window)
