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
from expandcontract.db import backend, connect, create_engine, server_target
from expandcontract.errors import ExpandContractError, GateClosed, InterruptedRunError, MigrationFailed
from expandcontract.ledger.commands import Target, resolve_target
from expandcontract.ledger.drift import invalid_indexes, schema_ahead
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
    is closed. In the two-branch layout contract revisions are left to :func:`contract`.

    ``resume=True`` reruns a revision whose earlier run never finished, when it declares
    ``resumable = True``; otherwise such a revision raises :class:`InterruptedRunError`.
    ``usage_override``: a reason to run contract revisions although the usage check
    (``runner.usage-window``) found statements still using what they remove (recorded)."""
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


def downgrade(
    destination: str,
    *,
    reason: str | None = None,
    echo: Echo | None = None,
    **kwargs: Any,
) -> RunReport:
    """Revert revisions down to ``destination`` (a revision, ``-1``, ``base``; Alembic's
    targets), holding the migration lock. Refused (:class:`DowngradeRefused`) when a color that
    is not retired needs a revision it would revert, unless ``reason`` is given (recorded).
    ``RunReport.applied`` lists the reverted revisions, newest first."""
    from alembic.runtime.environment import EnvironmentContext
    from alembic.util import CommandError

    from expandcontract.alembic import check_downgrade
    from expandcontract.errors import ConfigError

    say = echo or (lambda message: None)
    target = resolve_target(**kwargs)
    project = load_project(target.project)
    script = project.script
    engine = create_engine(target.url)
    report = RunReport(target.environment)
    try:
        check_timeouts(backend(engine), target.settings.runner)
        with migration_lock(engine, target.environment, target.settings.runner.advisory_lock_timeout):
            ledger = Ledger(target.settings.ledger)
            with connect(engine) as conn:
                ledger.create(conn)
                conn.commit()
                heads = _database_heads(conn)
                try:
                    steps = script._downgrade_revs(destination, heads)
                except CommandError as error:
                    raise ConfigError(f"cannot downgrade to {destination!r}: {error}") from None
                reverted = [step.revision.revision for step in steps]
                check_downgrade(conn, script, reverted, target.settings, target.environment, reason)
                conn.commit()
            if not reverted:
                say(f"nothing to revert: the database is at or below {destination}")
                return report
            with connect(engine) as conn:
                _set_timeouts(conn, backend(conn), target.settings.runner)
                conn.commit()
                say(f"reverting {', '.join(reverted)}")
                try:
                    with EnvironmentContext(
                        project.config,
                        script,
                        fn=lambda heads, context: script._downgrade_revs(destination, heads),
                        destination_rev=destination,
                    ) as env:
                        env.configure(connection=conn, transaction_per_migration=True)
                        with env.begin_transaction():
                            env.run_migrations()
                    conn.commit()
                except Exception as error:  # noqa: BLE001 - reported with what was reverted
                    conn.rollback()
                    orig = getattr(error, "orig", None)
                    detail = (
                        f"{type(orig or error).__name__}: {str(orig or error).strip().splitlines()[0]} (revisions "
                        "reverted before it stay reverted: each ran in its own transaction; `alembic current`)"
                    )
                    raise MigrationFailed(f"downgrade to {destination}", detail, partial=False) from None
            with connect(engine) as conn, conn.begin():
                ledger.log(
                    conn,
                    target.environment,
                    "downgrade",
                    reason=reason,
                    details={"reverted": reverted, "destination": destination},
                )
            report.applied = reverted
    finally:
        engine.dispose()
    return report


def _run(
    mode: str,
    *,
    echo: Echo | None,
    online: tuple[Callable[[str, Any], None] | None, Callable[[str, Any], None] | None] = (None, None),
    resume: bool = False,
    usage_override: str | None = None,
    **kwargs: Any,
) -> RunReport:
    say = echo or (lambda message: None)
    target = resolve_target(**kwargs)
    project = load_project(target.project)
    engine = create_engine(target.url)
    report = RunReport(target.environment)
    try:
        check_timeouts(backend(engine), target.settings.runner)
        wait = target.settings.runner.advisory_lock_timeout
        with migration_lock(engine, target.environment, wait, on_wait=_waiting(say, engine, target, wait)):
            ledger = Ledger(target.settings.ledger)
            with connect(engine) as conn:
                ledger.create(conn)  # the lazy `ec init`
                conn.commit()
                heads = _database_heads(conn)
                conn.commit()
                plan = project.graph.pending(heads)
                # The gate judges what a revision does, not only what it declares.
                server = server_target(conn, target.settings.target)
                project.graph.classify(plan, target.settings, server, project.source.sys_path)
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
                _apply_plan(mode, plan, project, target, engine, ledger, report, say, resume, usage_override)
    finally:
        engine.dispose()
    return report


def _waiting(say: Echo, engine: Any, target: Target, wait: float) -> Callable[[], None]:
    def waiting() -> None:
        holder = ""
        try:
            with connect(engine) as conn:
                runs = Ledger(target.settings.ledger).runs(conn, None)
            if runs:
                run = runs[-1]
                holder = f": {run.actor} is applying {run.revision} since {run.started_at.isoformat(sep=' ')}"
        except Exception:  # noqa: BLE001 - the ledger may not exist yet; the wait is news enough
            pass
        say(f"waiting up to {wait:g}s for another ec run on this database (the migration lock){holder}")

    return waiting


def _apply_plan(
    mode: str,
    plan: list[str],
    project: Project,
    target: Target,
    engine: Any,
    ledger: Ledger,
    report: RunReport,
    say: Echo,
    resume: bool = False,
    usage_override: str | None = None,
) -> None:
    graph = project.graph
    held: set[str] = set()
    with connect(engine) as conn:
        ahead = schema_ahead(conn, graph, plan)
        debris = invalid_indexes(conn)
    for rev in plan:
        blocked_parent = next((p for p in graph.parents(rev) if p in held), None)
        if blocked_parent:
            held.add(rev)
            report.waiting[rev] = f"after {blocked_parent}, which is not applied"
            continue
        why = graph.contract_reason(rev)
        if why is not None:
            if why != "declared contract":
                say(f"  {rev} is gated as a contract revision: {why}")
            if mode == "expand" and graph.branched:
                held.add(rev)
                report.waiting[rev] = f"contract revision ({why}): run `ec contract` after the old color is retired"
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
            _check_usage(rev, graph, engine, ledger, target, say, usage_override)
        with connect(engine) as conn:
            interrupted = [r for r in ledger.runs(conn, None) if r.revision == rev]
        if interrupted or rev in ahead:
            _check_resumable(rev, graph, interrupted, ahead.get(rev, []), debris, resume)
            say(f"resuming {rev}: it declares resumable = True")
        say(f"applying {rev} ({graph.run_phase(rev)})")
        report.retries += _apply_revision(rev, project, target, engine, ledger, say)
        if interrupted:
            with connect(engine) as conn, conn.begin():
                for old in interrupted:
                    ledger.finish_run(conn, old.id, "resolved", attempts=old.attempts, error=old.error)
                ledger.log(
                    conn,
                    target.environment,
                    "resume",
                    details={"revision": rev, "closed_runs": [r.id for r in interrupted]},
                )
        report.applied.append(rev)


def _check_usage(
    rev: str, graph: Any, engine: Any, ledger: Ledger, target: Target, say: Echo, override: str | None
) -> None:
    """With ``runner.usage-window`` set: before a contract revision runs, watch the statement
    statistics that long; refuse while anything still uses what the revision removes (or while
    nothing can tell), unless overridden with a reason (recorded)."""
    from expandcontract.errors import UsageFound, UsageUnknown
    from expandcontract.verify.usage import StatisticsUnavailable, removed_objects, watch

    window = target.settings.runner.usage_window
    removed = removed_objects(graph.captured.get(rev, []))
    if window <= 0 or not removed:
        return
    say(f"  watching statement statistics for {window:g}s: does anything still use {rev}'s removals?")
    with connect(engine) as conn:
        from expandcontract.db import server_target

        dialect = server_target(conn, target.settings.target).dialect
        try:
            found = watch(conn, {rev: removed}, window, dialect)
            problem: ExpandContractError | None = UsageFound(rev, found) if found else None
        except StatisticsUnavailable as error:
            problem = UsageUnknown(str(error))
    if problem is None:
        return
    if not (override and override.strip()):
        raise problem
    with connect(engine) as conn, conn.begin():
        ledger.log(
            conn,
            target.environment,
            "usage-overridden",
            reason=override,
            details={"revision": rev, "why": str(problem)},
        )
    say(f"  overridden (recorded): {problem}")


def resumable(path: Any) -> bool:
    """The revision declares ``resumable = True``: rerunning it after a partial run is safe
    (its statements check before they act; ec's recipes are written so)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return re.search(r"^resumable\s*=\s*True\b", text, re.M) is not None


def _check_resumable(
    rev: str, graph: Any, interrupted: list[Any], ahead: list[str], debris: list[str], resume: bool
) -> None:
    if resume and resumable(graph.revisions[rev].path):
        return
    found = [f"{what} already exists, though the version table says {rev} is not applied" for what in ahead]
    found += [f"INVALID index {name} (left by an interrupted CREATE INDEX CONCURRENTLY)" for name in debris]
    if interrupted:
        last = interrupted[-1]
        started, who = last.started_at.isoformat(sep=" "), last.actor
        if last.error:
            found.insert(0, f"its run failed part-way: {last.error.splitlines()[0]}")
    else:
        started, who = "an unknown time", "someone (no ec run is recorded: by hand, or plain alembic)"
    steps = []
    if resumable(graph.revisions[rev].path):
        steps.append(f"it declares resumable = True: `ec expand --resume` (or `ec contract --resume`) reruns {rev}")
    else:
        steps.append(
            f"if {rev} is safe to rerun (every statement checks before it acts), declare `resumable = True` in it "
            "and run `ec expand --resume`"
        )
    steps += [
        f"finish {rev} by hand, then `alembic stamp {rev}` and `ec resolve {rev} --reason '...'`",
        f"undo what {rev} did, then `ec resolve {rev} --reason '...'` and run it again",
    ]
    raise InterruptedRunError(rev, started, who, steps, found)


def _database_heads(conn: Any) -> list[str]:
    from expandcontract.ledger.commands import database_heads

    return database_heads(conn)


def _apply_revision(rev: str, project: Project, target: Target, engine: Any, ledger: Ledger, say: Echo) -> int:
    """Apply one revision with retries; returns how many retries it took."""
    settings: RunnerSettings = target.settings.runner
    phase = project.graph.run_phase(rev)
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
        what = "backfilled" if progress.engine == "backfill" else "copied"
        say(f"  {table}: {percent} {what} ({progress.state or 'copying'}{eta})")

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


def check_timeouts(kind: str, settings: RunnerSettings) -> None:
    """MySQL/MariaDB take lock_wait_timeout in whole seconds: a shorter or fractional setting
    would silently become another one (200ms measured as a 1 s stall), so it is refused."""
    from expandcontract.errors import ConfigError

    seconds = settings.lock_timeout_for(kind)
    if kind == "mysql" and (seconds < 1 or seconds != int(seconds)):
        raise ConfigError(
            f"runner.lock-timeout = {seconds:g}s cannot be honoured on MySQL/MariaDB, whose lock_wait_timeout "
            "is whole seconds (at least 1s); set it to 1s, 2s, ... (a write behind the migration then waits "
            "up to that long)",
            key="runner.lock-timeout",
        )


def _set_timeouts(conn: Any, kind: str, settings: RunnerSettings) -> None:
    from sqlalchemy import text

    if kind == "postgresql":
        conn.execute(text(f"SET lock_timeout = '{int(settings.lock_timeout_for(kind) * 1000)}ms'"))
        conn.execute(text(f"SET statement_timeout = '{int(settings.statement_timeout * 1000)}ms'"))
    elif kind == "mysql":
        # Whole seconds, at least 1 (check_timeouts refused anything else).
        conn.execute(text(f"SET SESSION lock_wait_timeout = {int(settings.lock_timeout_for(kind))}"))


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
