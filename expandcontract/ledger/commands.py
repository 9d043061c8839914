"""``ec init``, ``ec deploy``, ``ec switch`` (recording), ``ec retire``, ``ec history`` and
``ec status``: importable functions, each the engine of the command with the same name."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expandcontract.config import Settings, find_config, load_settings
from expandcontract.db import connect, create_engine, resolve_url, safe_url
from expandcontract.errors import (
    ConfigError,
    LedgerMissingError,
    RetirementRefused,
    UnknownColorError,
)
from expandcontract.ledger.gate import Gate, GateDecision
from expandcontract.ledger.sessions import SessionCount, count_sessions
from expandcontract.ledger.store import ColorState, Event, Ledger, Run
from expandcontract.migrations.graph import RevisionGraph


@dataclass
class Target:
    """Resolved inputs every database command shares."""

    settings: Settings
    url: str
    environment: str
    project: Path | None

    @property
    def safe_url(self) -> str:
        return safe_url(self.url)


def resolve_target(
    *,
    url: str | None = None,
    environment: str | None = None,
    config: str | os.PathLike[str] | None = None,
    project: str | os.PathLike[str] | None = None,
    settings: Settings | None = None,
) -> Target:
    base = Path(project) if project is not None else Path.cwd()
    if settings is None:
        settings = load_settings(Path(config) if config is not None else find_config(base.resolve()))
    env = environment or os.environ.get("EC_ENVIRONMENT") or settings.environment
    if not env or len(env) > 64:
        raise ConfigError(f"invalid environment name {env!r}")
    return Target(settings, resolve_url(url, settings, base), env, Path(project) if project is not None else None)


@contextlib.contextmanager
def open_ledger(target: Target, *, create: bool = False) -> Iterator[tuple[Any, Ledger]]:
    """A connection and the ledger; creates the tables when ``create`` (the lazy ``ec init``)."""
    engine = create_engine(target.url)
    try:
        with connect(engine) as conn:
            ledger = Ledger(target.settings.ledger)
            present = ledger.exists(conn)
            conn.rollback()  # end the read the inspection began, so callers can begin()
            if not present:
                if not create:
                    raise LedgerMissingError(target.safe_url)
                with conn.begin():
                    ledger.create(conn)
            yield conn, ledger
    finally:
        engine.dispose()


def _validate_color(color: str) -> str:
    import re

    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", color):
        raise ConfigError(f"invalid color name {color!r}: use 1-64 letters, digits, '_', '.' or '-'")
    return color


def init(**kwargs: Any) -> bool:
    """Create the ledger tables if missing (idempotent). True when something was created."""
    target = resolve_target(**kwargs)
    engine = create_engine(target.url)
    try:
        with connect(engine) as conn, conn.begin():
            created = Ledger(target.settings.ledger).create(conn)
            if created:
                Ledger(target.settings.ledger).log(conn, target.environment, "init", details={"url": target.safe_url})
            return created
    finally:
        engine.dispose()


def deploy(
    color: str,
    *,
    version: str,
    expects: list[str] | None = None,
    reason: str | None = None,
    new: bool = False,
    ref: str | None = None,
    **kwargs: Any,
) -> ColorState:
    """Record that ``color`` now runs ``version``, built against ``expects`` (default: the
    heads of the project's migration history). A retired color comes back as idle. ``ref``:
    the git ref of the color's code, so ``ec status`` can check its models (``verify-models``).

    A color the environment does not know yet is accepted while it has fewer than two, or when
    the traffic backend names it; any other needs ``new`` (a misspelt ``grene`` would otherwise
    become a third color that the gate waits for)."""
    _validate_color(color)
    target = resolve_target(**kwargs)
    if not new:
        _check_known_color(target, color)
    from expandcontract.migrations.project import load_project

    graph = load_project(target.project).graph
    expected = list(expects or []) or graph.heads()
    resolved = [graph.resolve(x) for x in expected]
    unknown = [x for x, r in zip(expected, resolved, strict=True) if r is None]
    if unknown:
        raise ConfigError(f"--expects names revision(s) unknown to this project: {', '.join(unknown)}")
    expected = [r for r in resolved if r]
    with open_ledger(target, create=True) as (conn, ledger), conn.begin():
        before = ledger.color(conn, target.environment, color, for_update=True)
        state = "idle" if before is None or before.state == "retired" else before.state
        return ledger.upsert_color(
            conn,
            target.environment,
            color,
            action="deploy",
            reason=reason,
            details={"version": version, "expects": expected, **({"ref": ref} if ref else {})},
            state=state,
            version=version,
            expects=expected,
        )


def _check_known_color(target: Target, color: str) -> None:
    import difflib

    from expandcontract.traffic.backends import build_backend

    with open_ledger(target, create=True) as (conn, ledger):
        known = [c.color for c in ledger.colors(conn, target.environment)]
    if color in known:
        return
    try:
        backend = build_backend(target.settings, target.environment)
    except ConfigError:
        backend = None  # a traffic-config mistake stops `ec switch`, not the record of a deploy
    configured = list(backend.colors) if backend is not None else []
    if color in known or color in configured or (len(known) < 2 and not configured):
        return
    candidates = sorted(set(known) | set(configured))
    close = difflib.get_close_matches(color, candidates, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UnknownColorError(
        target.environment, color, tuple(known), hint=f"{hint} Pass --new to add {color!r} as a new color"
    )


def forget(color: str, *, reason: str, **kwargs: Any) -> None:
    """Remove ``color`` from the environment's ledger: only a color that never took traffic (a
    mistaken ``ec deploy``). Recorded in the event log with ``reason``."""
    from sqlalchemy import delete, select

    _validate_color(color)
    if not reason or not reason.strip():
        raise ConfigError("--reason is required: say why the color is removed")
    target = resolve_target(**kwargs)
    with open_ledger(target, create=True) as (conn, ledger), conn.begin():
        current = ledger.color(conn, target.environment, color, for_update=True)
        if current is None:
            known = tuple(c.color for c in ledger.colors(conn, target.environment))
            raise UnknownColorError(target.environment, color, known)
        e = ledger.t.events
        took_traffic = conn.execute(
            select(e.c.id).where(e.c.environment == target.environment, e.c.color == color, e.c.to_state == "live")
        ).first()
        if took_traffic is not None or current.state in ("live", "draining") or current.weight:
            raise ConfigError(
                f"{color} has taken traffic: it is retired, never forgotten (`ec retire {color}`), so the "
                "record of who ran what stays"
            )
        c = ledger.t.colors
        conn.execute(delete(c).where(c.c.environment == target.environment, c.c.color == color))
        ledger.log(
            conn,
            target.environment,
            "forget",
            color=color,
            from_state=current.state,
            reason=reason,
            details={"version": current.version},
        )


def switch(color: str, *, reason: str | None = None, **kwargs: Any) -> list[ColorState]:
    """Record that all traffic now goes to ``color`` (ledger only; ``ec switch`` also moves
    traffic when a backend is configured, see :mod:`expandcontract.traffic.commands`)."""
    _validate_color(color)
    return record_weights(resolve_target(**kwargs), {color: 100}, action="switch", reason=reason)


def check_weights(target: Target, weights: dict[str, int]) -> list[ColorState]:
    """Refuse, before any traffic moves, weights the ledger cannot record: a color that was
    never deployed, or a retired one, may not receive traffic. Returns the recorded colors."""
    for name in weights:
        _validate_color(name)
    with open_ledger(target, create=True) as (conn, ledger):
        colors = ledger.colors(conn, target.environment)
    _check_against(colors, weights, target.environment)
    return colors


def _check_against(colors: list[ColorState], weights: dict[str, int], environment: str) -> None:
    known = {c.color: c for c in colors}
    for name, weight in weights.items():
        if name not in known and weight > 0:
            raise UnknownColorError(environment, name, tuple(known))
        if name in known and known[name].state == "retired" and weight > 0:
            raise ConfigError(f"{name} is retired; `ec deploy {name} --version V` before sending it traffic")


def record_weights(
    target: Target,
    weights: dict[str, int],
    *,
    action: str,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> list[ColorState]:
    """Record new traffic weights; colors gaining traffic become live, live colors losing all of
    it start draining. Returns the colors whose row changed."""
    for name in weights:
        _validate_color(name)
    with open_ledger(target, create=True) as (conn, ledger), conn.begin():
        # Row locks: a concurrent retire or deploy of one of these colors waits for this record.
        colors = {c.color: c for c in ledger.colors(conn, target.environment, for_update=True)}
        _check_against(list(colors.values()), weights, target.environment)
        changed = []
        # Colors that gain traffic first, then those that lose it: the safe order for a proxy.
        order = sorted(colors.values(), key=lambda c: (weights.get(c.color, 0) == 0, c.color))
        for current in order:
            name = current.color
            weight = weights.get(name, 0)
            if weight > 0:
                state = "live"
            elif current.state == "live":
                state = "draining"
            else:
                state = current.state
            if (state, weight) != (current.state, current.weight):
                changed.append(
                    ledger.upsert_color(
                        conn,
                        target.environment,
                        name,
                        action=action,
                        reason=reason,
                        details={"weights": weights, **(details or {})},
                        state=state,
                        weight=weight,
                    )
                )
        if not changed and details:
            # Nothing changed in the rows, but what the proxy was told and showed is still a fact.
            ledger.log(conn, target.environment, action, reason=reason, details={"weights": weights, **details})
        return changed


def retire(
    color: str, *, force: bool = False, reason: str | None = None, wait: float | None = None, **kwargs: Any
) -> ColorState:
    """Record that ``color`` is gone, after checking it: not live, no traffic weight, no
    database sessions, and the proxy sends it nothing. ``force`` overrides the checks and needs
    a ``reason``; both are logged. Holds the environment's traffic lock, so no switch can send
    the color traffic between the check and the record."""
    from expandcontract.traffic.commands import traffic_lock

    _validate_color(color)
    if force and not (reason and reason.strip()):
        raise ConfigError("--force needs --reason '...': the override is recorded in the event log")
    target = resolve_target(**kwargs)
    with traffic_lock(target, wait):
        return _retire(target, color, force=force, reason=reason)


def _retire(target: Target, color: str, *, force: bool, reason: str | None) -> ColorState:
    with open_ledger(target, create=True) as (conn, ledger), conn.begin():
        current = ledger.color(conn, target.environment, color, for_update=True)
        if current is None:
            known = tuple(c.color for c in ledger.colors(conn, target.environment))
            raise UnknownColorError(target.environment, color, known)
        sessions = count_sessions(conn, target.settings.ledger, target.environment, color)
        problems = retirement_problems(current, sessions)
        traffic_problem = _proxy_traffic(target, color)
        if traffic_problem:
            problems.append(traffic_problem)
        details: dict[str, Any] = {"sessions": sessions.count, "session_ids": [s.id for s in sessions.sessions]}
        if problems and not force:
            raise RetirementRefused(target.environment, color, problems)
        if problems:
            details.update(forced=True, overridden=problems)
        return ledger.upsert_color(
            conn, target.environment, color, action="retire", reason=reason, details=details, state="retired", weight=0
        )


def _proxy_traffic(target: Target, color: str) -> str | None:
    """The traffic backend's own word, whatever the ledger says."""
    from expandcontract.traffic.backends import observe_backend

    backend, state, error = observe_backend(target.settings, target.environment)
    if backend is None or color not in backend.colors:
        return None
    if state is None:
        return f"the {backend.name} traffic backend cannot be observed ({error})"
    if state.carries_traffic(color):
        return f"the {backend.name} proxy still sends it {state.colors[color].weight}% of new requests"
    sessions = state.colors[color].sessions
    if sessions:
        return f"the {backend.name} proxy still has {sessions} session(s) open to it"
    return None


def retirement_problems(color: ColorState, sessions: SessionCount) -> list[str]:
    problems = []
    if color.state == "retired":
        problems.append("it is already retired")
    if color.state == "live":
        problems.append("it is live")
    if color.weight > 0:
        problems.append(f"its recorded traffic weight is {color.weight}")
    if sessions.unknown:
        problems.append(f"its sessions cannot be counted: {sessions.unknown}")
    elif sessions.count:
        listed = ", ".join(s.describe() for s in sessions.sessions[:5])
        more = f" and {sessions.count - 5} more" if sessions.count > 5 else ""
        problems.append(f"{sessions.count} database session(s) from it are connected ({listed}{more})")
    return problems


def history(*, limit: int = 50, all_environments: bool = False, **kwargs: Any) -> list[Event]:
    """The event log, oldest first (the last ``limit`` events)."""
    target = resolve_target(**kwargs)
    with open_ledger(target) as (conn, ledger):
        return ledger.events(conn, None if all_environments else target.environment, limit)


# --- status ----------------------------------------------------------------------------------


@dataclass
class ColorStatus:
    state: ColorState
    sessions: SessionCount

    def to_dict(self) -> dict[str, object]:
        out = self.state.to_dict()
        out["sessions"] = self.sessions.count
        out["sessions_unknown"] = self.sessions.unknown
        return out


@dataclass
class Status:
    environment: str
    database: str
    colors: list[ColorStatus] = field(default_factory=list)
    database_heads: list[str] = field(default_factory=list)
    project_heads: list[str] = field(default_factory=list)
    pending_expand: list[str] = field(default_factory=list)
    pending_contract: list[GateDecision] = field(default_factory=list)
    in_progress: list[Run] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: What the traffic backend reports now (None: no backend configured).
    traffic: dict[str, object] | None = None
    #: Online schema changes copying or waiting for cut-over.
    online: list[dict[str, object]] = field(default_factory=list)
    #: Where the ledger and the proxy disagree about who gets traffic.
    traffic_mismatch: list[str] = field(default_factory=list)
    #: Colors of other environments recorded in the same database (the gate counts them too).
    other_colors: list[ColorStatus] = field(default_factory=list)
    #: False when no Alembic project was found: pending revisions are then unknown.
    history_known: bool = True
    #: ``verify-models`` run for each color deployed with a ``--ref``: color -> error findings.
    models: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    #: With a usage window: statements that still use what pending contract revisions remove.
    usage: list[dict[str, object]] | None = None

    @property
    def verdict(self) -> str:
        if self.problems:
            return f"ERROR ({self.problems[0]})"
        if self.traffic_mismatch:
            return f"MISMATCH (ledger and proxy disagree: {'; '.join(self.traffic_mismatch)})"
        if not self.history_known:
            return "contract: UNKNOWN (no Alembic project here, so pending revisions are unknown; pass --project)"
        broken = [f"{color}'s models: {f['code']} {f['statement']}" for color, fs in self.models.items() for f in fs]
        broken += [f"still executed: {u['statement']}" for u in self.usage or []]
        if broken:
            return f"contract: BLOCKED ({'; '.join(broken[:3])})"
        if not self.pending_contract:
            return "contract: nothing pending"
        closed = [d for d in self.pending_contract if not d.open]
        if not closed:
            return "contract: READY"
        blockers = []
        for b in closed[0].blockers:
            where = f" of environment {b.environment}" if b.environment else ""
            if b.sessions is not None and b.sessions.count is not None:
                blockers.append(f"{b.color}{where} is {b.state}, {b.sessions.count} session(s) connected")
            else:
                blockers.append(f"{b.color}: {b.reason}")
        return f"contract: BLOCKED ({'; '.join(blockers)})"

    @property
    def exit_code(self) -> int:
        if self.problems:
            return 2
        if self.traffic_mismatch or not self.history_known or any(self.models.values()) or self.usage:
            return 1  # unknown is not "ready": a script must not contract on it
        return 1 if any(not d.open for d in self.pending_contract) else 0

    def to_dict(self) -> dict[str, object]:
        return {
            "version": 1,
            "environment": self.environment,
            "database": self.database,
            "colors": [c.to_dict() for c in self.colors],
            "other_environments": [c.to_dict() for c in self.other_colors],
            "database_heads": self.database_heads,
            "project_heads": self.project_heads,
            "pending_expand": self.pending_expand,
            "pending_contract": [d.to_dict() for d in self.pending_contract],
            "in_progress": [r.to_dict() for r in self.in_progress],
            "problems": self.problems,
            "traffic": self.traffic,
            "online": self.online,
            "traffic_mismatch": self.traffic_mismatch,
            "history_known": self.history_known,
            "models": self.models,
            "usage": self.usage,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
        }


def database_heads(conn: Any) -> list[str]:
    from alembic.runtime.migration import MigrationContext

    return list(MigrationContext.configure(conn).get_current_heads())


def status(*, usage_window: float | None = None, **kwargs: Any) -> Status:
    """Where the environment stands: colors and their sessions, applied and pending
    revisions, and whether contract may run. Reads only; changes nothing.

    ``usage_window``: also watch the statement statistics that many seconds for statements
    still using what the pending contract revisions remove (``ec verify --usage``)."""
    from expandcontract.errors import ProjectNotFoundError
    from expandcontract.migrations.project import load_project

    target = resolve_target(**kwargs)
    try:
        project = load_project(target.project)
    except ProjectNotFoundError:
        if target.project is not None:
            raise  # named on purpose: its problem is the answer
        project = None  # `ec status --url ...` from anywhere: colors, sessions and traffic still
    graph: RevisionGraph = project.graph if project is not None else RevisionGraph({}, [])
    result = Status(target.environment, target.safe_url, project_heads=graph.heads())
    result.history_known = project is not None
    with open_ledger(target) as (conn, ledger):
        result.database_heads = database_heads(conn)
        unknown = [h for h in result.database_heads if graph.resolve(h) is None] if project else []
        if unknown:
            result.problems.append(
                f"drift: the database is at revision(s) {', '.join(unknown)}, unknown to this migration history"
            )
        gate = Gate(conn, ledger, graph, target.environment, target.settings)
        result.colors = [ColorStatus(c, gate.sessions(c.color)) for c in gate.colors]
        result.other_colors = [
            ColorStatus(c, gate.sessions(c.color, c.environment))
            for c in gate.all_colors
            if c.environment != target.environment
        ]
        result.problems += gate.tampered()
        pending = graph.pending([h for h in result.database_heads if h not in unknown])
        from expandcontract.db import server_target

        if project is not None:
            graph.classify(
                pending, target.settings, server_target(conn, target.settings.target), project.source.sys_path
            )
        result.pending_expand = [r for r in pending if not graph.is_contract(r)]
        result.pending_contract = [gate.evaluate(r) for r in pending if graph.is_contract(r)]
        result.in_progress = ledger.runs(conn, None)
        from expandcontract.ledger.store import active_online_runs

        runs = active_online_runs(conn, ledger, None)
        result.online = [
            {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in run.items() if k != "alter_clause"}
            for run in runs
        ]
        from expandcontract.ledger.store import lost_message

        result.problems += [lost_message(run) for run in runs if run["liveness"] == "lost"]
        for run in result.in_progress:
            what = f"failed part-way: {run.error.splitlines()[0]}" if run.error else "started and never finished"
            result.problems.append(
                f"revision {run.revision} is in progress ({what}; run {run.id} by {run.actor} at "
                f"{run.started_at.isoformat(sep=' ')}): unless an ec run is applying it right now, it was "
                f"interrupted and part of it may be applied. `ec expand` refuses to rerun it blindly and says the "
                f"ways out (`--resume` for a revision declaring resumable = True, or `ec resolve {run.revision}`)"
            )
        from expandcontract.ledger.drift import invalid_indexes, schema_ahead

        result.problems += [
            f"INVALID index {name}: an interrupted CREATE INDEX CONCURRENTLY left it; it slows writes and "
            "serves no query (DROP INDEX CONCURRENTLY it, then rerun the build)"
            for name in invalid_indexes(conn)
        ]
        for rev, objects in schema_ahead(conn, graph, pending).items():
            result.problems.append(
                f"drift: {', '.join(objects)} already exist(s), though revision {rev}, which creates it, is not "
                "applied: an interrupted run or a change by hand"
            )
        result.problems += _schema_behind(graph, gate.all_colors, graph.applied(result.database_heads))
        if usage_window is not None:
            _check_usage(conn, graph, pending, usage_window, target, result)
    result.traffic, observed = _observed_traffic(target)
    if observed is not None:
        result.traffic_mismatch = traffic_mismatch([c.state for c in result.colors], observed)
    if project is not None and target.settings.verify_models:
        _check_models(target, project, graph, result)
    return result


def _check_usage(
    conn: Any, graph: RevisionGraph, pending: list[str], window: float, target: Target, result: Status
) -> None:
    from expandcontract.db import server_target
    from expandcontract.verify.usage import StatisticsUnavailable, pending_removals, watch

    removed = pending_removals(graph, pending)
    conn.rollback()
    if not removed:
        result.usage = []
        return
    try:
        found = watch(conn, removed, window, server_target(conn, target.settings.target).dialect)
    except StatisticsUnavailable as error:
        result.problems.append(f"cannot tell which statements still run: {error}")
        return
    result.usage = [u.to_dict() for u in found]


def _check_models(target: Target, project: Any, graph: RevisionGraph, result: Status) -> None:
    """Each color deployed with a git ref: its models against the schema it will meet - the one
    after every revision for a color built for the heads, after the expand revisions otherwise."""
    from expandcontract.errors import ExpandContractError
    from expandcontract.verify.models import verify

    with open_ledger(target) as (conn, ledger):
        refs = ledger.deploy_refs(conn, target.environment)
    heads = set(graph.heads())
    for color in result.colors:
        ref = refs.get(color.state.color)
        if color.state.state == "retired" or not ref:
            continue
        newest = bool(heads) and heads <= set(color.state.expects)
        try:
            report = verify(
                str(target.settings.verify_models),
                project.source.root if project.source.kind != "versions" else project.source.version_locations[0],
                after_contract=newest,
                ref=ref,
                settings=target.settings,
            )
        except ExpandContractError as error:
            result.problems.append(f"{color.state.color}'s models (ref {ref}) could not be checked: {error}")
            continue
        errors = [f.to_dict() for f in report.findings if f.severity == "error"]
        result.models[color.state.color] = errors


def _schema_behind(graph: RevisionGraph, colors: list[ColorState], applied: set[str]) -> list[str]:
    """Live or draining colors running on a schema older than they need (a downgrade, or a
    color switched to before its expand revisions ran)."""
    out = []
    for color in colors:
        if color.state not in ("live", "draining"):
            continue
        needed = graph.needed(color.expects)
        missing = [r for r in graph.order if r in needed and r not in applied]
        if missing:
            out.append(
                f"{color.color} is {color.state} and needs revision(s) {', '.join(missing)}, "
                "which the database does not have: it runs on an older schema than it was built for"
            )
    return out


def traffic_mismatch(colors: list[ColorState], observed: Any) -> list[str]:
    """Colors whose recorded weight differs from what the proxy routes to them."""
    recorded = {c.color: c for c in colors}
    out = []
    for name, shown in observed.colors.items():
        row = recorded.get(name)
        weight = row.weight if row else 0
        if abs(weight - shown.weight) > 1:
            what = f"{row.state}, " if row else "not deployed, "
            out.append(f"{name} is {what}recorded at {weight}% but the proxy sends it {shown.weight}%")
    return out


def _observed_traffic(target: Target) -> tuple[dict[str, object] | None, Any]:
    from expandcontract.traffic.backends import observe_backend

    backend, state, error = observe_backend(target.settings, target.environment)
    if backend is None:
        return None, None
    if state is None:
        return {"backend": backend.name, "error": error}, None
    return state.to_dict(), state


def resolve(revision: str, *, reason: str, **kwargs: Any) -> int:
    """Mark in-progress runs of ``revision`` resolved after fixing the database by hand."""
    if not reason.strip():
        raise ConfigError("--reason is required: say what was done to the database")
    target = resolve_target(**kwargs)
    with open_ledger(target) as (conn, ledger), conn.begin():
        runs = [r for r in ledger.runs(conn, None) if r.revision.startswith(revision)]
        for run in runs:
            ledger.finish_run(conn, run.id, "resolved", attempts=run.attempts, error=run.error)
            ledger.log(
                conn, target.environment, "resolve", reason=reason, details={"revision": run.revision, "run": run.id}
            )
        return len(runs)
