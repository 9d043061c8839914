"""ec's own record of what a migration does: the input every rule reads.

Alembic operations and SQL statements (through sqlglot) are both normalised into these
records, so rules never touch sqlglot or Alembic objects and a parser upgrade is absorbed in
one place. Records are plain data and pickle cleanly (the lint cache stores them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from expandcontract.sql.types import SqlType


@dataclass
class Change:
    """Base of every record: where it came from and the transaction it runs in."""

    table: str | None = field(default=None, kw_only=True)
    line: int = field(default=1, kw_only=True)
    statement: str | None = field(default=None, kw_only=True)
    #: True when the statement runs inside a transaction block.
    in_transaction: bool = field(default=False, kw_only=True)
    #: Statements sharing a segment number share one transaction.
    segment: int = field(default=0, kw_only=True)
    #: ``op`` for a captured Alembic operation, ``sql`` for parsed SQL text.
    source: str = field(default="sql", kw_only=True)
    #: Last line of the statement (SQL files); equals ``line`` for Alembic operations.
    end_line: int = field(default=0, kw_only=True)
    #: (line, text) of SQL comments in or right before the statement (suppressions live there).
    comments: tuple[tuple[int, str], ...] = field(default=(), kw_only=True)
    #: MySQL/MariaDB ``ALGORITHM=`` and ``LOCK=`` clauses, upper-case.
    algorithm: str | None = field(default=None, kw_only=True)
    lock: str | None = field(default=None, kw_only=True)

    #: Additive changes make a revision "expand" unless a contract rule claims them.
    additive = False


@dataclass
class ColumnSpec:
    name: str
    type: SqlType | None = None
    nullable: bool = True
    #: Server default as SQL text; None when there is none.
    default: str | None = None
    #: The default is a literal constant (no function call or expression).
    default_is_constant: bool = True
    primary_key: bool = False
    autoincrement: bool = False
    #: GENERATED ... STORED / computed column.
    generated_stored: bool = False
    identity: bool = False
    references: str | None = None


@dataclass
class CreateTable(Change):
    columns: list[ColumnSpec] = field(default_factory=list)
    #: CHECK constraints declared in the table: (name or None, expression).
    checks: tuple[tuple[str | None, str], ...] = ()
    additive = True


@dataclass
class DropTable(Change):
    pass


@dataclass
class RenameTable(Change):
    new_name: str = ""


@dataclass
class AddColumn(Change):
    column: ColumnSpec = field(default_factory=lambda: ColumnSpec(""))
    #: MySQL ``FIRST``/``AFTER`` placement.
    positioned: bool = False
    additive = True


@dataclass
class DropColumn(Change):
    column: str = ""


@dataclass
class RenameColumn(Change):
    column: str = ""
    new_name: str = ""


@dataclass
class AlterColumnType(Change):
    column: str = ""
    new_type: SqlType | None = None
    #: Known only when the migration says so (Alembic ``existing_type``, MySQL ``CHANGE``).
    old_type: SqlType | None = None
    using: str | None = None
    additive = True


@dataclass
class SetNotNull(Change):
    column: str = ""
    #: MySQL MODIFY carries the full definition: the type may change too.
    column_type: SqlType | None = None


@dataclass
class DropNotNull(Change):
    column: str = ""
    additive = True


@dataclass
class SetDefault(Change):
    column: str = ""
    default: str | None = None


@dataclass
class CreateIndex(Change):
    name: str | None = None
    columns: tuple[str, ...] = ()
    unique: bool = False
    concurrently: bool = False
    #: MySQL/MariaDB ``FULLTEXT`` or ``SPATIAL``; empty for a plain index.
    kind: str = ""
    additive = True


@dataclass
class DropIndex(Change):
    name: str | None = None
    concurrently: bool = False


@dataclass
class AddConstraint(Change):
    #: ``foreign_key``, ``check``, ``unique``, ``primary_key`` or ``exclude``.
    kind: str = ""
    name: str | None = None
    not_valid: bool = False
    #: PostgreSQL ``... USING INDEX idx`` (no scan under lock).
    using_index: bool = False
    expression: str | None = None
    columns: tuple[str, ...] = ()
    additive = True


@dataclass
class DropConstraint(Change):
    kind: str | None = None
    name: str | None = None


@dataclass
class ValidateConstraint(Change):
    name: str = ""


@dataclass
class Truncate(Change):
    cascade: bool = False


@dataclass
class DropSchema(Change):
    name: str = ""


@dataclass
class CreateEnum(Change):
    """PostgreSQL ``CREATE TYPE name AS ENUM (...)``."""

    type_name: str = ""
    values: tuple[str, ...] = ()
    additive = True


@dataclass
class DropType(Change):
    type_name: str = ""


@dataclass
class EnumAddValue(Change):
    type_name: str = ""
    value: str = ""
    additive = True


@dataclass
class EnumRenameValue(Change):
    type_name: str = ""
    value: str = ""
    new_value: str = ""


@dataclass
class Maintenance(Change):
    """Table-wide maintenance: ``reindex``, ``vacuum_full``, ``cluster``, ``optimize``."""

    kind: str = ""
    concurrently: bool = False


@dataclass
class LockTable(Change):
    mode: str = ""


@dataclass
class DataChange(Change):
    """INSERT/UPDATE/DELETE run by the migration."""

    verb: str = ""
    has_where: bool = False


@dataclass
class SetSetting(Change):
    name: str = ""
    value: str = ""


@dataclass
class TableRebuild(Change):
    """MySQL statements that rebuild the whole table (``CONVERT TO CHARACTER SET``, ``ENGINE=``, ``FORCE``)."""

    reason: str = ""
    #: Rebuilt in place with writes going on (``FORCE``, ``ENGINE=InnoDB``): no table copy.
    in_place: bool = False


@dataclass
class Transaction(Change):
    """BEGIN / COMMIT / ROLLBACK in SQL text."""

    verb: str = ""


@dataclass
class Other(Change):
    """Understood and harmless for both app versions (comments, grants, functions, extensions...)."""

    what: str = ""


@dataclass
class Unverified(Change):
    """Could not be analysed: the reason says why. Never treated as safe."""

    reason: str = ""


@dataclass
class CaptureInfo(Change):
    """How a revision was read when it could not simply run: ``static`` - its source was read
    (operations with resolvable arguments captured) because ``reason`` stopped it running."""

    mode: str = "static"
    reason: str = ""


@dataclass
class Printed(Change):
    """What the revision printed (stdout and stderr) while ec ran it: kept apart from the report."""

    text: str = ""


@dataclass
class RenderFailed(Change):
    """A revision whose upgrade() could not run offline."""

    reason: str = ""


ALTER_KINDS = (
    AddColumn,
    DropColumn,
    RenameColumn,
    AlterColumnType,
    SetNotNull,
    DropNotNull,
    SetDefault,
    AddConstraint,
    DropConstraint,
    TableRebuild,
)


def declared_types(change: Change) -> list[tuple[str, SqlType | None]]:
    """(column, type) pairs a change declares: new columns, new tables, type changes."""
    if isinstance(change, AddColumn):
        return [(change.column.name, change.column.type)]
    if isinstance(change, CreateTable):
        return [(col.name, col.type) for col in change.columns]
    if isinstance(change, AlterColumnType):
        return [(change.column, change.new_type)]
    return []


def describe(change: Change) -> str:
    """A short human phrase for a change, e.g. ``drop column users.email``."""
    col = getattr(change, "column", None)
    column = col.name if isinstance(col, ColumnSpec) else col
    target = f"{change.table}.{column}" if change.table and column else (change.table or "")
    words = {
        CreateTable: "create table",
        DropTable: "drop table",
        RenameTable: "rename table",
        AddColumn: "add column",
        DropColumn: "drop column",
        RenameColumn: "rename column",
        AlterColumnType: "change type of",
        SetNotNull: "set NOT NULL on",
        DropNotNull: "drop NOT NULL on",
        SetDefault: "set default of",
        CreateIndex: "create index on",
        DropIndex: "drop index on",
        AddConstraint: "add constraint on",
        DropConstraint: "drop constraint on",
        Truncate: "truncate",
        EnumAddValue: "add enum value to",
        EnumRenameValue: "rename enum value of",
    }
    verb = words.get(type(change), type(change).__name__)
    if isinstance(change, (EnumAddValue, EnumRenameValue)):
        target = change.type_name
    if isinstance(change, DropSchema):
        return f"drop schema {change.name}"
    return f"{verb} {target}".strip()
