"""What the database looks like before each change: tables, columns, indexes, constraints.

One mechanism serves every source: the model is built by applying ec's own change records in
order - a replayed Alembic history, a DDL dump (``--schema``), or a live catalog read
(``--url``, which produces the same records). Rules ask it, through the unit context, what a
column was before the change they judge; they never re-derive state themselves.

A table the model does not know is *unknown*, not absent: rules then say that they could not
tell (and how to tell them: ``--schema``, ``--url`` or ``existing_type``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from expandcontract.sql import changes as c
from expandcontract.sql.types import SqlType


def table_key(name: str | None) -> str:
    """Tables are matched case-insensitively, without quotes; PostgreSQL's default schema is
    implied (``public.users`` is ``users``)."""
    key = (name or "").replace('"', "").replace("`", "").lower()
    return key[len("public.") :] if key.startswith("public.") else key


@dataclass
class ColumnState:
    name: str
    type: SqlType | None = None
    #: None when not known (a table read from a partial source).
    nullable: bool | None = True
    default: str | None = None
    identity: bool = False


@dataclass
class TableState:
    name: str
    columns: dict[str, ColumnState] = field(default_factory=dict)
    #: index name -> (columns, unique)
    indexes: dict[str, tuple[tuple[str, ...], bool]] = field(default_factory=dict)
    #: constraint name -> kind (``primary_key``, ``unique``, ``foreign_key``, ``check``)
    constraints: dict[str, str] = field(default_factory=dict)
    #: constraint name -> its columns, where known
    constraint_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: CHECK constraint name -> its expression (as the source wrote it)
    checks: dict[str, str] = field(default_factory=dict)
    #: Constraints added NOT VALID and not validated since.
    not_valid: set[str] = field(default_factory=set)
    #: Row estimate and size in bytes, when a catalog said so.
    rows: int | None = None
    bytes: int | None = None
    #: Only some columns are known (the table was first seen through a change to it).
    partial: bool = False
    #: Columns dropped (or renamed away) by the changes applied: known to be gone.
    dropped: set[str] = field(default_factory=set)

    def column(self, name: str) -> ColumnState | None:
        return self.columns.get(name.lower().strip('"`'))

    def proves_not_null(self, column: str) -> bool:
        """A validated ``CHECK (column IS NOT NULL)`` holds: PostgreSQL 12+ then sets NOT NULL
        without scanning the table (measured: docs/reference/measured.md)."""
        wanted = column.lower().strip('"`')
        return any(
            name not in self.not_valid and not_null_check_column(expression) == wanted
            for name, expression in self.checks.items()
        )


@dataclass
class SchemaModel:
    tables: dict[str, TableState] = field(default_factory=dict)
    #: Where the starting point came from: ``history`` (replayed from base), ``dump``, ``catalog``.
    source: str = "history"
    #: Tables dropped (or renamed away) by the changes applied: known to be gone.
    dropped: set[str] = field(default_factory=set)
    #: PostgreSQL enum types: name -> labels, in order.
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: MySQL/MariaDB global ``sql_mode`` (what the application's sessions get), when a catalog said.
    sql_mode: str | None = None

    def mysql_strict(self) -> bool | None:
        """Whether an INSERT that leaves out a NOT NULL column without default fails (strict
        ``sql_mode``) or stores the type's implicit default with a warning; None: not known."""
        if self.sql_mode is None:
            return None
        modes = {m.strip().upper() for m in self.sql_mode.split(",")}
        return bool(modes & {"STRICT_TRANS_TABLES", "STRICT_ALL_TABLES"})

    def copy(self) -> SchemaModel:
        return copy.deepcopy(self)

    def table(self, name: str | None) -> TableState | None:
        return self.tables.get(table_key(name))

    def column(self, table: str | None, column: str | None) -> ColumnState | None:
        state = self.table(table)
        return state.column(column) if state is not None and column else None

    def enum_labels(self, sql_type: SqlType | None) -> tuple[str, ...] | None:
        """The labels of ``sql_type`` when it names a known enum type (None otherwise)."""
        if sql_type is None or sql_type.args:
            return None
        return self.enums.get(table_key(sql_type.name))

    def apply(self, change: c.Change) -> None:
        """Update the model with one change record (others leave it as it is)."""
        if isinstance(change, (c.CreateEnum, c.DropType, c.EnumAddValue, c.EnumRenameValue)):
            self._apply_type(change)
            return
        key = table_key(change.table)
        table = self.tables.get(key)
        if isinstance(change, c.CreateTable):
            created = TableState(key)
            for spec in change.columns:
                created.columns[spec.name.lower()] = _column(spec)
            for number, (name, expression) in enumerate(change.checks):
                created.checks[(name or f"{key}_check{number}").lower()] = expression
            self.tables[key] = created
            self.dropped.discard(key)
        elif isinstance(change, c.DropTable):
            self.tables.pop(key, None)
            self.dropped.add(key)
        elif isinstance(change, c.RenameTable) and table is not None and change.new_name:
            self.tables[table_key(change.new_name)] = self.tables.pop(key)
            self.dropped.add(key)
        elif table is None and isinstance(change, c.AddColumn) and key:
            # A table the model has not seen: what this change adds is still known.
            table = self.tables[key] = TableState(key, partial=True)
            table.columns[change.column.name.lower()] = _column(change.column)
        elif table is None and isinstance(change, c.AddConstraint) and key and key not in self.dropped:
            # Likewise a constraint (a CHECK that later lets SET NOT NULL skip its scan).
            self.tables[key] = TableState(key, partial=True)
            self.apply(change)
        elif table is None:
            return
        elif isinstance(change, c.AddColumn):
            table.columns[change.column.name.lower()] = _column(change.column)
            table.dropped.discard(change.column.name.lower())
        elif isinstance(change, c.DropColumn):
            table.columns.pop(change.column.lower(), None)
            table.dropped.add(change.column.lower())
        elif isinstance(change, c.RenameColumn) and change.new_name:
            moved = table.columns.pop(change.column.lower(), None)
            table.dropped.add(change.column.lower())
            if moved is not None:
                moved.name = change.new_name
                table.columns[change.new_name.lower()] = moved
        elif isinstance(change, c.AlterColumnType):
            state = table.column(change.column)
            if state is not None:
                state.type = change.new_type
        elif isinstance(change, c.SetNotNull):
            state = table.column(change.column)
            if state is not None:
                state.nullable = False
                if change.column_type is not None:
                    state.type = change.column_type
        elif isinstance(change, c.DropNotNull):
            state = table.column(change.column)
            if state is not None:
                state.nullable = True
        elif isinstance(change, c.SetDefault):
            state = table.column(change.column)
            if state is not None:
                state.default = change.default
        elif isinstance(change, c.CreateIndex) and change.name:
            table.indexes[change.name.lower()] = (change.columns, change.unique)
        elif isinstance(change, c.DropIndex) and change.name:
            table.indexes.pop(change.name.lower(), None)
        elif isinstance(change, c.AddConstraint):
            if change.name:
                name = change.name.lower()
                table.constraints[name] = change.kind
                table.constraint_columns[name] = tuple(col.lower() for col in change.columns)
                if change.kind == "check" and change.expression is not None:
                    table.checks[name] = change.expression
                if change.not_valid:
                    table.not_valid.add(name)
                else:
                    table.not_valid.discard(name)
            if change.kind == "primary_key":
                for name in change.columns:
                    state = table.column(name)
                    if state is not None:
                        state.nullable = False
        elif isinstance(change, c.DropConstraint) and change.name:
            name = change.name.lower()
            table.constraints.pop(name, None)
            table.constraint_columns.pop(name, None)
            table.checks.pop(name, None)
            table.not_valid.discard(name)
        elif isinstance(change, c.ValidateConstraint) and change.name:
            table.not_valid.discard(change.name.lower())

    def _apply_type(self, change: c.Change) -> None:
        if isinstance(change, c.CreateEnum):
            self.enums[table_key(change.type_name)] = tuple(change.values)
        elif isinstance(change, c.DropType):
            self.enums.pop(table_key(change.type_name), None)
        elif isinstance(change, c.EnumAddValue):
            labels = self.enums.get(table_key(change.type_name))
            if labels is not None and change.value not in labels:
                self.enums[table_key(change.type_name)] = (*labels, change.value)
        elif isinstance(change, c.EnumRenameValue):
            labels = self.enums.get(table_key(change.type_name))
            if labels is not None:
                self.enums[table_key(change.type_name)] = tuple(
                    change.new_value if label == change.value else label for label in labels
                )


def not_null_check_column(expression: str | None) -> str | None:
    """The column of a ``CHECK (column IS NOT NULL)`` expression (any parentheses, quoting)."""
    import re

    if not expression:
        return None
    m = re.fullmatch(r'[\s(]*"?`?(\w+)"?`?\s+IS\s+NOT\s+NULL[\s)]*', expression, re.I)
    return m[1].lower() if m else None


def _column(spec: c.ColumnSpec) -> ColumnState:
    return ColumnState(
        name=spec.name,
        type=spec.type,
        nullable=False if spec.primary_key else spec.nullable,
        default=spec.default,
        identity=spec.identity or spec.autoincrement,
    )


def from_changes(changes: list[c.Change], source: str) -> SchemaModel:
    model = SchemaModel(source=source)
    for change in changes:
        model.apply(change)
    return model
