"""Ledger tables (SQLAlchemy Core), named with a configurable prefix and schema."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from expandcontract.config import LedgerSettings


@dataclass(frozen=True)
class LedgerTables:
    metadata: Any
    colors: Any
    events: Any
    runs: Any
    online: Any


@cache
def ledger_tables(prefix: str = "ec_", schema: str | None = None) -> LedgerTables:
    import sqlalchemy as sa

    metadata = sa.MetaData(schema=schema)
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    colors = sa.Table(
        f"{prefix}colors",
        metadata,
        sa.Column("environment", sa.String(64), primary_key=True),
        sa.Column("color", sa.String(64), primary_key=True),
        # live | idle | draining | retired
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("version", sa.String(255)),
        # Revisions the color's code was built against, space-separated.
        sa.Column("expects", sa.String(2000), nullable=False, server_default=""),
        sa.Column("weight", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    events = sa.Table(
        f"{prefix}events",
        metadata,
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("occurred_at", sa.DateTime, nullable=False),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("color", sa.String(64)),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(16)),
        sa.Column("to_state", sa.String(16)),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text),
        # JSON text: what else the action knew (weights, sessions, revisions, forced...).
        sa.Column("details", sa.Text),
        sa.Index(f"ix_{prefix}events_env_id", "environment", "id"),
    )
    runs = sa.Table(
        f"{prefix}runs",
        metadata,
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("revision", sa.String(64), nullable=False),
        sa.Column("phase", sa.String(16)),
        # in_progress | done | failed | resolved
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
        sa.Column("error", sa.Text),
        sa.Index(f"ix_{prefix}runs_env_state", "environment", "state"),
    )
    online = sa.Table(
        f"{prefix}online_runs",
        metadata,
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("table_name", sa.String(64), nullable=False),
        # plain | instant | gh-ost | pt-online-schema-change
        sa.Column("engine", sa.String(32), nullable=False),
        sa.Column("alter_clause", sa.Text, nullable=False),
        # running | postponed | done | failed | aborted
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("percent", sa.Float),
        sa.Column("postponed", sa.Boolean, nullable=False, server_default=sa.false()),
        # Where a postponed gh-ost listens, for `ec online-cutover` from another process.
        sa.Column("socket", sa.String(1024)),
        sa.Column("reason", sa.Text),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("result", sa.Text),
        # Liveness: the driving ec process, its host and run directory, and when it last reported.
        sa.Column("pid", sa.Integer),
        sa.Column("host", sa.String(255)),
        sa.Column("run_dir", sa.String(1024)),
        sa.Column("heartbeat_at", sa.DateTime),
    )
    return LedgerTables(metadata, colors, events, runs, online)


#: Columns added after a table was first released: created in place on older ledgers.
ADDED_COLUMNS = {"online": ("pid", "host", "run_dir", "heartbeat_at")}


def tables_for(settings: LedgerSettings) -> LedgerTables:
    return ledger_tables(settings.table_prefix, settings.schema)
