"""Starting points for the schema model: a DDL dump (``ec lint --schema FILE``) or a live
catalog (``ec lint --url URL``). Both become ec's own change records, applied in order, so the
model has one way in."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from expandcontract.dialects import Target
from expandcontract.errors import ConfigError, DatabaseError
from expandcontract.schema.model import SchemaModel, table_key
from expandcontract.sql import changes as c
from expandcontract.sql.types import parse_type

# psql meta-commands (pg_dump's \restrict / \unrestrict, \connect) are not SQL.
_META = re.compile(r"^\\\S+.*$", re.M)


def from_dump(path: Path, target: Target) -> SchemaModel:
    """The schema a ``pg_dump --schema-only`` / ``mysqldump --no-data`` / ``SHOW CREATE TABLE``
    text describes. Everything else such dumps write (SET, COMMENT, OWNER, sequences, grants)
    is ignored; a CREATE TABLE that cannot be read is an error naming its line."""
    from expandcontract.sql.normalize import parse_sql

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read the schema dump: {error.strerror or error}", path=path) from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"the schema dump is not UTF-8 text (byte {error.start})", path=path) from None
    text = _META.sub(lambda m: " " * len(m.group(0)), text)
    changes = parse_sql(text, target)
    for change in changes:
        statement = (change.statement or "").lstrip().upper()
        if isinstance(change, c.Unverified) and re.match(r"CREATE\s+(UNLOGGED\s+)?TABLE\b", statement):
            raise ConfigError(f"line {change.line}: cannot read this CREATE TABLE ({change.reason})", path=path)
    model = SchemaModel(source="dump")
    for change in changes:
        model.apply(change)
    if not model.tables:
        raise ConfigError("the schema dump defines no table (expected CREATE TABLE statements)", path=path)
    return model


def from_catalog(url: str, timeout: float = 10.0) -> tuple[SchemaModel, Target]:
    """The live schema (read only, short timeouts): tables, columns, indexes, constraints, row
    estimates and sizes, and the server's flavor and version."""
    from sqlalchemy.exc import SQLAlchemyError

    from expandcontract.db import backend, connect, create_engine, safe_url, server_target

    engine = create_engine(url)
    try:
        with connect(engine) as conn:
            kind = backend(conn)
            try:
                if kind == "postgresql":
                    from sqlalchemy import text

                    conn.execute(text("SET TRANSACTION READ ONLY"))
                    conn.execute(text(f"SET LOCAL statement_timeout = '{int(timeout * 1000)}ms'"))
                    model = _postgres(conn)
                elif kind == "mysql":
                    from sqlalchemy import text

                    limit = (
                        f"SET SESSION max_statement_time = {timeout:g}"
                        if _mariadb(conn)
                        else f"SET SESSION max_execution_time = {int(timeout * 1000)}"
                    )
                    conn.execute(text(limit))
                    conn.execute(text("START TRANSACTION READ ONLY"))
                    model = _mysql(conn)
                else:
                    raise ConfigError("--url reads PostgreSQL, MySQL or MariaDB catalogs")
                from expandcontract.dialects import DEFAULT_VERSIONS

                fallback = Target("postgresql" if kind == "postgresql" else "mysql", DEFAULT_VERSIONS["postgresql"])
                target = server_target(conn, fallback)
            finally:
                conn.rollback()
    except SQLAlchemyError as error:
        detail = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise DatabaseError(safe_url(url), f"cannot read the catalog: {detail}") from None
    finally:
        engine.dispose()
    model.source = "catalog"
    return model, target


def _mariadb(conn: Any) -> bool:
    return bool(getattr(conn.dialect, "is_mariadb", False))


def _postgres(conn: Any) -> SchemaModel:
    from sqlalchemy import text

    model = SchemaModel()
    tables: dict[str, c.CreateTable] = {}
    rows = conn.execute(
        text(
            "SELECT n.nspname, cl.relname, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid), a.attidentity <> '' "
            "FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = cl.oid AND a.attnum > 0 AND NOT a.attisdropped "
            "LEFT JOIN pg_attrdef d ON d.adrelid = cl.oid AND d.adnum = a.attnum "
            "WHERE cl.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%' ORDER BY n.nspname, cl.relname, a.attnum"
        )
    )
    for schema, table, column, type_text, nullable, default, identity in rows:
        name = table if schema == "public" else f"{schema}.{table}"
        create = tables.setdefault(name, c.CreateTable(table=name))
        create.columns.append(
            c.ColumnSpec(
                name=column,
                type=parse_type(type_text),
                nullable=bool(nullable),
                default=default,
                identity=bool(identity) or bool(default and default.startswith("nextval(")),
            )
        )
    for create in tables.values():
        model.apply(create)
    for schema, table, index, columns, unique in conn.execute(
        text(
            "SELECT n.nspname, t.relname, i.relname, "
            "array_to_string(ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true) "
            "FROM generate_subscripts(x.indkey, 1) k ORDER BY k), ','), x.indisunique "
            "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"
        )
    ):
        name = table if schema == "public" else f"{schema}.{table}"
        model.apply(c.CreateIndex(table=name, name=index, columns=tuple(columns.split(",")), unique=bool(unique)))
    kinds = {"p": "primary_key", "u": "unique", "f": "foreign_key", "c": "check"}
    for schema, table, constraint, kind, validated, expression in conn.execute(
        text(
            "SELECT n.nspname, t.relname, co.conname, co.contype, co.convalidated, "
            "CASE WHEN co.contype = 'c' THEN pg_get_expr(co.conbin, co.conrelid) END FROM pg_constraint co "
            "JOIN pg_class t ON t.oid = co.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')"
        )
    ):
        name = table if schema == "public" else f"{schema}.{table}"
        model.apply(
            c.AddConstraint(
                table=name, name=constraint, kind=kinds.get(kind, kind), not_valid=not validated, expression=expression
            )
        )
    labels: dict[str, list[str]] = {}
    for schema, type_name, label in conn.execute(
        text(
            "SELECT n.nspname, t.typname, e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
            "JOIN pg_namespace n ON n.oid = t.typnamespace ORDER BY t.oid, e.enumsortorder"
        )
    ):
        labels.setdefault(type_name if schema == "public" else f"{schema}.{type_name}", []).append(label)
    for type_name, values in labels.items():
        model.apply(c.CreateEnum(type_name=type_name, values=tuple(values)))
    for schema, table, estimate, size in conn.execute(
        text(
            "SELECT n.nspname, cl.relname, cl.reltuples::bigint, pg_total_relation_size(cl.oid) FROM pg_class cl "
            "JOIN pg_namespace n ON n.oid = cl.relnamespace WHERE cl.relkind IN ('r', 'p') "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        )
    ):
        state = model.table(table if schema == "public" else f"{schema}.{table}")
        if state is not None:
            state.rows = int(estimate) if estimate is not None and estimate >= 0 else None
            state.bytes = int(size) if size is not None else None
    return model


def _mysql(conn: Any) -> SchemaModel:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    model = SchemaModel()
    tables: dict[str, c.CreateTable] = {}
    for table, column, type_text, nullable, default, extra in conn.execute(
        text(
            "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE = 'YES', COLUMN_DEFAULT, EXTRA "
            "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION"
        )
    ):
        create = tables.setdefault(table, c.CreateTable(table=table))
        create.columns.append(
            c.ColumnSpec(
                name=column,
                type=parse_type(str(type_text)),
                nullable=bool(nullable),
                default=None if default is None or str(default).upper() == "NULL" else str(default),
                autoincrement="auto_increment" in str(extra or "").lower(),
            )
        )
    for create in tables.values():
        model.apply(create)
    indexes: dict[tuple[str, str], list[str]] = {}
    unique: dict[tuple[str, str], bool] = {}
    for table, index, column, non_unique in conn.execute(
        text(
            "SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME, NON_UNIQUE FROM information_schema.STATISTICS "
            "WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
        )
    ):
        indexes.setdefault((table, index), []).append(str(column))
        unique[(table, index)] = not non_unique
    for (table, index), columns in indexes.items():
        model.apply(c.CreateIndex(table=table, name=index, columns=tuple(columns), unique=unique[(table, index)]))
    kinds = {"PRIMARY KEY": "primary_key", "UNIQUE": "unique", "FOREIGN KEY": "foreign_key", "CHECK": "check"}
    for table, constraint, kind in conn.execute(
        text(
            "SELECT TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE FROM information_schema.TABLE_CONSTRAINTS "
            "WHERE TABLE_SCHEMA = DATABASE()"
        )
    ):
        model.apply(c.AddConstraint(table=table, name=constraint, kind=kinds.get(str(kind), str(kind).lower())))
    # CHECK expressions (MariaDB 10.2+, MySQL 8.0.16+); a server without the view has none to read.
    checks = text(
        "SELECT tc.TABLE_NAME, cc.CONSTRAINT_NAME, cc.CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS cc "
        "JOIN information_schema.TABLE_CONSTRAINTS tc ON tc.CONSTRAINT_SCHEMA = cc.CONSTRAINT_SCHEMA "
        "AND tc.CONSTRAINT_NAME = cc.CONSTRAINT_NAME AND tc.CONSTRAINT_TYPE = 'CHECK' "
        "WHERE cc.CONSTRAINT_SCHEMA = DATABASE()"
    )
    try:
        for table, constraint, clause in conn.execute(checks):
            model.apply(c.AddConstraint(table=table, name=constraint, kind="check", expression=str(clause)))
    except SQLAlchemyError:
        pass
    model.sql_mode = str(conn.execute(text("SELECT @@GLOBAL.sql_mode")).scalar() or "")
    for table, estimate, size in conn.execute(
        text(
            "SELECT TABLE_NAME, TABLE_ROWS, DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'"
        )
    ):
        state = model.table(table)
        if state is not None:
            state.rows = int(estimate) if estimate is not None else None
            state.bytes = int(size) if size is not None else None
    return model


def starting_point(
    settings: Any, *, url: str | None, schema: str | os.PathLike[str] | None, dialect_given: bool
) -> tuple[SchemaModel | None, Any]:
    """The schema before the first change, from ``url`` (a live catalog) or ``schema`` (a dump),
    each defaulting to its setting (``schema-url``, ``schema-file``), and the settings to judge
    with: a catalog's server flavor and version apply unless a dialect was given."""
    from dataclasses import replace

    url = url or settings.schema_url
    schema_file = Path(schema) if schema is not None else settings.schema_file
    if url:
        starting, server = from_catalog(url)
        if not dialect_given:
            # The server says which rules apply: MariaDB or MySQL 8, and which version.
            versions = {**settings.versions, server.dialect: server.version}
            settings = replace(settings, dialect=server.dialect, versions=versions)
        return starting, settings
    if schema_file is not None:
        return from_dump(schema_file, settings.target), settings
    return None, settings


__all__ = ["from_catalog", "from_dump", "starting_point", "table_key"]
