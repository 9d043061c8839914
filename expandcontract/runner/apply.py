"""Apply revisions one at a time, safely.

For each revision: check the contract gate (contract revisions), record the run as in
progress (committed before any DDL, so a crash stays visible), apply it in its own
transaction with ``lock_timeout``/``statement_timeout`` (PostgreSQL) or ``lock_wait_timeout``
(MySQL/MariaDB) set, retry lock timeouts with exponential backoff up to a cap, then record it
done. On MySQL/MariaDB DDL commits as it goes: a failure after the first statement is never
retried, and the run stays in progress for a person to look at.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from expandcontract.config import RunnerSettings
from expandcontract.db import backend, connect, create_engine
from expandcontract.errors import ExpandContractError, GateClosed, MigrationFailed
from expandcontract.ledger.commands import Target, resolve_target
from expandcontract.ledger.gate import Gate, GateDecision
from expandcontract.ledger.store import Ledger
from expandcontract.migrations.project import Project, load_project
from expandcontract.runner.locks import migration_lock

Echo = Callable[[str], None]


@dataclass
class RunReport:
    environment: str
    applied: list[str] = field(default_factory=list)
    #: Revisions not applied, each with why.
    waiting: dict[str, str] = field(default_factory=dict)
    gate: list[GateDecision] = field(default_factory=list)
    retries: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "environment": self.environment,
            "applied": self.applied,
            "waiting": self.waiting,
            "gate": [d.to_dict() for d in self.gate],
            "retries": self.retries,
        }


def expand(
    *,
    echo: Echo | None = None,
    online_plan: Callable[[str, Any], None] | None = None,
    online_progress: Callable[[str, Any], None] | None = None,
    **kwargs: Any,
) -> RunReport:
    """Apply pending revisions up to (not including) the first contract revision whose gate
    is closed. In the two-branch layout contract revisions are left to :func:`contract`."""
    return _run("expand", echo=echo, online=(online_plan, online_progress), **kwargs)


def contract(
    *,
    echo: Echo | None = None,
    online_plan: Callable[[str, Any], None] | None = None,
    online_progress: Callable[[str, Any], None] | None = None,
    **kwargs: Any,
) -> RunReport:
    """Apply every pending revision, contract ones included; refuse before running anything
    while the gate is closed for any of them."""
    return _run("contract", echo=echo, online=(online_plan, online_progress), **kwargs)


def _run(
    mode: str,
    *,
    echo: Echo | None,
    online: tuple[Callable[[str, Any], None] | None, Callable[[str, Any], None] | None] = (None, None),
    **kwargs: Any,
) -> RunReport:
    say = echo or (lambda message: None)
    target = resolve_target(**kwargs)
    project = load_project(target.project)
    engine = create_engine(target.url)
    report = RunReport(target.environment)
    try:
        with migration_lock(engine, target.environment, target.settings.runner.advisory_lock_timeout):
            ledger = Ledger(target.settings.ledger)
            with connect(engine) as conn:
                ledger.create(conn)  # the lazy `ec init`
                conn.commit()
                heads = _database_heads(conn)
                conn.commit()
                plan = project.graph.pending(heads)
                if mode == "contract":
                    gate = Gate(conn, ledger, project.graph, target.environment, target.settings)
                    report.gate = [gate.evaluate(r) for r in plan if project.graph.is_contract(r)]
                    conn.commit()
                    closed = [d for d in report.gate if not d.open]
                    if closed:
                        raise GateClosed(closed)
            if not plan:
                say("nothing to apply: the database is at the head of every branch")
            from expandcontract.online.api import reporting

            on_plan = online[0] or (
                lambda table, plan: say(f"  online change of {table}: {plan.engine} ({plan.reason})")
            )
            with reporting(on_plan, online[1] or _online_progress(say)):
                _apply_plan(mode, plan, project, target, engine, ledger, report, say)
    finally:
        engine.dispose()
    return report


def _apply_plan(
    mode: str,
    plan: list[str],
    project: Project,
    target: Target,
    engine: Any,
    ledger: Ledger,
    report: RunReport,
    say: Echo,
) -> None:
    graph = project.graph
    held: set[str] = set()
    for rev in plan:
        blocked_parent = next((p for p in graph.parents(rev) if p in held), None)
        if blocked_parent:
            held.add(rev)
            report.waiting[rev] = f"after {blocked_parent}, which is not applied"
            continue
        if graph.is_contract(rev):
            if mode == "expand" and graph.branched:
                held.add(rev)
                report.waiting[rev] = "contract revision: run `ec contract` after the old color is retired"
                continue
            with connect(engine) as conn:
                decision = Gate(conn, ledger, graph, target.environment, target.settings).evaluate(rev)
            report.gate.append(decision)
            if not decision.open:
                if mode == "contract":
                    raise GateClosed([decision])
                held.add(rev)
                report.waiting[rev] = str(decision)
                say(f"stop: {decision}")
                continue
        say(f"applying {rev} ({graph.phase(rev) or 'undeclared'})")
        report.retries += _apply_revision(rev, project, target, engine, ledger, say)
        report.applied.append(rev)


def _database_heads(conn: Any) -> list[str]:
    from expandcontract.ledger.commands import database_heads

    return database_heads(conn)


def _apply_revision(rev: str, project: Project, target: Target, engine: Any, ledger: Ledger, say: Echo) -> int:
    """Apply one revision with retries; returns how many retries it took."""
    settings: RunnerSettings = target.settings.runner
    phase = project.graph.phase(rev)
    with connect(engine) as conn, conn.begin():
        run_id = ledger.start_run(conn, target.environment, rev, phase)
    attempt = 0
    delay = settings.retry_initial_delay
    while True:
        attempt += 1
        outcome = _attempt(rev, project, engine, settings)
        if outcome.error is None:
            with connect(engine) as conn, conn.begin():
                ledger.finish_run(conn, run_id, "done", attempts=attempt)
                ledger.log(
                    conn, target.environment, "apply", details={"revision": rev, "phase": phase, "attempts": attempt}
                )
            return attempt - 1
        retryable = outcome.lock_timeout and not outcome.partial and attempt <= settings.retries
        if retryable:
            say(f"  lock timeout on {rev} (attempt {attempt}); retrying in {delay:.1f}s")
            time.sleep(delay)
            delay = min(delay * 2, settings.retry_max_delay)
            continue
        detail = outcome.error
        with connect(engine) as conn, conn.begin():
            # A partial run stays in progress: the schema is half-changed and needs a person.
            ledger.finish_run(
                conn, run_id, "in_progress" if outcome.partial else "failed", attempts=attempt, error=detail
            )
            ledger.log(
                conn,
                target.environment,
                "fail",
                reason=detail,
                details={"revision": rev, "partial": outcome.partial, "attempts": attempt},
            )
        raise MigrationFailed(rev, detail, partial=outcome.partial, attempts=attempt)


def _online_progress(say: Echo, every: float = 5.0) -> Any:
    """A line per online change every few seconds, and at the end of the copy."""
    last: dict[str, float] = {}

    def report(table: str, progress: Any) -> None:
        now = time.monotonic()
        done = progress.percent is not None and progress.percent >= 100.0
        if done and last.get(table) == -1.0:
            return
        if not done and now - last.get(table, 0.0) < every:
            return
        last[table] = -1.0 if done else now
        percent = f"{progress.percent:.0f}%" if progress.percent is not None else "?"
        eta = f", eta {progress.eta}" if progress.eta and not done else ""
        say(f"  {table}: {percent} copied ({progress.state or 'copying'}{eta})")

    return report


@dataclass
class _Outcome:
    error: str | None = None
    lock_timeout: bool = False
    partial: bool = False


def _attempt(rev: str, project: Project, engine: Any, settings: RunnerSettings) -> _Outcome:
    from alembic.runtime.environment import EnvironmentContext
    from sqlalchemy import event
    from sqlalchemy.exc import DBAPIError

    script = project.script
    # [statement, committed, succeeded]: committed when it ran in autocommit or a COMMIT
    # followed it. The failing statement is kept too: a failed concurrent build leaves debris.
    executed: list[list[Any]] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        autocommit = bool(getattr(conn.connection.dbapi_connection, "autocommit", False))
        executed.append([statement, autocommit, False])

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        executed[-1][2] = True

    def committed(conn: Any) -> None:
        for entry in executed:
            entry[1] = True

    with connect(engine) as conn:
        kind = backend(conn)
        _set_timeouts(conn, kind, settings)
        conn.commit()
        listeners = (("before_cursor_execute", before), ("after_cursor_execute", after), ("commit", committed))
        for name, fn in listeners:
            event.listen(conn, name, fn)

        def upgrade_step(heads: Any, context: Any) -> Any:
            return script._upgrade_revs(rev, heads)

        try:
            with EnvironmentContext(project.config, script, fn=upgrade_step, destination_rev=rev) as env:
                env.configure(connection=conn, transaction_per_migration=True)
                with env.begin_transaction():
                    env.run_migrations()
            conn.commit()
            return _Outcome()
        except Exception as error:  # noqa: BLE001 - every failure is reported with its revision
            conn.rollback()
            for name, fn in listeners:
                event.remove(conn, name, fn)
            statements = [s for s, _, _ in executed]
            succeeded = [(s, done) for s, done, ok in executed if ok]
            if kind == "mysql":
                # DDL commits implicitly: whatever ran, stayed.
                partial = any(_is_schema_change(s) for s, _ in succeeded)
            else:
                # Atomic only up to the first autocommit block, which commits what came before.
                partial = any(done and _is_schema_change(s) for s, done in succeeded)
            orig = getattr(error, "orig", None)
            lock_timeout = isinstance(error, DBAPIError) and _is_lock_timeout(orig, kind)
            if isinstance(error, ExpandContractError):
                text = str(error).strip()  # ec's own errors carry their reasons on the lines after
            else:
                text = (
                    str(orig or error).strip().splitlines()[0] if str(orig or error).strip() else type(error).__name__
                )
            dropped = _drop_invalid_indexes(engine, statements) if kind == "postgresql" else []
            detail = f"{type(orig or error).__name__}: {text}"
            if dropped:
                detail += f" (dropped the INVALID index(es) {', '.join(dropped)} the failed build left)"
            return _Outcome(detail, lock_timeout, partial)
        else:
            for name, fn in listeners:
                event.remove(conn, name, fn)


_CONCURRENT_INDEX = re.compile(
    r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?(\"[^\"]+\"|[\w$]+)", re.I
)


def _drop_invalid_indexes(engine: Any, statements: list[str]) -> list[str]:
    """A failed CREATE INDEX CONCURRENTLY leaves an INVALID index behind; a retry would trip on
    it (or, with IF NOT EXISTS, silently keep a useless index). Drop the ones this attempt made."""
    from sqlalchemy import text

    names = [m.group(1).strip('"') for s in statements for m in [_CONCURRENT_INDEX.search(s)] if m]
    if not names:
        return []
    dropped = []
    with connect(engine).execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name in names:
            invalid = conn.execute(
                text(
                    "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                    "WHERE c.relname = :n AND NOT i.indisvalid"
                ),
                {"n": name},
            ).scalar()
            if invalid:
                conn.execute(text(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"'))
                dropped.append(name)
    return dropped


def _set_timeouts(conn: Any, kind: str, settings: RunnerSettings) -> None:
    from sqlalchemy import text

    if kind == "postgresql":
        conn.execute(text(f"SET lock_timeout = '{int(settings.lock_timeout * 1000)}ms'"))
        conn.execute(text(f"SET statement_timeout = '{int(settings.statement_timeout * 1000)}ms'"))
    elif kind == "mysql":
        # lock_wait_timeout is whole seconds, at least 1.
        conn.execute(text(f"SET SESSION lock_wait_timeout = {max(1, round(settings.lock_timeout))}"))


def _is_lock_timeout(orig: Any, kind: str) -> bool:
    if kind == "postgresql":
        return getattr(orig, "sqlstate", None) == "55P03"  # lock_not_available
    if kind == "mysql":
        return bool(getattr(orig, "args", None)) and orig.args[0] == 1205  # ER_LOCK_WAIT_TIMEOUT
    return False


def _is_schema_change(statement: str) -> bool:
    head = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
    return (
        head in {"CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE", "INSERT", "UPDATE", "DELETE", "REPLACE"}
        and "alembic_version" not in statement
    )
