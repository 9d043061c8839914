"""What a rule may know besides the change in front of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expandcontract.config import Settings
from expandcontract.dialects import Target
from expandcontract.schema.model import ColumnState, SchemaModel
from expandcontract.sql import changes as c
from expandcontract.sql.types import SqlType

if TYPE_CHECKING:
    from expandcontract.linter.findings import UnitPhase


def table_key(name: str | None) -> str:
    return (name or "").strip('"`').lower()


@dataclass
class ProjectFacts:
    """Facts carried from earlier revisions to later ones, in history order."""

    #: The schema as the changes so far left it (replayed history, --schema dump or --url catalog).
    schema: SchemaModel = field(default_factory=SchemaModel)


@dataclass
class UnitContext:
    target: Target
    settings: Settings
    path: Path
    revision: str | None
    declared_phase: str | None
    changes: list[c.Change]
    facts: ProjectFacts
    #: Tables created earlier in this unit: lock rules do not apply to them.
    created_tables: set[str] = field(default_factory=set)
    #: Tables dropped earlier in this unit: nothing on them locks or fails any more.
    dropped_tables: set[str] = field(default_factory=set)
    #: (table, column) added earlier in this unit without a default: every existing row holds NULL.
    null_columns: set[tuple[str, str]] = field(default_factory=set)
    #: NOT VALID constraints added in this unit: name -> transaction segment.
    not_valid_added: dict[str, int] = field(default_factory=dict)
    #: Settings (lock_timeout, ...) set earlier in this unit.
    settings_seen: set[str] = field(default_factory=set)
    #: Changes that change nothing (ids): a type restated as it is.
    unchanged: set[int] = field(default_factory=set)
    #: Filled in after every change was checked.
    phase: UnitPhase | None = None
    contract_changes: list[c.Change] = field(default_factory=list)
    expand_changes: list[c.Change] = field(default_factory=list)
    #: (rule, hit) pairs of the per-change rules, kept for the findings.
    hits: list[Any] = field(default_factory=list)

    def is_new_table(self, table: str | None) -> bool:
        """Created (or dropped) earlier in this unit: locks on it hold up no one."""
        return table_key(table) in self.created_tables or table_key(table) in self.dropped_tables

    def only_null(self, table: str | None, columns: tuple[str, ...]) -> bool:
        """Every listed column was added in this unit without a default: existing rows hold only
        NULL there, which no UNIQUE, CHECK or FOREIGN KEY rejects."""
        key = table_key(table)
        return bool(columns) and all((key, col.lower().strip('"`')) in self.null_columns for col in columns)

    def table_rows(self, table: str | None) -> int | None:
        configured = self.settings.table_rows.get(table_key(table))
        if configured is not None:
            return configured
        state = self.facts.schema.table(table)
        return state.rows if state is not None else None

    def column_before(self, table: str | None, column: str | None) -> ColumnState | None:
        """The column as it was before the change being judged (None: not known)."""
        return self.facts.schema.column(table, column)

    def previous_type(self, change: c.Change) -> SqlType | None:
        """The type a column had before ``change``: from the migration itself (Alembic's
        ``existing_type``, MySQL ``CHANGE``), else from the schema model."""
        declared = getattr(change, "old_type", None)
        if declared is not None:
            return declared  # type: ignore[no-any-return]
        state = self.column_before(change.table, getattr(change, "column", None))
        return state.type if state is not None else None

    def already_not_null(self, change: c.Change) -> bool:
        """SET NOT NULL on a column known to be NOT NULL already changes nothing."""
        state = self.column_before(change.table, getattr(change, "column", None))
        return state is not None and state.nullable is False

    def observe(self, change: c.Change) -> None:
        """Update what later changes may rely on (called after the rules saw ``change``)."""
        key = table_key(change.table)
        if isinstance(change, c.CreateTable):
            self.created_tables.add(key)
        elif isinstance(change, c.DropTable):
            self.dropped_tables.add(key)
        elif isinstance(change, c.AddColumn) and change.column.default is None and not change.column.identity:
            self.null_columns.add((key, change.column.name.lower()))
        elif isinstance(change, c.RenameTable) and key in self.created_tables:
            self.created_tables.add(table_key(change.new_name))
        elif isinstance(change, c.SetSetting):
            self.settings_seen.add(change.name.lower())
        elif isinstance(change, c.AddConstraint) and change.not_valid and change.name:
            self.not_valid_added[change.name.lower()] = change.segment
