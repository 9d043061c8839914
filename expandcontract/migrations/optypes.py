"""Alembic operation objects -> ec change records (exact intent, dialect-neutral input).

Types and defaults are compiled by SQLAlchemy for the target dialect and parsed by the same
type model as SQL text, so a rule sees ``VARCHAR(50)`` whichever way the migration said it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from expandcontract.dialects import Target
from expandcontract.sql import changes as c
from expandcontract.sql.types import SqlType, parse_type

_CONSTANT = re.compile(
    # a number, a quoted string, true/false/null; optionally parenthesised and ::cast
    r"""\s*\(?\s*(?:-?\d+(?:\.\d+)?|'(?:[^']|'')*'|true|false|null)\s*\)?\s*"""
    r"""(?:::\s*[\w ]+(?:\(\d+(?:,\s*\d+)?\))?)?\s*""",
    re.I,
)


@cache
def _dialect(name: str) -> Any:
    from sqlalchemy.dialects import mysql, postgresql

    if name == "postgresql":
        return postgresql.dialect()  # type: ignore[no-untyped-call]
    dialect = mysql.dialect()
    if name == "mariadb":
        dialect.is_mariadb = True
    return dialect


def dialect_for(target: Target) -> Any:
    return _dialect(target.dialect)


def compile_type(type_: Any, target: Target) -> SqlType | None:
    if type_ is None:
        return None
    if isinstance(type_, type):
        # `type_=sa.Boolean` (the class, not an instance) is accepted by Alembic too.
        try:
            type_ = type_()
        except Exception:  # noqa: BLE001 - a type class that needs arguments: keep its name
            return parse_type(type_.__name__.upper())
    try:
        text = type_.compile(dialect=dialect_for(target))
    except Exception:  # noqa: BLE001 - a type the dialect cannot render: keep its class name
        text = type(type_).__name__.upper()
    return parse_type(str(text))


def default_text(server_default: Any, target: Target) -> tuple[str | None, bool]:
    """(SQL text of a server default, whether it is a plain constant)."""
    if server_default is None or server_default is False:
        return None, True
    arg = getattr(server_default, "arg", server_default)
    if isinstance(arg, str):
        return "'" + arg.replace("'", "''") + "'", True
    text = getattr(arg, "text", None)
    if not isinstance(text, str):
        try:
            text = str(arg.compile(dialect=dialect_for(target), compile_kwargs={"literal_binds": True}))
        except Exception:  # noqa: BLE001
            text = str(arg)
    return text, bool(_CONSTANT.fullmatch(text))


def column_spec(column: Any, target: Target) -> c.ColumnSpec:
    default, constant = default_text(column.server_default, target)
    computed = getattr(column, "computed", None)
    references = None
    for fk in getattr(column, "foreign_keys", ()) or ():
        references = str(fk.target_fullname).rsplit(".", 1)[0]
    spec = c.ColumnSpec(
        name=column.name,
        type=compile_type(column.type, target),
        nullable=bool(column.nullable),
        default=default,
        default_is_constant=constant,
        primary_key=bool(column.primary_key),
        autoincrement=bool(column.primary_key and column.autoincrement is True),
        generated_stored=bool(computed is not None and (computed.persisted or target.family == "postgresql")),
        identity=getattr(column, "identity", None) is not None,
        references=references,
    )
    if spec.type is not None and spec.type.name in ("SERIAL", "BIGSERIAL", "SMALLSERIAL"):
        spec.autoincrement = True
    return spec


def _table(op: Any, attribute: str = "table_name") -> str:
    """The table an operation names, schema-qualified when it says ``schema=``: the same table
    name in two schemas is two tables."""
    name = str(getattr(op, attribute))
    schema = getattr(op, "schema", None)
    return f"{schema}.{name}" if schema else name


def _kw(op: Any, name: str) -> Any:
    kw = getattr(op, "kw", None) or {}
    return kw.get(name)


def _create_table(op: Any, target: Target) -> list[c.Change]:
    from sqlalchemy import CheckConstraint, Column

    columns = [column_spec(col, target) for col in op.columns if isinstance(col, Column)]
    checks = tuple(
        (str(item.name) if isinstance(item.name, str) else None, str(item.sqltext))
        for item in op.columns
        if isinstance(item, CheckConstraint)
    )
    return [c.CreateTable(table=_table(op), columns=columns, checks=checks)]


def _add_column(op: Any, target: Target) -> list[c.Change]:
    spec = column_spec(op.column, target)
    table = _table(op)
    out: list[c.Change] = [c.AddColumn(table=table, column=spec)]
    # Alembic's add_column also emits the column's FK, and its index (Column(index=True), unique
    # or not) or UNIQUE constraint, as separate statements.
    if op.column.foreign_keys:
        out.append(c.AddConstraint(table=table, kind="foreign_key", columns=(spec.name,)))
    if op.column.index:
        prefix = f"{op.schema}_" if getattr(op, "schema", None) else ""
        name = f"ix_{prefix}{op.table_name}_{spec.name}"
        out.append(c.CreateIndex(table=table, name=name, columns=(spec.name,), unique=bool(op.column.unique)))
    elif op.column.unique:
        out.append(c.AddConstraint(table=table, kind="unique", columns=(spec.name,)))
    return out


def _alter_column(op: Any, target: Target) -> list[c.Change]:
    table, column = _table(op), op.column_name
    out: list[c.Change] = []
    if op.modify_type is not None:
        out.append(
            c.AlterColumnType(
                table=table,
                column=column,
                new_type=compile_type(op.modify_type, target),
                old_type=compile_type(op.existing_type, target),
                using=_kw(op, "postgresql_using"),
            )
        )
    if op.modify_nullable is False and op.existing_nullable is False:
        # Alembic still emits SET NOT NULL; on a column that already is, it changes nothing.
        out.append(c.Other(table=table, what="set NOT NULL on a column already NOT NULL"))
    elif op.modify_nullable is False:
        out.append(c.SetNotNull(table=table, column=column))
    elif op.modify_nullable is True:
        out.append(c.DropNotNull(table=table, column=column))
    if op.modify_server_default is not False:
        text, _ = default_text(op.modify_server_default, target)
        out.append(c.SetDefault(table=table, column=column, default=text))
    if op.modify_name is not None:
        out.append(c.RenameColumn(table=table, column=column, new_name=op.modify_name))
    if op.modify_comment is not False:
        out.append(c.Other(table=table, what="column comment"))
    return out or [c.Other(table=table, what="alter column (no change)")]


def _create_index(op: Any, target: Target) -> list[c.Change]:
    columns = tuple(str(col) for col in op.columns)
    return [
        c.CreateIndex(
            table=_table(op),
            name=op.index_name,
            columns=columns,
            unique=bool(op.unique),
            concurrently=bool(_kw(op, "postgresql_concurrently")),
        )
    ]


def _drop_index(op: Any, target: Target) -> list[c.Change]:
    concurrently = bool(_kw(op, "postgresql_concurrently"))
    return [c.DropIndex(table=_table(op) if op.table_name else None, name=op.index_name, concurrently=concurrently)]


def _constraint(kind: str) -> Callable[[Any, Target], list[c.Change]]:
    def build(op: Any, target: Target) -> list[c.Change]:
        table = _table(op, "source_table") if getattr(op, "source_table", None) else _table(op)
        expression = None
        if kind == "check":
            condition = op.condition
            expression = (
                condition
                if isinstance(condition, str)
                else str(condition.compile(dialect=dialect_for(target), compile_kwargs={"literal_binds": True}))
            )
        return [
            c.AddConstraint(
                table=table,
                kind=kind,
                name=op.constraint_name,
                not_valid=bool(_kw(op, "postgresql_not_valid")),
                expression=expression,
                columns=tuple(getattr(op, "columns", None) or getattr(op, "local_cols", None) or ()),
            )
        ]

    return build


def _drop_constraint(op: Any, target: Target) -> list[c.Change]:
    kinds = {"foreignkey": "foreign_key", "check": "check", "unique": "unique", "primary": "primary_key"}
    kind = kinds.get(op.constraint_type or "")
    return [c.DropConstraint(table=_table(op), name=op.constraint_name, kind=kind)]


CONVERTERS: dict[str, Callable[[Any, Target], list[c.Change]]] = {
    "CreateTableOp": _create_table,
    "DropTableOp": lambda op, t: [c.DropTable(table=_table(op))],
    "RenameTableOp": lambda op, t: [c.RenameTable(table=_table(op), new_name=op.new_table_name)],
    "AddColumnOp": _add_column,
    "DropColumnOp": lambda op, t: [c.DropColumn(table=_table(op), column=op.column_name)],
    "AlterColumnOp": _alter_column,
    "CreateIndexOp": _create_index,
    "DropIndexOp": _drop_index,
    "CreateForeignKeyOp": _constraint("foreign_key"),
    "CreateCheckConstraintOp": _constraint("check"),
    "CreateUniqueConstraintOp": _constraint("unique"),
    "CreatePrimaryKeyOp": _constraint("primary_key"),
    "DropConstraintOp": _drop_constraint,
    "BulkInsertOp": lambda op, t: [c.DataChange(table=getattr(op.table, "name", None), verb="INSERT", has_where=True)],
    "CreateTableCommentOp": lambda op, t: [c.Other(table=_table(op), what="table comment")],
    "DropTableCommentOp": lambda op, t: [c.Other(table=_table(op), what="table comment")],
}
