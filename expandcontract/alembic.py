"""Wiring the contract gate into a plain ``alembic upgrade``.

In env.py (online mode)::

    from expandcontract import alembic as ec

    context.configure(connection=connection, target_metadata=target_metadata, **ec.configure_kwargs())
    with context.begin_transaction():
        ec.run_migrations(context)

``run_migrations`` refuses, before running anything, to start an upgrade that would apply a
contract revision while the gate is closed; expand-only upgrades run as usual. It also refuses a
downgrade that would revert revisions a color that is not retired needs (``-x
ec-force-downgrade='why'`` overrides it, and the override is recorded). The
``on_version_apply`` hook in ``configure_kwargs`` checks again after each contract revision's
``upgrade()`` and before its commit, which rolls it back on PostgreSQL if the pre-check was
bypassed. Inside a revision, :func:`require_retired` is the third guard.

The environment comes from ``-x ec-env=NAME``, then ``EC_ENVIRONMENT``, then the
configuration (``environment``, default ``default``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from alembic.util import CommandError

from expandcontract.config import Settings, find_config, load_settings
from expandcontract.errors import DowngradeRefused, ExpandContractError, GateClosed


class AlembicGateClosed(GateClosed, CommandError):
    """The gate's refusal as Alembic's own error: the ``alembic`` command prints it as one
    ``FAILED: ...`` line and exits 1, instead of a traceback."""


class AlembicDowngradeRefused(DowngradeRefused, CommandError):
    """A refused downgrade, as an Alembic ``CommandError`` (see :class:`AlembicGateClosed`)."""


def _as_alembic_error(error: ExpandContractError) -> ExpandContractError:
    if isinstance(error, GateClosed) and not isinstance(error, CommandError):
        return AlembicGateClosed(error.decisions)
    if isinstance(error, DowngradeRefused) and not isinstance(error, CommandError):
        return AlembicDowngradeRefused(error.reverted, error.blockers)
    return error


def configure_kwargs(**overrides: Any) -> dict[str, Any]:
    """Keyword arguments for ``context.configure()``: one transaction per revision (needed with
    autocommit blocks) and the per-revision gate check."""
    kwargs: dict[str, Any] = {"transaction_per_migration": True, "on_version_apply": [_after_revision]}
    kwargs.update(overrides)
    return kwargs


def run_migrations(context: Any = None, *, environment: str | None = None) -> None:
    """``context.run_migrations()``, after checking the gate for every contract revision the
    upgrade would apply."""
    if context is None:
        from alembic import context as alembic_context

        context = alembic_context
    try:
        guard(context, environment=environment)
        context.run_migrations()
    except (GateClosed, DowngradeRefused) as error:
        raise _as_alembic_error(error) from None


def guard(context: Any = None, *, environment: str | None = None) -> None:
    """Raise :class:`GateClosed` if this upgrade would apply a closed-gate contract revision."""
    if context is None:
        from alembic import context as alembic_context

        context = alembic_context
    if context.is_offline_mode():
        return  # --sql renders; it applies nothing
    migration_context = context.get_context()
    # `alembic.context` is a module proxy; the options live on the real EnvironmentContext.
    environment_context = getattr(migration_context, "environment_context", None) or context
    opts = getattr(environment_context, "context_opts", None) or {}
    fn = opts.get("fn")
    conn = migration_context.connection
    script = context.script
    heads = migration_context.get_current_heads()
    if fn is not None and getattr(fn, "__name__", "") == "downgrade":
        # The same function alembic calls next: it returns the steps it will undo.
        reverted = [step.revision.revision for step in fn(heads, migration_context)]
        reason = context.get_x_argument(as_dictionary=True).get("ec-force-downgrade")
        check_downgrade(conn, script, reverted, _settings(context), _environment(context, environment), reason)
        return
    if fn is not None and getattr(fn, "__name__", "") != "upgrade":
        return  # stamp, ...: changes no schema
    destination = opts.get("destination_rev") or "heads"
    steps = script._upgrade_revs(destination, heads)
    pending = [step.revision.revision for step in steps]
    _check(conn, script, pending, _settings(context), _environment(context, environment))


def require_retired(environment: str | None = None) -> None:
    """Call first thing in a contract revision's ``upgrade()``: raises :class:`GateClosed`
    unless the gate is open for this revision. Does nothing when rendering offline
    (``alembic upgrade --sql``, ``ec lint``)."""
    from alembic import op

    migration_context = op.get_context()
    if migration_context.as_sql:
        return
    caller = sys._getframe(1).f_globals
    revision = caller.get("revision")
    if not isinstance(revision, str):
        raise RuntimeError("require_retired() must be called from an Alembic revision module's upgrade()")
    script = migration_context.script
    if script is None:
        from expandcontract.migrations.project import load_project

        script = load_project(Path(caller.get("__file__", ".")).parent).script
    settings = load_settings(find_config(Path(caller.get("__file__", Path.cwd())).resolve()))
    env = environment or os.environ.get("EC_ENVIRONMENT") or settings.environment
    _check(op.get_bind(), script, [revision], settings, env, force=True)


def _after_revision(*, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
    if not step.is_upgrade or step.is_stamp:
        return
    script = ctx.script
    if script is None:
        return
    settings = load_settings(find_config(Path(script.dir).resolve()))
    environment_context = getattr(ctx, "environment_context", None)
    x_args = environment_context.get_x_argument(as_dictionary=True) if environment_context is not None else {}
    env = x_args.get("ec-env") or os.environ.get("EC_ENVIRONMENT") or settings.environment
    _check(ctx.connection, script, list(step.up_revision_ids), settings, env)


def _check(
    conn: Any, script: Any, revisions: list[str], settings: Settings, environment: str, *, force: bool = False
) -> None:
    from expandcontract.db import server_target
    from expandcontract.ledger.gate import Blocker, Gate, GateDecision
    from expandcontract.ledger.store import Ledger
    from expandcontract.migrations.graph import RevisionGraph

    graph = RevisionGraph.from_script_directory(script)
    known = [r for r in revisions if r in graph.revisions]
    if not force:
        # What a revision does decides, not only what it declares.
        graph.classify(known, settings, server_target(conn, settings.target))
    contract = [r for r in known if force or graph.is_contract(r)]
    if not contract:
        return
    ledger = Ledger(settings.ledger)
    if not ledger.exists(conn):
        missing = Blocker(
            "-",
            "-",
            "there is no expandcontract ledger in this database (`ec init`, then "
            "`ec deploy` / `ec retire` to record the colors)",
        )
        raise AlembicGateClosed([GateDecision(r, graph.partners(r), (missing,)) for r in contract])
    gate = Gate(conn, ledger, graph, environment, settings)
    closed = [d for d in (gate.evaluate(r) for r in contract) if not d.open]
    if closed:
        raise AlembicGateClosed(closed)


def check_downgrade(
    conn: Any, script: Any, reverted: list[str], settings: Settings, environment: str, reason: str | None = None
) -> None:
    """Refuse a downgrade that would undo revisions a color that is not retired needs (it
    would drop what live code uses); with ``reason`` it runs, and the override is recorded."""
    from expandcontract.ledger.store import Ledger
    from expandcontract.migrations.graph import RevisionGraph

    ledger = Ledger(settings.ledger)
    if not reverted or not ledger.exists(conn):
        return
    graph = RevisionGraph.from_script_directory(script)
    blockers = []
    for color in ledger.colors(conn, None):  # every environment: they share this schema
        if color.state == "retired":
            continue
        needed = graph.needed(color.expects)
        lost = [r for r in reverted if r in needed]
        if lost:
            where = f" of environment {color.environment}" if color.environment != environment else ""
            blockers.append(
                f"{color.color}{where} ({color.state}, version {color.version or '?'}) expects "
                f"{' '.join(color.expects)}, and the downgrade would revert {', '.join(lost)}"
            )
    if not blockers:
        return
    if not (reason and reason.strip()):
        raise AlembicDowngradeRefused(reverted, blockers)
    # Recorded on a connection of its own: the downgrade's transaction may yet roll back.
    with conn.engine.connect() as own, own.begin():
        ledger.log(
            own,
            environment,
            "downgrade-forced",
            reason=reason,
            details={"reverted": reverted, "overridden": blockers},
        )


def _settings(context: Any) -> Settings:
    config_file = getattr(context.config, "config_file_name", None)
    start = Path(config_file).resolve().parent if config_file else Path.cwd()
    return load_settings(find_config(start))


def _environment(context: Any, explicit: str | None) -> str:
    if explicit:
        return explicit
    x_args = context.get_x_argument(as_dictionary=True)
    return str(x_args.get("ec-env") or os.environ.get("EC_ENVIRONMENT") or _settings(context).environment)
