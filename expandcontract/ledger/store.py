"""Reading and changing the ledger. Every state change writes its event in the same
transaction, so the log and the state never disagree."""

from __future__ import annotations

import getpass
import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from expandcontract.config import LedgerSettings
from expandcontract.ledger.schema import LedgerTables, tables_for

STATES = ("live", "idle", "draining", "retired")


def utcnow() -> datetime:
    # Stored naive in UTC: MySQL DATETIME has no zone.
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def actor() -> str:
    """Who acts: EC_ACTOR if set (CI jobs), else OS user @ host."""
    override = os.environ.get("EC_ACTOR")
    if override:
        return override[:255]
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"[:255]


@dataclass(frozen=True)
class ColorState:
    environment: str
    color: str
    state: str
    version: str | None
    expects: tuple[str, ...]
    weight: int
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, object]:
        return {
            "environment": self.environment,
            "color": self.color,
            "state": self.state,
            "version": self.version,
            "expects": list(self.expects),
            "weight": self.weight,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


@dataclass(frozen=True)
class Event:
    id: int
    occurred_at: datetime
    environment: str
    color: str | None
    action: str
    from_state: str | None
    to_state: str | None
    actor: str
    reason: str | None
    details: dict[str, Any]

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "occurred_at": _iso(self.occurred_at),
            "environment": self.environment,
            "color": self.color,
            "action": self.action,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "actor": self.actor,
            "reason": self.reason,
            "details": self.details,
        }


@dataclass(frozen=True)
class Run:
    id: int
    environment: str
    revision: str
    phase: str | None
    state: str
    started_at: datetime
    finished_at: datetime | None
    actor: str
    attempts: int
    error: str | None

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "revision": self.revision,
            "phase": self.phase,
            "state": self.state,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "actor": self.actor,
            "attempts": self.attempts,
            "error": self.error,
        }


def _iso(value: datetime | None) -> str | None:
    return value.replace(tzinfo=timezone.utc).isoformat().replace("+00:00", "Z") if value else None


class Ledger:
    """Ledger operations on a SQLAlchemy connection; the caller owns the transaction."""

    def __init__(self, settings: LedgerSettings) -> None:
        self.settings = settings
        self.t: LedgerTables = tables_for(settings)

    # --- schema ------------------------------------------------------------------------------

    def _check_schema(self, conn: Any) -> None:
        if self.settings.schema and conn.dialect.name == "sqlite":
            from expandcontract.errors import ConfigError

            raise ConfigError(
                f"ledger.schema = {self.settings.schema!r} cannot be used with SQLite, which has no schemas: "
                "remove ledger.schema for this database (use ledger.table-prefix to keep the tables apart)",
                key="ledger.schema",
            )

    def exists(self, conn: Any) -> bool:
        from sqlalchemy import inspect

        self._check_schema(conn)
        inspector = inspect(conn)
        names = set(inspector.get_table_names(schema=self.settings.schema))
        return {t.name for t in (self.t.colors, self.t.events, self.t.runs)} <= names

    def create(self, conn: Any) -> bool:
        """Create missing ledger tables; True when this call created them.

        Safe when several first runs race on a fresh database: creation happens under the
        ledger lock on a connection of its own, committed before the lock is released, so the
        loser finds the tables instead of failing on a duplicate."""
        if self.exists(conn) and not self._missing_columns(conn):
            return False
        if conn.dialect.name == "sqlite":
            existed = self.exists(conn)
            self._create_on(conn)  # one process, and ":memory:" is per connection
            return not existed
        from expandcontract.runner.locks import LEDGER, advisory_lock

        with advisory_lock(conn.engine, "-", 120, kind=LEDGER), conn.engine.connect() as own:
            created = not self.exists(own)
            self._create_on(own)
            own.commit()
        return created

    def _create_on(self, conn: Any) -> None:
        if self.settings.schema and conn.dialect.name == "postgresql":
            from sqlalchemy import text

            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.settings.schema}"'))
        self.t.metadata.create_all(conn, checkfirst=True)
        self._add_missing_columns(conn)

    def _missing_columns(self, conn: Any) -> bool:
        from sqlalchemy import inspect

        from expandcontract.ledger.schema import ADDED_COLUMNS

        inspector = inspect(conn)
        for attr, names in ADDED_COLUMNS.items():
            table = getattr(self.t, attr)
            if not inspector.has_table(table.name, schema=self.settings.schema):
                return True
            present = {c["name"] for c in inspector.get_columns(table.name, schema=self.settings.schema)}
            if set(names) - present:
                return True
        return False

    def _add_missing_columns(self, conn: Any) -> None:
        """Ledgers made by an older ec lack newer (nullable) columns: add them."""
        from sqlalchemy import inspect, text

        from expandcontract.ledger.schema import ADDED_COLUMNS

        preparer = conn.dialect.identifier_preparer
        for attr, names in ADDED_COLUMNS.items():
            table = getattr(self.t, attr)
            present = {c["name"] for c in inspect(conn).get_columns(table.name, schema=self.settings.schema)}
            for name in names:
                if name not in present:
                    column = table.c[name]
                    kind = column.type.compile(dialect=conn.dialect)
                    conn.execute(
                        text(f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {preparer.quote(name)} {kind}")
                    )

    # --- colors ------------------------------------------------------------------------------

    def colors(self, conn: Any, environment: str | None, *, for_update: bool = False) -> list[ColorState]:
        """The colors of ``environment``, or of every environment recorded in this database."""
        from sqlalchemy import select

        c = self.t.colors
        query = select(c).order_by(c.c.environment, c.c.color)
        if environment is not None:
            query = query.where(c.c.environment == environment)
        if for_update and conn.dialect.name != "sqlite":
            query = query.with_for_update()
        rows = conn.execute(query).mappings().all()
        return [_color(r) for r in rows]

    def color(self, conn: Any, environment: str, color: str, *, for_update: bool = False) -> ColorState | None:
        from sqlalchemy import select

        c = self.t.colors
        query = select(c).where(c.c.environment == environment, c.c.color == color)
        if for_update and conn.dialect.name != "sqlite":
            query = query.with_for_update()
        row = conn.execute(query).mappings().first()
        return _color(row) if row else None

    def upsert_color(
        self,
        conn: Any,
        environment: str,
        color: str,
        *,
        action: str,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
        **values: Any,
    ) -> ColorState:
        """Change one color's row (creating it if needed) and log the change, atomically."""
        from sqlalchemy import insert, update

        c = self.t.colors
        now = utcnow()
        if values.get("version") is not None:
            values["version"] = checked_text(values["version"], "--version", 255)
        before = self.color(conn, environment, color, for_update=True)
        if "expects" in values:
            values["expects"] = " ".join(values["expects"])
        if before is None:
            row = {"state": "idle", "version": None, "expects": "", "weight": 0, **values}
            conn.execute(insert(c).values(environment=environment, color=color, created_at=now, updated_at=now, **row))
        else:
            conn.execute(
                update(c).where(c.c.environment == environment, c.c.color == color).values(updated_at=now, **values)
            )
        after = self.color(conn, environment, color)
        assert after is not None
        self.log(
            conn,
            environment,
            action,
            color=color,
            from_state=before.state if before else None,
            to_state=after.state,
            reason=reason,
            details=details,
        )
        return after

    # --- events ------------------------------------------------------------------------------

    def log(
        self,
        conn: Any,
        environment: str,
        action: str,
        *,
        color: str | None = None,
        from_state: str | None = None,
        to_state: str | None = None,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        from sqlalchemy import insert

        if reason is not None:
            reason = checked_text(reason, "--reason", 10_000)
        conn.execute(
            insert(self.t.events).values(
                occurred_at=utcnow(),
                environment=environment,
                color=color,
                action=action,
                from_state=from_state,
                to_state=to_state,
                actor=actor(),
                reason=reason,
                details=json.dumps(details, sort_keys=True, default=str) if details else None,
            )
        )

    def events(self, conn: Any, environment: str | None, limit: int = 50) -> list[Event]:
        from sqlalchemy import select

        e = self.t.events
        query = select(e).order_by(e.c.id.desc()).limit(limit)
        if environment is not None:
            query = query.where(e.c.environment == environment)
        rows = conn.execute(query).mappings().all()
        return [
            Event(
                id=int(r["id"]),
                occurred_at=r["occurred_at"],
                environment=r["environment"],
                color=r["color"],
                action=r["action"],
                from_state=r["from_state"],
                to_state=r["to_state"],
                actor=r["actor"],
                reason=r["reason"],
                details=json.loads(r["details"]) if r["details"] else {},
            )
            for r in reversed(rows)
        ]

    def deploy_refs(self, conn: Any, environment: str) -> dict[str, str]:
        """The git ref each color's latest deploy recorded (``ec deploy --ref``)."""
        from sqlalchemy import select

        e = self.t.events
        rows = conn.execute(
            select(e.c.color, e.c.details)
            .where(e.c.environment == environment, e.c.action == "deploy")
            .order_by(e.c.id)
        ).all()
        refs: dict[str, str] = {}
        for color, details in rows:
            ref = json.loads(details).get("ref") if details else None
            if ref:
                refs[color] = str(ref)
            else:
                refs.pop(color, None)
        return refs

    def state_mismatches(self, conn: Any, colors: list[ColorState]) -> list[str]:
        """Colors whose recorded state no event explains: every state change ec makes logs an
        event in the same transaction, so a row that disagrees with its latest event (or has
        none) was edited by hand. Such a state is not evidence of anything."""
        from sqlalchemy import func, select

        e = self.t.events
        latest = (
            select(e.c.environment, e.c.color, func.max(e.c.id).label("id"))
            .where(e.c.color.is_not(None), e.c.to_state.is_not(None))
            .group_by(e.c.environment, e.c.color)
            .subquery()
        )
        query = select(e.c.environment, e.c.color, e.c.to_state, e.c.action).join(latest, e.c.id == latest.c.id)
        rows = conn.execute(query)
        last = {(r.environment, r.color): (r.to_state, r.action) for r in rows}
        out = []
        for color in colors:
            event = last.get((color.environment, color.color))
            if event is None:
                out.append(
                    f"{_label(color)} is recorded {color.state}, but the event log has no event for it: "
                    "the ledger was edited by hand, so its state proves nothing"
                )
            elif event[0] != color.state:
                out.append(
                    f"{_label(color)} is recorded {color.state}, but its last event ({event[1]}) left it "
                    f"{event[0]}: the ledger was edited by hand, so its state proves nothing "
                    f"(record the change with ec, e.g. `ec retire {color.color}`)"
                )
        return out

    # --- runs --------------------------------------------------------------------------------

    def start_run(self, conn: Any, environment: str, revision: str, phase: str | None) -> int:
        from sqlalchemy import insert

        result = conn.execute(
            insert(self.t.runs).values(
                environment=environment,
                revision=revision,
                phase=phase,
                state="in_progress",
                started_at=utcnow(),
                actor=actor(),
                attempts=1,
            )
        )
        return int(result.inserted_primary_key[0])

    def finish_run(self, conn: Any, run_id: int, state: str, *, attempts: int, error: str | None = None) -> None:
        from sqlalchemy import update

        r = self.t.runs
        # A run left in progress (half-applied on MySQL) has no end yet.
        finished = None if state == "in_progress" else utcnow()
        conn.execute(
            update(r)
            .where(r.c.id == run_id)
            .values(state=state, finished_at=finished, attempts=attempts, error=error[:4000] if error else None)
        )

    def runs(self, conn: Any, environment: str | None, *, states: tuple[str, ...] = ("in_progress",)) -> list[Run]:
        """Runs in ``states`` of ``environment``, or of every environment (the schema is shared)."""
        from sqlalchemy import select

        r = self.t.runs
        query = select(r).where(r.c.state.in_(states)).order_by(r.c.id)
        if environment is not None:
            query = query.where(r.c.environment == environment)
        rows = conn.execute(query).mappings().all()
        return [
            Run(
                id=int(x["id"]),
                environment=x["environment"],
                revision=x["revision"],
                phase=x["phase"],
                state=x["state"],
                started_at=x["started_at"],
                finished_at=x["finished_at"],
                actor=x["actor"],
                attempts=int(x["attempts"]),
                error=x["error"],
            )
            for x in rows
        ]


#: A run on another host whose driver has not reported for this long is presumed lost.
STALE_HEARTBEAT_SECONDS = 600


def online_liveness(run: dict[str, Any]) -> str:
    """``alive``, ``lost`` (its driving process is gone) or ``unknown`` (another host, recent
    heartbeat, or a record from an ec that kept no process id)."""
    pid, host = run.get("pid"), run.get("host")
    if pid and host == socket.gethostname():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return "lost"
        except PermissionError:
            return "alive"
        return "alive"
    beat = run.get("heartbeat_at")
    if beat is not None and (utcnow() - beat).total_seconds() > STALE_HEARTBEAT_SECONDS:
        return "lost"
    return "unknown"


def lost_message(run: dict[str, Any]) -> str:
    where = f"process {run.get('pid')} on {run.get('host')}" if run.get("pid") else "its driving process"
    return (
        f"the online schema change of {run['table_name']} ({run['engine']}) is lost: {where} is gone "
        f"(recorded {run['state']}); `ec online-abort {run['table_name']}` removes what it left and closes the record"
    )


def active_online_runs(conn: Any, ledger: Ledger, environment: str | None) -> list[dict[str, Any]]:
    """Online schema changes still copying or waiting for their cut-over (of ``environment``,
    or of the whole database), each with its ``liveness`` (see :func:`online_liveness`)."""
    from sqlalchemy import inspect, select

    t = ledger.t.online
    inspector = inspect(conn)
    if not inspector.has_table(t.name, schema=ledger.settings.schema):
        return []
    # A ledger from an older ec may lack the newest columns until something creates them.
    present = {c["name"] for c in inspector.get_columns(t.name, schema=ledger.settings.schema)}
    query = select(*[c for c in t.c if c.name in present]).where(t.c.state.in_(("running", "postponed")))
    if environment is not None:
        query = query.where(t.c.environment == environment)
    rows = conn.execute(query.order_by(t.c.id)).mappings().all()
    return [{**dict(r), "liveness": online_liveness(dict(r))} for r in rows]


def checked_text(value: str, what: str, limit: int) -> str:
    """User text the ledger stores: valid UTF-8 and within the column's length."""
    from expandcontract.errors import ConfigError

    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{what} is not valid UTF-8 text (check the terminal's encoding)") from None
    if len(value) > limit:
        raise ConfigError(f"{what} is {len(value)} characters long; at most {limit} are kept")
    if what == "--version" and any(ch.isspace() or not ch.isprintable() for ch in value):
        raise ConfigError(f"{what} may not contain spaces or control characters")
    return value


def _label(color: ColorState) -> str:
    return f"{color.color} (environment {color.environment})"


def _color(row: Any) -> ColorState:
    return ColorState(
        environment=row["environment"],
        color=row["color"],
        state=row["state"],
        version=row["version"],
        expects=tuple(row["expects"].split()) if row["expects"] else (),
        weight=int(row["weight"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
