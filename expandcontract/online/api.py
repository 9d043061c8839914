"""``online.alter()`` and ``ec online-alter``: decide, record, run, clean up."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from expandcontract.config import Settings, find_config, load_settings
from expandcontract.errors import ConfigError, ExpandContractError
from expandcontract.online.preflight import (
    OnlineRefused,
    ServerFacts,
    TableFacts,
    check_table_name,
    ghost_problems,
    metadata_lock_problems,
    ptosc_problems,
    server_facts,
    table_facts,
    trigger_problem,
)
from expandcontract.online.progress import Progress

ENGINES = ("auto", "gh-ost", "pt-online-schema-change", "plain")

#: Set by ``ec expand``/``ec contract`` while revisions run: where an online change inside a
#: revision says what it decided and how far it got (``(on_plan(table, plan), on_progress(table, p))``).
_REPORTER: contextvars.ContextVar[tuple[Callable[[str, Plan], None], Callable[[str, Progress], None]] | None] = (
    contextvars.ContextVar("expandcontract_online_reporter", default=None)
)


@contextlib.contextmanager
def reporting(on_plan: Callable[[str, Plan], None], on_progress: Callable[[str, Progress], None]) -> Iterator[None]:
    """Online changes run inside the block report their decision and progress here."""
    token = _REPORTER.set((on_plan, on_progress))
    try:
        yield
    finally:
        _REPORTER.reset(token)


class OnlineFailed(ExpandContractError):
    """The tool failed; the original table is intact and its leftovers were removed."""

    exit_code = 1

    def __init__(self, table: str, engine: str, reason: str, cleaned: list[str]) -> None:
        self.table = table
        self.engine = engine
        self.reason = reason
        self.cleaned = cleaned
        tidy = f" Removed: {', '.join(cleaned)}." if cleaned else ""
        super().__init__(f"{engine} failed on {table}: {reason}. The original table is intact.{tidy}")


class OnlineAborted(OnlineFailed):
    """Interrupted (Ctrl-C / SIGTERM) and cleaned up."""


class OnlineCutoverRefused(ExpandContractError):
    """The copy no longer matches the original: the postponed cut-over was not released."""

    exit_code = 1

    def __init__(self, table: str, why: str) -> None:
        self.table = table
        self.why = why
        super().__init__(
            f"cut-over of {table} not released: {why}. gh-ost still holds it; `ec online-abort {table}` stops the run"
        )


class OnlineLost(ExpandContractError):
    """A recorded online run whose process is gone: nothing can be cut over or waited for."""

    exit_code = 1

    def __init__(self, table: str, message: str) -> None:
        self.table = table
        super().__init__(message)


@dataclass
class Plan:
    engine: str
    reason: str
    rows: int
    bytes: int

    def to_dict(self) -> dict[str, object]:
        return {"engine": self.engine, "reason": self.reason, "rows": self.rows, "bytes": self.bytes}


@dataclass
class OnlineResult:
    table: str
    plan: Plan
    state: str
    seconds: float = 0.0
    progress: Progress | None = None
    cleaned: list[str] = field(default_factory=list)
    #: The tool's command line (credentials are never on it), for the record and for tests.
    argv: list[str] | None = None
    #: What the comparison of the copy with the original found before the cut-over (gh-ost).
    verification: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "table": self.table,
            "plan": self.plan.to_dict(),
            "state": self.state,
            "seconds": self.seconds,
            "progress": self.progress.to_dict() if self.progress else None,
            "argv": self.argv,
            "verification": self.verification,
        }


def _check_clause(alter: str) -> str:
    clause = alter.strip().rstrip(";").strip()
    if not clause or ";" in clause or "\n" in clause or "\r" in clause:
        raise ConfigError(
            "the ALTER clause must be one clause list such as \"MODIFY COLUMN c BIGINT\" (no ';' or line breaks)"
        )
    if clause.upper().startswith("ALTER TABLE"):
        raise ConfigError('give only the clauses after ALTER TABLE <table>, e.g. "ADD COLUMN c INT"')
    return clause


def _all_instant(table: str, clause: str, server: ServerFacts) -> bool:
    """INSTANT-able per the same knowledge as lint rule EC404."""
    from expandcontract.dialects import Target
    from expandcontract.rules.ec404_large_table_online_tool import is_instant
    from expandcontract.sql.normalize import parse_statement

    target = Target("mariadb" if server.is_mariadb else "mysql", server.version_tuple or (8, 0))
    changes = parse_statement(f"ALTER TABLE {table} {clause}", target)
    return bool(changes) and all(is_instant(change, target) for change in changes)


def plan(
    conn: Any,
    table: str,
    alter: str,
    *,
    engine: str = "auto",
    settings: Settings | None = None,
    ghost_bin: str | None = None,
    ptosc_bin: str | None = None,
    extra_args: list[str] | None = None,
    resume: bool = False,
) -> tuple[Plan, ServerFacts, TableFacts]:
    """How ``alter`` will run on ``table``, and why. ``extra_args``: the tool flags the run
    will get (some change what is safe). ``resume``: the lost run's ghost tables are expected."""
    settings = settings or Settings()
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}")
    check_table_name(table)
    clause = _check_clause(alter)
    server, facts = server_facts(conn), table_facts(conn, table)
    if resume:
        facts.leftovers = [t for t in facts.leftovers if t not in (f"_{table}_gho", f"_{table}_ghc")]
    threshold = settings.online_threshold_rows
    size = f"~{facts.rows:,} rows, {facts.bytes / 1e6:.1f} MB"
    if engine == "auto" and abs(facts.rows - threshold) <= threshold * 0.1:
        # information_schema's row count is an estimate (measured: 997,279 for 1,000,000 rows);
        # this close to the threshold, the side it falls on decides between a copy and a lock.
        from sqlalchemy import text

        facts.rows = int(conn.execute(text(f"SELECT COUNT(*) FROM `{table}`")).scalar() or 0)
        conn.rollback()
        size = f"{facts.rows:,} rows (counted), {facts.bytes / 1e6:.1f} MB"
    if engine == "plain":
        return Plan("plain", f"plain ALTER requested ({size})", facts.rows, facts.bytes), server, facts
    if engine == "auto":
        if facts.rows < threshold:
            return (
                Plan(
                    "plain",
                    f"{size}, under the {threshold:,}-row threshold: a plain ALTER is quick",
                    facts.rows,
                    facts.bytes,
                ),
                server,
                facts,
            )
        if _all_instant(table, clause, server):
            return (
                Plan(
                    "instant",
                    f"{size}, but the change is INSTANT (metadata only) on this server",
                    facts.rows,
                    facts.bytes,
                ),
                server,
                facts,
            )
    reasons: list[str] = []
    if engine in ("auto", "gh-ost"):
        from expandcontract.online.ghost import GhostBinary, mariadb_incompatible

        problems = ghost_problems(server, facts)
        build = "gh-ost"
        try:
            binary = GhostBinary.find(ghost_bin)
            build = binary.describe()
            incompatible = mariadb_incompatible(binary, server)
            if incompatible:
                problems.insert(0, incompatible)
            if binary.check_flags(["--skip-metadata-lock-check"]) is None:  # a build with the check
                problems += metadata_lock_problems(server, [*settings.online.ghost_args, *(extra_args or [])])
        except OnlineRefused as refused:
            problems = refused.reasons + problems
        if not problems:
            return (
                Plan(
                    "gh-ost",
                    f"{size}, at or over the {threshold:,}-row threshold: copy online with {build}",
                    facts.rows,
                    facts.bytes,
                ),
                server,
                facts,
            )
        reasons += [f"gh-ost: {p}" for p in problems]
        if engine == "gh-ost":
            raise OnlineRefused(table, problems)
    try:
        from expandcontract.online.ptosc import find_ptosc

        find_ptosc(ptosc_bin)
        problems = ptosc_problems(server, facts, [*settings.online.ptosc_args, *(extra_args or [])])
        trigger = trigger_problem(conn) if server.log_bin else None
        if trigger:
            problems.append(trigger)
    except OnlineRefused as refused:
        problems = refused.reasons
    if not problems:
        why = f"{size}, at or over the {threshold:,}-row threshold: copy online with pt-online-schema-change"
        if reasons:
            why += f" (gh-ost not usable: {reasons[0].removeprefix('gh-ost: ')})"
        return Plan("pt-online-schema-change", why, facts.rows, facts.bytes), server, facts
    raise OnlineRefused(table, reasons + [f"pt-online-schema-change: {p}" for p in problems])


def _in_alembic() -> Any:
    """The running Alembic MigrationContext, if alter() is called from a revision."""
    try:
        from alembic import op

        return op.get_context()
    except Exception:  # noqa: BLE001 - no Alembic proxy installed: not inside a migration
        return None


def alter(
    table: str,
    alter: str,
    *,
    engine: str = "auto",
    execute: bool = True,
    postpone: bool = False,
    cut_over: Callable[[Any], None] | None = None,
    url: str | None = None,
    environment: str | None = None,
    settings: Settings | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    ghost_bin: str | None = None,
    ptosc_bin: str | None = None,
    keep_old_table: bool = True,
    extra_args: list[str] | None = None,
    resume: bool = False,
    revert_from: str | None = None,
) -> OnlineResult:
    """Run ``ALTER TABLE table <alter>`` without blocking writes on a large table.

    Small tables (under ``online-threshold-rows``) and INSTANT changes run as a plain ALTER;
    others go through gh-ost (when installed and the server allows it) or
    pt-online-schema-change. ``execute=False`` validates only (gh-ost noop / pt-osc
    ``--dry-run``). With ``postpone`` gh-ost copies everything and waits for the cut-over:
    ``cut_over(run)`` is called once it is ready (call ``run.cut_over()`` when you are), or a
    later ``ec online-cutover TABLE`` releases it. Called from an Alembic revision, it uses
    the migration's database; rendering offline (``--sql``) it only writes a marker comment.
    ``resume`` picks up a lost gh-ost run of the same change (its process killed) from its last
    checkpoint instead of starting over. ``revert_from`` (see :func:`online_revert`) swaps back
    the old table a finished gh-ost change kept.
    """
    import os

    from sqlalchemy.exc import SQLAlchemyError

    from expandcontract.db import connect, create_engine, resolve_url
    from expandcontract.ledger.store import Ledger

    context = _in_alembic()
    if context is not None and context.as_sql:
        from alembic import op

        op.execute(
            f"-- expandcontract online.alter: ALTER TABLE {table} {_check_clause(alter)} "
            f"(engine {engine}, chosen when the migration runs)"
        )
        return OnlineResult(table, Plan("offline", "rendering offline: nothing ran", 0, 0), "offline")
    if settings is None:
        from pathlib import Path

        settings = load_settings(find_config(Path.cwd()))
    if url is None and context is not None and context.connection is not None:
        url = context.connection.engine.url.render_as_string(hide_password=False)
    url = resolve_url(url, settings)
    env = environment or os.environ.get("EC_ENVIRONMENT") or settings.environment
    ghost_bin = ghost_bin or settings.online.ghost_bin
    ptosc_bin = ptosc_bin or settings.online.ptosc_bin
    from expandcontract.online.process import Interrupted, interrupts_as_exception

    engine_ = create_engine(url)
    started = time.monotonic()
    try:
        # One guard from the start record to the end record: a signal aborts the tool, and the
        # cleanup and the record after it cannot be cut short by another signal.
        with interrupts_as_exception(), connect(engine_) as conn:
            resumed = _lost_run(conn, settings, env, table, _check_clause(alter)) if resume else None
            chosen, server, _facts = plan(
                conn,
                table,
                alter,
                engine="gh-ost" if resume or revert_from else engine,
                settings=settings,
                ghost_bin=ghost_bin,
                ptosc_bin=ptosc_bin,
                extra_args=extra_args,
                resume=resume,
            )
            conn.rollback()
            reporter = _REPORTER.get()
            if reporter is not None:
                reporter[0](table, chosen)
                if on_progress is None:
                    on_progress = functools.partial(reporter[1], table)
            ledger = Ledger(settings.ledger)
            try:
                action = "online-revert" if revert_from else "online-start"
                run_id = _record_start(conn, ledger, env, table, chosen, alter, action) if execute else None
            except SQLAlchemyError as error:
                conn.rollback()
                detail = str(getattr(error, "orig", error)).splitlines()[0]
                raise OnlineRefused(
                    table,
                    [
                        f"cannot record the run in the expandcontract ledger ({detail}); the "
                        "account needs SELECT/INSERT/UPDATE on the ledger tables (`ec init` "
                        "creates them)"
                    ],
                ) from None
            if resumed is not None and run_id is not None:
                from expandcontract.ledger.store import utcnow

                _update(
                    conn,
                    ledger,
                    int(resumed["id"]),
                    state="resumed",
                    finished_at=utcnow(),
                    result=f"resumed by run {run_id}",
                    postponed=False,
                )
            result = OnlineResult(table, chosen, "validated" if not execute else "running")
            run_report: dict[str, Any] = {}
            on_progress = _recording_progress(url, ledger, run_id, on_progress)
            ptosc_call = functools.partial(
                _ptosc,
                url,
                conn,
                table,
                _check_clause(alter),
                execute,
                server,
                on_progress,
                ptosc_bin,
                keep_old_table,
                [*settings.online.ptosc_args, *(extra_args or [])],
                record=(ledger, run_id),
            )
            try:
                if chosen.engine in ("plain", "instant"):
                    _plain(conn, table, _check_clause(alter), chosen, execute, settings)
                elif chosen.engine == "gh-ost":
                    ghost_call = functools.partial(
                        _ghost,
                        url,
                        conn,
                        ledger,
                        run_id,
                        table,
                        _check_clause(alter),
                        execute,
                        postpone,
                        cut_over,
                        on_progress,
                        ghost_bin,
                        keep_old_table,
                        [*settings.online.ghost_args, *(extra_args or [])],
                        cut_over_lock_timeout=settings.online.cut_over_lock_timeout,
                        checkpoint_seconds=settings.online.checkpoint_seconds,
                        resume=resume,
                        revert_from=revert_from,
                        report=run_report,
                    )
                    try:
                        result.progress = ghost_call()
                    except OnlineRefused as refused:
                        if engine != "auto" or postpone or resume or revert_from:
                            raise
                        # gh-ost's own validation said no (a check ec cannot make beforehand):
                        # auto mode tries pt-online-schema-change, and says why.
                        fallback, _, _ = plan(
                            conn,
                            table,
                            alter,
                            engine="pt-online-schema-change",
                            settings=settings,
                            ptosc_bin=ptosc_bin,
                            extra_args=extra_args,
                        )
                        chosen = Plan(
                            fallback.engine,
                            f"{fallback.reason}; gh-ost could not run: {'; '.join(refused.reasons)}",
                            fallback.rows,
                            fallback.bytes,
                        )
                        result.plan = chosen
                        _update(conn, ledger, run_id, engine=chosen.engine, reason=chosen.reason)
                        result.progress = ptosc_call()
                else:
                    result.progress = ptosc_call()
                result.argv = run_report.get("argv")
                result.verification = run_report.get("verification")
            except OnlineFailed as failure:
                _record_end(
                    conn, ledger, run_id, "aborted" if isinstance(failure, OnlineAborted) else "failed", failure.reason
                )
                raise
            except OnlineRefused as refused:
                _record_end(conn, ledger, run_id, "refused", "; ".join(refused.reasons))
                raise
            except Interrupted as interrupted:
                _record_end(conn, ledger, run_id, "aborted", f"interrupted by {interrupted}")
                raise OnlineAborted(table, chosen.engine, f"interrupted by {interrupted}", []) from None
            except BaseException as error:
                # Whatever ends the run (a bug, a lost connection, KeyboardInterrupt), the start
                # record must not stay "running": it would hold the contract gate shut for good.
                with contextlib.suppress(Exception):
                    _record_end(conn, ledger, run_id, "failed", f"{type(error).__name__}: {error}"[:2000])
                raise
            result.state = "done" if execute else "validated"
            result.seconds = time.monotonic() - started
            _record_end(conn, ledger, run_id, result.state, None, percent=100.0 if execute else None)
            return result
    finally:
        engine_.dispose()


def _lost_run(conn: Any, settings: Settings, env: str, table: str, clause: str) -> dict[str, Any]:
    """The lost gh-ost run of ``table`` a resume picks up; refused unless it is the same change
    and nothing still runs it."""
    from pathlib import Path

    from expandcontract.ledger.store import Ledger, active_online_runs
    from expandcontract.online.ghost import ghost_socket_send

    ledger = Ledger(settings.ledger)
    ledger.create(conn)
    conn.commit()
    runs = [
        r
        for r in active_online_runs(conn, ledger, env)
        if r["table_name"] == table and r["engine"] == "gh-ost" and r["liveness"] == "lost"
    ]
    if not runs:
        raise OnlineRefused(
            table, [f"nothing to resume: no lost gh-ost run of {table} (`ec status` lists the online runs)"]
        )
    run = runs[-1]
    if run["alter_clause"] != clause:
        raise OnlineRefused(table, [f"the lost run of {table} was {run['alter_clause']}, not {clause}"])
    socket_path = Path(run.get("run_dir") or "/nonexistent") / "gh-ost.sock"
    with contextlib.suppress(OSError):
        ghost_socket_send(socket_path, "sup", timeout=1.0)
        raise OnlineRefused(table, [f"its gh-ost still answers on {socket_path}: it is not lost"])
    return run


def _recording_progress(
    url: str, ledger: Any, run_id: int | None, callback: Callable[[Progress], None] | None
) -> Callable[[Progress], None]:
    """Pass progress on, and write it to the ledger at most every 2 s (own connection: the
    tool's output is read on another thread)."""
    from expandcontract.db import create_engine

    last = [0.0]

    failed: list[str] = []

    def record(progress: Progress) -> None:
        if callback is not None and not failed:
            try:
                callback(progress)
            except Exception as error:  # noqa: BLE001 - a reader gone (closed stderr) stops only itself
                failed.append(str(error))
                logging.getLogger("expandcontract.online").warning(
                    "progress display stopped (%s); the run and its record go on", error
                )
        if run_id is None or time.monotonic() - last[0] < 2.0 or progress.percent is None:
            return
        last[0] = time.monotonic()
        from sqlalchemy import update

        from expandcontract.ledger.store import utcnow

        engine_ = create_engine(url)
        try:
            with engine_.begin() as conn:
                conn.execute(
                    update(ledger.t.online)
                    .where(ledger.t.online.c.id == run_id)
                    .values(percent=progress.percent, heartbeat_at=utcnow())
                )
        finally:
            engine_.dispose()

    return record


def _record_start(
    conn: Any, ledger: Any, env: str, table: str, chosen: Plan, alter: str, action: str = "online-start"
) -> int:
    import os
    import socket

    from sqlalchemy import insert

    from expandcontract.ledger.store import actor, utcnow

    ledger.create(conn)
    result = conn.execute(
        insert(ledger.t.online).values(
            environment=env,
            table_name=table,
            engine=chosen.engine,
            alter_clause=alter,
            state="running",
            reason=chosen.reason,
            started_at=utcnow(),
            actor=actor(),
            postponed=False,
            pid=os.getpid(),
            host=socket.gethostname(),
            heartbeat_at=utcnow(),
        )
    )
    ledger.log(
        conn,
        env,
        action,
        details={"table": table, "engine": chosen.engine, "alter": alter, "why": chosen.reason},
    )
    conn.commit()
    return int(result.inserted_primary_key[0])


def _record_end(
    conn: Any, ledger: Any, run_id: int | None, state: str, result: str | None, percent: float | None = None
) -> None:
    if run_id is None:
        return
    from sqlalchemy import select, update

    from expandcontract.ledger.store import utcnow

    conn.rollback()
    t = ledger.t.online
    values: dict[str, Any] = {"state": state, "finished_at": utcnow(), "result": result, "postponed": False}
    if percent is not None:
        values["percent"] = percent
    conn.execute(update(t).where(t.c.id == run_id).values(**values))
    row = conn.execute(
        select(t.c.environment, t.c.table_name, t.c.engine, t.c.started_at, t.c.finished_at).where(t.c.id == run_id)
    ).one()
    seconds = (row[4] - row[3]).total_seconds() if row[3] and row[4] else None
    ledger.log(
        conn,
        row[0],
        f"online-{state}",
        reason=result,
        details={"table": row[1], "engine": row[2], "run": run_id, "seconds": seconds},
    )
    conn.commit()


def _update(conn: Any, ledger: Any, run_id: int | None, **values: Any) -> None:
    if run_id is None:
        return
    from sqlalchemy import update

    t = ledger.t.online
    conn.execute(update(t).where(t.c.id == run_id).values(**values))
    conn.commit()


def _plain(conn: Any, table: str, clause: str, chosen: Plan, execute: bool, settings: Settings) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    if not execute:
        return
    conn.execute(text(f"SET SESSION lock_wait_timeout = {max(1, round(settings.runner.lock_timeout_for('mysql')))}"))
    statement = f"ALTER TABLE `{table}` {clause}"
    if chosen.engine == "instant":
        statement += ", ALGORITHM=INSTANT"
    try:
        conn.execute(text(statement))
        conn.commit()
    except DBAPIError as error:
        conn.rollback()
        reason = str(getattr(error, "orig", error)).splitlines()[0]
        raise OnlineFailed(table, chosen.engine, reason, []) from None


def _ghost(
    url: str,
    conn: Any,
    ledger: Any,
    run_id: int | None,
    table: str,
    clause: str,
    execute: bool,
    postpone: bool,
    cut_over: Callable[[Any], None] | None,
    on_progress: Callable[[Progress], None] | None,
    ghost_bin: str | None,
    keep_old_table: bool,
    extra: list[str],
    *,
    cut_over_lock_timeout: int = 1,
    checkpoint_seconds: int | None = None,
    resume: bool = False,
    revert_from: str | None = None,
    report: dict[str, Any] | None = None,
) -> Progress | None:
    """``report`` receives the command line (``argv``) and the copy check (``verification``)."""
    import threading

    from expandcontract.online import ghost
    from expandcontract.online.process import Interrupted
    from expandcontract.online.rundir import ConnectionInfo, RunDir
    from expandcontract.online.verify import CopyCheck

    report = report if report is not None else {}
    copy_name = revert_from or f"_{table}_gho"  # in a revert, the "copy" is the kept old table

    info = ConnectionInfo.from_url(url)
    binary = ghost.GhostBinary.find(ghost_bin)
    rejected = binary.check_flags(extra)
    if rejected:
        raise OnlineRefused(table, [f"this gh-ost build ({binary.version}) rejects {rejected}"])
    run_dir = RunDir("ec-ghost-")
    _update(conn, ledger, run_id, run_dir=str(run_dir.path))
    try:
        run_dir.ghost_config(info)
        if checkpoint_seconds and binary.check_flags(["--checkpoint"]) is not None:
            checkpoint_seconds = None  # a build without checkpoints (before v1.1.8)
        if (resume or revert_from) and not checkpoint_seconds:
            raise OnlineRefused(
                table, [f"this gh-ost build ({binary.version}) cannot resume or revert (no --checkpoint)"]
            )
        if revert_from:
            extra = [*extra, "--revert", f"--old-table={revert_from}"]
        # A noop run first: gh-ost validates everything and cleans up after itself. (A resumed
        # run has its ghost table already: the noop would refuse it.)
        noop = ghost.GhostRun(table, run_dir)
        code, reason = (
            (0, None)
            if resume or revert_from
            else ghost.run_ghost(
                ghost.build_argv(
                    binary,
                    info,
                    noop,
                    clause,
                    execute=False,
                    postpone=False,
                    keep_old_table=keep_old_table,
                    extra=extra,
                    cut_over_lock_timeout=cut_over_lock_timeout,
                ),
                noop,
                None,
            )
        )
        if code != 0:
            # A validation that fails after gh-ost created its tables leaves _gho/_ghc behind.
            cleaned = ghost.cleanup_after_failure(conn, table)
            conn.commit()
            raise OnlineRefused(
                table, [f"gh-ost's validation run failed: {ghost.explain_failure(reason or '')}"], cleaned=cleaned
            )
        if not execute:
            return noop.progress
        run = ghost.GhostRun(table, run_dir)
        checked: list[CopyCheck] = []
        verifier: list[threading.Thread] = []

        def hold_reached(r: Any) -> None:
            # Runs on the thread that reads gh-ost's stdout: hand the work to another thread, so
            # gh-ost never blocks writing its status while the tables are compared.
            thread = threading.Thread(target=verify_then_release, args=(r,), daemon=True)
            verifier.append(thread)
            thread.start()

        def verify_then_release(r: Any) -> None:
            try:
                check = _verify_ghost_copy(url, table, r.command, cut_over_lock_timeout, copy_name)
            except Exception as error:  # noqa: BLE001 - whatever it is, the copy stays unverified
                check = CopyCheck(table, copy_name, [], [], error=str(error).splitlines()[0][:500])
            checked.append(check)
            if not check.ok:
                r.panic()  # never cut over a copy that lost data
                return
            if not postpone:
                r.cut_over()
                return
            _update(
                conn,
                ledger,
                run_id,
                state="postponed",
                postponed=True,
                socket=str(r.socket_path),
                percent=r.progress.percent if r.progress else None,
            )
            if cut_over is not None:
                cut_over(r)

        # gh-ost always waits for ec at the cut-over: the copy is verified before any swap.
        argv = ghost.build_argv(
            binary,
            info,
            run,
            clause,
            execute=True,
            postpone=True,
            keep_old_table=keep_old_table,
            extra=extra,
            cut_over_lock_timeout=cut_over_lock_timeout,
            checkpoint_seconds=checkpoint_seconds,
            resume=resume,
        )
        report["argv"] = argv
        code, reason = ghost.run_ghost(argv, run, on_progress, hold_reached)
        for thread in verifier:
            thread.join(timeout=60)
        if checked:
            report["verification"] = checked[0].describe()
        if checked and not checked[0].ok:
            cleaned = ghost.cleanup_after_failure(conn, table)
            conn.commit()
            raise OnlineFailed(table, "gh-ost", f"{checked[0].describe()}; the cut-over was not released", cleaned)
        if code != 0 or not run.done:
            cleaned = ghost.cleanup_after_failure(conn, table)
            conn.commit()
            if reason and ("commanded 'panic'" in reason or "panic-file" in reason):
                # Someone stopped it on purpose (`ec online-abort`, a panic flag file).
                raise OnlineAborted(table, "gh-ost", reason, cleaned)
            raise OnlineFailed(table, "gh-ost", reason or f"exit {code} without '# Done'", cleaned)
        progress: Progress | None = run.progress
        return progress
    except Interrupted as interrupted:
        cleaned = ghost.cleanup_after_failure(conn, table)
        conn.commit()
        raise OnlineAborted(
            table, "gh-ost", f"interrupted by {interrupted}; gh-ost was told to panic", cleaned
        ) from None
    finally:
        run_dir.remove()


def _verify_ghost_copy(
    url: str, table: str, command: Callable[[str], str], hold_timeout: int = 1, copy_name: str = ""
) -> Any:
    """Compare gh-ost's copy with the original while gh-ost holds the cut-over."""
    from sqlalchemy import text

    from expandcontract.db import connect, create_engine
    from expandcontract.online.verify import verify_copy

    engine_ = create_engine(url)

    @contextlib.contextmanager
    def quiesce() -> Iterator[None]:
        # Writers wait on the read lock (at most hold_timeout to get it), as they do at the
        # cut-over; gh-ost's applier writes only the copy, so it catches up meanwhile.
        with connect(engine_) as locker:
            locker.execute(text(f"SET SESSION lock_wait_timeout = {max(1, hold_timeout)}"))
            locker.execute(text(f"LOCK TABLES `{table}` READ"))
            try:
                status = locker.execute(text("SHOW MASTER STATUS")).first()
                _wait_until_applied(command, (str(status[0]), int(status[1])) if status else None)
                yield
            finally:
                locker.execute(text("UNLOCK TABLES"))

    try:
        with connect(engine_) as conn:
            return verify_copy(conn, table, copy_name or f"_{table}_gho", quiesce=quiesce)
    finally:
        engine_.dispose()


def _wait_until_applied(command: Callable[[str], str], position: tuple[str, int] | None, timeout: float = 10.0) -> None:
    """Until gh-ost has read the binlog past ``position`` and has nothing queued to apply."""
    from expandcontract.online.progress import parse_ghost_line

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            lines = command("sup").strip().splitlines()
        except OSError:
            lines = []
        status = parse_ghost_line(lines[-1]) if lines else None
        if status is not None and (status.backlog or "").startswith("0/"):
            file, _, pos = (status.streamer or "").rpartition(":")
            if position is None or (pos.isdigit() and (file, int(pos)) >= position):
                time.sleep(0.05)  # the last dequeued event is being written
                return
        time.sleep(0.02)
    raise TimeoutError(f"gh-ost did not apply the binlog up to {position} within {timeout:g}s")


def _ptosc(
    url: str,
    conn: Any,
    table: str,
    clause: str,
    execute: bool,
    server: ServerFacts,
    on_progress: Callable[[Progress], None] | None,
    ptosc_bin: str | None,
    keep_old_table: bool,
    extra: list[str],
    *,
    record: tuple[Any, int | None] | None = None,
) -> Progress | None:
    """``record``: the ledger and run id, to note the run directory (its option file holds the
    password, so `ec online-abort` must find it after a killed run)."""
    from expandcontract.online import ptosc
    from expandcontract.online.process import Interrupted
    from expandcontract.online.rundir import ConnectionInfo, RunDir

    info = ConnectionInfo.from_url(url)
    binary = ptosc.find_ptosc(ptosc_bin)
    run_dir = RunDir("ec-ptosc-")
    if record is not None:
        _update(conn, record[0], record[1], run_dir=str(run_dir.path))
    last: list[Progress] = []

    def track(progress: Progress) -> None:
        last.append(progress)
        if on_progress:
            on_progress(progress)

    try:
        run_dir.client_config(info)
        dry = ptosc.build_argv(
            binary,
            info,
            run_dir,
            table,
            clause,
            execute=False,
            mariadb=server.is_mariadb,
            keep_old_table=keep_old_table,
            extra=extra,
        )
        code, reason, _ = ptosc.run_ptosc(dry, None)
        if code != 0:
            cleaned = ptosc.cleanup_after_failure(conn, table)
            conn.commit()
            raise OnlineRefused(
                table,
                [f"pt-online-schema-change's dry run failed: {reason}"]
                + ([f"removed {', '.join(cleaned)}"] if cleaned else []),
            )
        if not execute:
            return None
        argv = ptosc.build_argv(
            binary,
            info,
            run_dir,
            table,
            clause,
            execute=True,
            mariadb=server.is_mariadb,
            keep_old_table=keep_old_table,
            extra=extra,
        )
        try:
            code, reason, _ = ptosc.run_ptosc(argv, track)
        except Interrupted as interrupted:
            cleaned = ptosc.cleanup_after_failure(conn, table)
            conn.commit()
            raise OnlineAborted(table, "pt-online-schema-change", f"interrupted by {interrupted}", cleaned) from None
        if code != 0:
            cleaned = ptosc.cleanup_after_failure(conn, table)
            conn.commit()
            raise OnlineFailed(table, "pt-online-schema-change", reason or f"exit {code}", cleaned)
        return last[-1] if last else None
    finally:
        run_dir.remove()


def cutover(
    table: str, *, url: str | None = None, environment: str | None = None, settings: Settings | None = None
) -> str:
    """Release a postponed gh-ost cut-over from another process: verify the copy again, then
    remove the postpone flag file (so a failed attempt is retried instead of postponed again)
    and send ``unpostpone``."""
    from pathlib import Path

    from sqlalchemy import select

    from expandcontract.ledger.store import lost_message, online_liveness
    from expandcontract.online.ghost import ghost_socket_send

    settings = settings or load_settings(find_config(Path.cwd()))
    with _ledger_session(url, environment, settings) as (conn, ledger, env):
        t = ledger.t.online
        row = (
            conn.execute(
                select(t)
                .where(t.c.environment == env, t.c.table_name == table, t.c.state == "postponed")
                .order_by(t.c.id.desc())
            )
            .mappings()
            .first()
        )
        if row is None or not row["socket"]:
            raise ConfigError(f"no online change of {table} is waiting for its cut-over in environment {env!r}")
        if online_liveness(dict(row)) == "lost" or not Path(row["socket"]).exists():
            raise OnlineLost(table, lost_message(dict(row)))
        socket_path = Path(row["socket"])
        # The copy was verified when gh-ost first held the cut-over; it may have drifted since.
        check = _verify_ghost_copy(
            str(conn.engine.url.render_as_string(hide_password=False)),
            table,
            lambda line: ghost_socket_send(socket_path, line),
            settings.online.cut_over_lock_timeout,
        )
        if not check.ok:
            ledger.log(
                conn,
                env,
                "online-cutover-refused",
                details={"table": table, "run": row["id"], "why": check.describe()},
            )
            conn.commit()
            raise OnlineCutoverRefused(table, check.describe())
        (socket_path.parent / "postpone.flag").unlink(missing_ok=True)
        try:
            reply = ghost_socket_send(socket_path, f"unpostpone={table}").strip().splitlines()
            answer = reply[0] if reply else "no reply"
        except OSError as error:
            # Nobody listens: gh-ost is gone, whatever the record says.
            raise OnlineLost(
                table,
                f"the gh-ost run of {table} is lost: nothing answers on {socket_path} "
                f"({error.strerror or error}); `ec online-abort {table}` removes what it left",
            ) from None
        ledger.log(conn, env, "online-cutover", details={"table": table, "run": row["id"], "reply": answer})
        conn.commit()
        return f"cut-over of {table} released: {answer}"


@dataclass
class AbortOutcome:
    table: str
    #: Recorded runs closed as aborted.
    runs: int
    #: Tables and triggers removed (never the original table, never a real old table).
    dropped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"table": self.table, "runs": self.runs, "dropped": self.dropped}


@contextlib.contextmanager
def _ledger_session(
    url: str | None, environment: str | None, settings: Settings | None
) -> Iterator[tuple[Any, Any, str]]:
    import os
    from pathlib import Path

    from expandcontract.db import connect, create_engine, resolve_url
    from expandcontract.ledger.store import Ledger

    if settings is None:
        settings = load_settings(find_config(Path.cwd()))
    env = environment or os.environ.get("EC_ENVIRONMENT") or settings.environment
    engine_ = create_engine(resolve_url(url, settings))
    try:
        with connect(engine_) as conn:
            ledger = Ledger(settings.ledger)
            ledger.create(conn)
            conn.commit()
            yield conn, ledger, env
    finally:
        engine_.dispose()


def online_runs(
    *, url: str | None = None, environment: str | None = None, settings: Settings | None = None
) -> list[dict[str, Any]]:
    """Online runs recorded as running or postponed, each with its ``liveness``."""
    from expandcontract.ledger.store import active_online_runs

    with _ledger_session(url, environment, settings) as (conn, ledger, env):
        return active_online_runs(conn, ledger, env)


def online_abort(
    table: str,
    *,
    reason: str | None = None,
    url: str | None = None,
    environment: str | None = None,
    settings: Settings | None = None,
    wait: float = 30.0,
) -> AbortOutcome:
    """Stop ``table``'s online run (a live gh-ost is told to panic and its driver cleans up) or
    clear up after a lost one: drop gh-ost's ``_gho``/``_ghc`` and a cut-over sentry, pt-osc's
    triggers and copy, remove the run directory, and record it. The original table, and an old
    table a successful run kept, are never dropped."""
    import shutil
    from pathlib import Path

    from sqlalchemy import update

    from expandcontract.ledger.store import active_online_runs, utcnow
    from expandcontract.online import ghost, ptosc

    check_table_name(table)
    with _ledger_session(url, environment, settings) as (conn, ledger, env):
        runs = [r for r in active_online_runs(conn, ledger, env) if r["table_name"] == table]
        alive = [r for r in runs if r["liveness"] != "lost"]
        for run in alive:
            socket_path = Path(run.get("run_dir") or "") / "gh-ost.sock" if run.get("run_dir") else None
            if socket_path is not None and socket_path.exists():
                with contextlib.suppress(OSError):
                    ghost.ghost_socket_send(socket_path, f"panic={table}")
        deadline = time.monotonic() + (wait if alive else 0)
        while alive and time.monotonic() < deadline:
            conn.rollback()
            still = {r["id"] for r in active_online_runs(conn, ledger, env)}
            if not still & {r["id"] for r in alive}:
                break  # their drivers recorded the abort and cleaned up
            time.sleep(0.2)
        conn.rollback()
        dropped = ghost.cleanup_after_failure(conn, table) + ptosc.cleanup_after_failure(conn, table)
        t = ledger.t.online
        closed = 0
        for run in active_online_runs(conn, ledger, env):
            if run["table_name"] != table:
                continue
            conn.execute(
                update(t)
                .where(t.c.id == run["id"])
                .values(state="aborted", finished_at=utcnow(), result=reason or "ec online-abort", postponed=False)
            )
            if run.get("run_dir"):
                shutil.rmtree(run["run_dir"], ignore_errors=True)
            closed += 1
        ledger.log(
            conn, env, "online-abort", reason=reason, details={"table": table, "runs": closed, "dropped": dropped}
        )
        conn.commit()
        return AbortOutcome(table, closed, dropped)


def online_resolve(
    table: str,
    *,
    reason: str,
    url: str | None = None,
    environment: str | None = None,
    settings: Settings | None = None,
) -> int:
    """Close ``table``'s running/postponed records as resolved, after handling it by hand (the
    database is not touched). Returns how many records were closed."""
    from sqlalchemy import update

    from expandcontract.ledger.store import active_online_runs, utcnow

    if not reason.strip():
        raise ConfigError("--reason is required: say what was done")
    with _ledger_session(url, environment, settings) as (conn, ledger, env):
        t = ledger.t.online
        ids = [r["id"] for r in active_online_runs(conn, ledger, env) if r["table_name"] == table]
        for run_id in ids:
            conn.execute(
                update(t)
                .where(t.c.id == run_id)
                .values(state="resolved", finished_at=utcnow(), result=reason, postponed=False)
            )
        ledger.log(conn, env, "online-resolve", reason=reason, details={"table": table, "runs": ids})
        conn.commit()
        return len(ids)


def online_revert(
    table: str,
    *,
    reason: str | None = None,
    url: str | None = None,
    environment: str | None = None,
    settings: Settings | None = None,
    ghost_bin: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> OnlineResult:
    """Undo ``table``'s last finished gh-ost change: gh-ost (``--revert``) brings the old table it
    kept up to date from the binlog since that cut-over, ec verifies it, and a second cut-over
    swaps it back; the reverted table is kept as ``_T_<timestamp>_rev_del``. Needs the kept old
    table and gh-ost's checkpoint table (a run with checkpoints keeps both until the next online
    change of the table). A change that cannot be undone (a NOT NULL column dropped, a type
    narrowed with longer values written since) fails in gh-ost, and nothing is swapped."""
    import re

    from sqlalchemy import select, text

    with _ledger_session(url, environment, settings) as (conn, ledger, env):
        names = {
            str(r[0]): str(r[1] or "")
            for r in conn.execute(
                text("SELECT TABLE_NAME, TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()")
            ).all()
        }
        kept = sorted(
            n
            for n, comment in names.items()
            if re.fullmatch(rf"_{re.escape(table)}_\d{{14}}_del", n) and comment != "ghost-cut-over-sentry"
        )
        t = ledger.t.online
        last = conn.execute(
            select(t.c.alter_clause)
            .where(t.c.environment == env, t.c.table_name == table, t.c.engine == "gh-ost", t.c.state == "done")
            .order_by(t.c.id.desc())
        ).first()
        conn.rollback()
        checkpoint = f"_{table}_ghk" in names
        if not kept or not checkpoint or last is None:
            raise OnlineRefused(
                table,
                [
                    f"nothing to revert: no finished gh-ost change of {table} kept its old table and checkpoint "
                    f"(found: {', '.join(kept) or 'no old table'}; {'a' if checkpoint else 'no'} checkpoint table)"
                ],
            )
        target_url = conn.engine.url.render_as_string(hide_password=False)
        if reason:
            ledger.log(conn, env, "online-revert-requested", reason=reason, details={"table": table})
            conn.commit()
    return alter(
        table,
        str(last[0]),
        engine="gh-ost",
        url=target_url,
        environment=env,
        settings=settings,
        ghost_bin=ghost_bin,
        on_progress=on_progress,
        revert_from=kept[-1],
    )
