"""Where the schema and the version table disagree: what a crash or a hand edit leaves behind.

ec judges from the database itself: a pending revision whose objects already exist was (partly)
applied without being recorded, and an INVALID index is the debris of an interrupted
``CREATE INDEX CONCURRENTLY``. Both are problems for ``ec status`` and reasons not to rerun a
revision blindly."""

from __future__ import annotations

from typing import Any

from expandcontract.db import backend
from expandcontract.migrations.graph import RevisionGraph
from expandcontract.sql import changes as c


def invalid_indexes(conn: Any) -> list[str]:
    """PostgreSQL indexes marked INVALID that no running build is still working on."""
    if backend(conn) != "postgresql":
        return []
    from sqlalchemy import text

    rows = conn.execute(
        text(
            "SELECT n.nspname || '.' || c.relname, t.relname FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE NOT i.indisvalid AND i.indexrelid NOT IN "
            "(SELECT index_relid FROM pg_stat_progress_create_index WHERE index_relid IS NOT NULL) "
            "ORDER BY 1"
        )
    ).all()
    return [f"{r[0]} (on {r[1]})" for r in rows]


def created_objects(changes: list[Any]) -> list[tuple[str, str]]:
    """(kind, name) of what ``changes`` create: tables, ``table.column`` and named indexes."""
    out = []
    for change in changes:
        if change.table and "." in change.table:
            continue  # schema-qualified: not judged here
        if isinstance(change, c.CreateTable) and change.table:
            out.append(("table", change.table))
        elif isinstance(change, c.AddColumn) and change.table and change.column.name:
            out.append(("column", f"{change.table}.{change.column.name}"))
        elif isinstance(change, c.CreateIndex) and change.name:
            out.append(("index", change.name))
    return out


def schema_ahead(conn: Any, graph: RevisionGraph, pending: list[str]) -> dict[str, list[str]]:
    """Pending revisions whose objects already exist, with those objects (needs
    ``graph.classify`` to have captured them)."""
    from sqlalchemy import inspect

    inspector = inspect(conn)
    tables = set(inspector.get_table_names())
    columns: dict[str, set[str]] = {}
    indexes: set[str] | None = None
    found: dict[str, list[str]] = {}
    created_earlier: set[tuple[str, str]] = set()
    for rev in pending:
        for kind, name in created_objects(graph.captured.get(rev, [])):
            if (kind, name) in created_earlier:
                continue
            created_earlier.add((kind, name))
            exists = False
            if kind == "table":
                exists = name in tables
            elif kind == "column":
                table, column = name.split(".", 1)
                if table in tables:
                    if table not in columns:
                        columns[table] = {col["name"] for col in inspector.get_columns(table)}
                    exists = column in columns[table]
            elif kind == "index":
                if indexes is None:
                    indexes = {ix["name"] for t in tables for ix in inspector.get_indexes(t) if ix.get("name")}
                exists = name in indexes
            if exists:
                found.setdefault(rev, []).append(f"{kind} {name}")
    return found
