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
    #: Row estimate and size in bytes, when a catalog said so.
    rows: int | None = None
    bytes: int | None = None
    #: Only some columns are known (the table was first seen through a change to it).
    partial: bool = False
    #: Columns dropped (or renamed away) by the changes applied: known to be gone.
    dropped: set[str] = field(default_factory=set)

    def column(self, name: str) -> ColumnState | None:
        return self.columns.get(name.lower().strip('"`'))


@dataclass
class SchemaModel:
    tables: dict[str, TableState] = field(default_factory=dict)
    #: Where the starting point came from: ``history`` (replayed from base), ``dump``, ``catalog``.
    source: str = "history"
    #: Tables dropped (or renamed away) by the changes applied: known to be gone.
    dropped: set[str] = field(default_factory=set)

    def copy(self) -> SchemaModel:
        return copy.deepcopy(self)

    def table(self, name: str | None) -> TableState | None:
        return self.tables.get(table_key(name))

    def column(self, table: str | None, column: str | None) -> ColumnState | None:
        state = self.table(table)
        return state.column(column) if state is not None and column else None

    def apply(self, change: c.Change) -> None:
        """Update the model with one change record (others leave it as it is)."""
        key = table_key(change.table)
        table = self.tables.get(key)
        if isinstance(change, c.CreateTable):
            created = TableState(key)
            for spec in change.columns:
                created.columns[spec.name.lower()] = _column(spec)
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
                table.constraints[change.name.lower()] = change.kind
                table.constraint_columns[change.name.lower()] = tuple(col.lower() for col in change.columns)
            if change.kind == "primary_key":
                for name in change.columns:
                    state = table.column(name)
                    if state is not None:
                        state.nullable = False
        elif isinstance(change, c.DropConstraint) and change.name:
            table.constraints.pop(change.name.lower(), None)
            table.constraint_columns.pop(change.name.lower(), None)


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
