"""``ec``: a thin click shell over the library. Exit codes: 0 ok, 1 findings, a refusal or a
check that failed, 2 usage or configuration error, 3 internal error, 4 a migration failed."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from expandcontract._version import __version__
from expandcontract.errors import ExpandContractError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE
FORMATS = ("text", "json", "github", "sarif")
#: `--format text|json`, for every command that reports something other than lint findings.
_FORMAT = click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)


def _codes(values: tuple[str, ...]) -> list[str] | None:
    if not values:
        return None
    return [code.strip() for value in values for code in value.split(",") if code.strip()]


def _color(choice: str) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


class _Duration(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        from expandcontract.config import parse_duration

        if isinstance(value, float):
            return value
        try:
            return parse_duration(value, f"--{param.name if param else 'duration'}")
        except ValueError as error:
            self.fail(str(error), param, ctx)


DURATION = _Duration()


def _wait_option(fn: F) -> F:
    return click.option(
        "--wait",
        type=DURATION,
        default=None,
        help="How long to wait for another traffic change in this environment to finish "
        "(e.g. '30s'; default: the backend's lock-wait, else 60s). 0 refuses at once.",
    )(fn)


def _stderr_logging() -> None:
    """The library reports waits and warnings through logging; the CLI shows them on stderr."""
    import logging

    logger = logging.getLogger("expandcontract")
    if not any(getattr(h, "_ec_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("ec: %(levelname)s: %(message)s"))
        handler._ec_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _handle_errors(fn: F) -> F:
    """User mistakes end with one clear line and exit 2; bugs with a traceback and exit 3."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _stderr_logging()
        try:
            return fn(*args, **kwargs)
        except ExpandContractError as error:
            click.echo(f"ec: error: {error}", err=True)
            if kwargs.get("fmt") == "json":
                # Scripts reading JSON get the refusal as JSON too, with its data.
                click.echo(json.dumps({"error": error.to_dict()}, indent=2, default=str))
            sys.exit(error.exit_code)
        except BrokenPipeError:
            # The reader went away (`ec history | head -1`): quietly, with the status a process
            # killed by SIGPIPE has (what `git log | head` gives), so nobody mistakes it for findings.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(EXIT_BROKEN_PIPE)
        except OSError as error:
            # Unreadable files or directories are the user's to fix, not a bug.
            where = f"{error.filename}: " if error.filename else ""
            click.echo(f"ec: error: {where}{error.strerror or error}", err=True)
            sys.exit(EXIT_USAGE)
        except (click.ClickException, click.exceptions.Exit, KeyboardInterrupt, SystemExit):
            raise
        except Exception:  # noqa: BLE001
            traceback.print_exc()
            click.echo(
                "ec: internal error: this is a bug in expandcontract; please report it with the traceback above.",
                err=True,
            )
            sys.exit(EXIT_INTERNAL)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="ec")
def main() -> None:
    """expandcontract: safe Alembic migrations for blue-green and canary deploys.

    Every migration is either EXPAND (safe while the old app version still runs: add a
    nullable column, a table, an index concurrently) or CONTRACT (breaks the old version:
    drop, rename, narrow, SET NOT NULL). `ec lint` classifies each revision and flags
    backward-incompatible and lock-heavy SQL before you merge.

    \b
    Exit codes: 0 clean, 1 findings of error severity or a refusal (gate closed, color in
    use), 2 usage or configuration error, 3 internal error, 4 a migration failed.
    """


@main.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--dialect",
    "-d",
    type=click.Choice(["postgresql", "mysql", "mariadb"], case_sensitive=False),
    help="Target database (default: config, else postgresql).",
)
@click.option(
    "--config",
    "-c",
    "config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A pyproject.toml or TOML file (default: nearest pyproject.toml with [tool.expandcontract]).",
)
@click.option(
    "--format", "-f", "fmt", type=click.Choice(FORMATS), default="text", show_default=True, help="Output format."
)
@click.option(
    "--select", multiple=True, metavar="CODES", help="Only these rules (codes, names or prefixes; comma-separated)."
)
@click.option("--extend-select", multiple=True, metavar="CODES", help="Also these rules (e.g. opt-in EC501).")
@click.option("--ignore", multiple=True, metavar="CODES", help="Skip these rules.")
@click.option("--since", metavar="GIT_REF", help="Report only revisions added or changed since this git ref.")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the report to this file instead of standard output.",
)
@click.option(
    "--schema",
    "schema",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The database before the first linted change, as a DDL dump (pg_dump --schema-only, mysqldump "
    "--no-data). Default: the schema-file setting; an Alembic history is replayed anyway.",
)
@click.option(
    "--url",
    "url",
    metavar="URL",
    help="Read that starting schema (and table sizes, server flavor and version) from a live database, read "
    "only. Default: the schema-url setting.",
)
@click.option(
    "--sys-path",
    "sys_path",
    multiple=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="A directory revisions import from (the app's helper modules); repeatable. Also: sys-path setting.",
)
@click.option("--no-cache", is_flag=True, help="Re-analyse every file (ignore .expandcontract_cache).")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are error findings.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True)
@click.option("--verbose", "-v", is_flag=True, help="Also show what revisions printed while ec ran them.")
@_handle_errors
def lint_command(
    paths: tuple[Path, ...],
    dialect: str | None,
    config: Path | None,
    fmt: str,
    select: tuple[str, ...],
    extend_select: tuple[str, ...],
    ignore: tuple[str, ...],
    since: str | None,
    output: Path | None,
    schema: Path | None,
    url: str | None,
    sys_path: tuple[Path, ...],
    no_cache: bool,
    exit_zero: bool,
    color: str,
    verbose: bool,
) -> None:
    """Lint Alembic revisions or .sql files for expand/contract safety.

    PATHS may be an Alembic project (a directory with alembic.ini, or pyproject.toml with
    [tool.alembic]), a versions directory, revision files, or .sql files (each .sql file is
    one unit). Default: the current directory.

    \b
    Examples:
      ec lint                                   # the project in this directory
      ec lint migrations/versions --dialect mysql
      ec lint --since origin/main --format github
      ec lint schema.sql --format sarif -o ec.sarif
      ec lint migrations/ --url "$DATABASE_URL"   # judge against the live schema and table sizes

    Each change is judged against the schema as everything before it left it: the revisions
    before it (replayed from the first), on top of --schema or --url when given.
    """
    from expandcontract.linter.engine import lint
    from expandcontract.linter.reporters import render

    report = lint(
        list(paths),
        progress=_progress if sys.stderr.isatty() else None,
        dialect=dialect,
        config=config,
        select=_codes(select),
        ignore=_codes(ignore),
        extend_select=_codes(extend_select),
        since=since,
        use_cache=not no_cache,
        schema=schema,
        url=url,
        sys_path=list(sys_path),
    )
    text = render(report, fmt, color=_color(color) and output is None, verbose=verbose)
    if output is not None:
        from expandcontract.fileio import write_text

        write_text(output, text)
        counts = report.counts()
        click.echo(
            f"ec: wrote {fmt} report to {output} ({counts['error']} error(s), {counts['warning']} warning(s))", err=True
        )
    else:
        click.echo(text, nl=False)
    sys.exit(EXIT_OK if exit_zero else report.exit_code)


@main.command("verify")
@click.option(
    "--models",
    "models",
    metavar="MODULE:ATTR",
    help="The SQLAlchemy models: a MetaData, a declarative base or a registry, e.g. app.models:Base.",
)
@click.option(
    "--usage",
    is_flag=True,
    help="Instead: watch the database's statement statistics for --window and report statements that still use "
    "what the pending contract revisions drop or rename.",
)
@click.option("--window", type=DURATION, default=60.0, show_default="60s", help="How long --usage watches.")
@click.option("--environment", "-e", envvar="EC_ENVIRONMENT", help="With --usage: the environment (default: config).")
@click.option(
    "--project",
    "-p",
    "project",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    help="The Alembic project whose history builds the schema (default: the current directory).",
)
@click.option("--at", "at", metavar="REV", help="Check against the schema right after this revision.")
@click.option(
    "--after-contract",
    is_flag=True,
    help="Check against the schema after every revision, contract ones "
    "included (the new color's models). Default: after the expand revisions (the old color's).",
)
@click.option("--dialect", "-d", type=click.Choice(["postgresql", "mysql", "mariadb"], case_sensitive=False))
@click.option(
    "--schema",
    "schema",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A DDL dump of the database before the history's first revision.",
)
@click.option("--url", "url", metavar="URL", help="Read that starting schema from a live database (read only).")
@click.option(
    "--sys-path",
    "sys_path",
    multiple=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Where the models (and the revisions' helpers) import from; repeatable.",
)
@click.option(
    "--ref",
    "ref",
    metavar="GIT_REF",
    help="Take the models as they are at this git ref (e.g. "
    "origin/main: the old color's code), the history from the working tree.",
)
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@_handle_errors
def verify_command(
    models: str | None,
    usage: bool,
    window: float,
    environment: str | None,
    project: Path,
    at: str | None,
    after_contract: bool,
    dialect: str | None,
    schema: Path | None,
    url: str | None,
    sys_path: tuple[Path, ...],
    ref: str | None,
    fmt: str,
) -> None:
    """Check that the app's SQLAlchemy models work on the schema they will get.

    By default against the schema after the expand revisions (what the old color's models must
    survive); --after-contract for the schema after every revision (the new color's models).
    Findings (EV1xx): a mapped table or column the schema does not have, a type the model writes
    that does not fit, a NOT NULL column without a default the model does not map. Same formats
    and exit codes as `ec lint` (1 when there is an error finding).

    With --usage (no --models): read the database's statement statistics (pg_stat_statements,
    performance_schema digests) twice, --window apart, and report every statement that ran in
    between and references a table or column a pending contract revision drops or renames -
    a cron job or a forgotten query no color owns. Exit 1 when any did, 2 when the server keeps no
    statistics (the message says how to turn them on).
    """
    from expandcontract.linter.reporters import render
    from expandcontract.verify.models import verify

    if usage:
        from expandcontract.verify.usage import usage_check

        result = usage_check(window, url=url, environment=environment, project=project)
        if fmt == "json":
            click.echo(json.dumps(result.to_dict(), indent=2))
        else:
            for rev, objects in result.removes.items():
                click.echo(f"{rev} removes: {', '.join(objects)}")
            for use in result.uses:
                click.echo(f"still used ({use.calls} call(s) in {window:g}s): {use.text}  [{', '.join(use.objects)}]")
            click.echo(f"{len(result.uses)} statement(s) still use what the contract revisions remove")
        sys.exit(result.exit_code)
    if not models:
        from expandcontract.config import find_config, load_settings

        models = load_settings(find_config(project.resolve())).verify_models
    if not models:
        raise click.UsageError("--models is required (or the verify-models setting, or --usage)")
    if at and after_contract:
        raise click.UsageError("--at and --after-contract exclude each other")
    report = verify(
        models,
        project,
        at=at,
        after_contract=after_contract,
        dialect=dialect,
        schema=schema,
        url=url,
        sys_path=list(sys_path),
        ref=ref,
    )
    click.echo(render(report, fmt), nl=False)
    sys.exit(report.exit_code)


@main.command("rules")
@click.argument("code", required=False)
@_FORMAT
@_handle_errors
def rules_command(code: str | None, fmt: str) -> None:
    """List the rule catalog, or show one rule's documentation (`ec rules EC101`)."""
    from expandcontract.commands import rules

    infos = rules(code)
    if fmt == "json":
        payload: Any = infos[0].to_dict() if code else [i.to_dict() for i in infos]
        click.echo(json.dumps(payload, indent=2))
        return
    if code:
        info = infos[0]
        click.echo(f"{info.code} {info.name}")
        click.echo(
            f"category: {info.category}   phase: {info.phase}   severity: {info.severity}   "
            f"dialects: {', '.join(info.dialects)}{'   (opt-in)' if info.opt_in else ''}\n"
        )
        click.echo(info.doc)
        return
    for info in infos:
        opt = " (opt-in)" if info.opt_in else ""
        click.echo(f"{info.code}  {info.name:<32} {info.category:<10} {info.severity:<7} {info.summary}{opt}")


@main.command("rule", hidden=True)
@click.argument("code")
@_FORMAT
@click.pass_context
def rule_command(ctx: click.Context, code: str, fmt: str) -> None:
    """Show one rule's documentation (same as `ec rules CODE`)."""
    ctx.invoke(rules_command, code=code, fmt=fmt)


def _db_options(fn: F) -> F:
    """--url/--env/--config/--project, shared by every command that touches the database."""
    fn = click.option(
        "--project",
        "-p",
        type=click.Path(path_type=Path, file_okay=False),
        help="The Alembic project (default: the current directory).",
    )(fn)
    fn = click.option(
        "--config",
        "-c",
        type=click.Path(path_type=Path, dir_okay=False),
        help="A pyproject.toml or TOML file with [tool.expandcontract].",
    )(fn)
    fn = click.option(
        "--env",
        "-e",
        "environment",
        metavar="NAME",
        help="Environment (default: EC_ENVIRONMENT, config, else 'default').",
    )(fn)
    fn = click.option(
        "--url",
        "-u",
        metavar="URL",
        envvar="EC_DATABASE_URL",
        show_envvar=True,
        help="Database URL (default: EC_DATABASE_URL, then database-url in the config).",
    )(fn)
    return fn


def _emit(fmt: str, data: dict[str, Any], text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if fmt == "json" else text)


def _db_kwargs(url: str | None, environment: str | None, config: Path | None, project: Path | None) -> dict[str, Any]:
    return {"url": url, "environment": environment, "config": config, "project": project}


@main.command("init")
@_FORMAT
@_db_options
@_handle_errors
def init_command(fmt: str, url: str | None, environment: str | None, config: Path | None, project: Path | None) -> None:
    """Create the ledger tables in the application's database (idempotent)."""
    from expandcontract.ledger.commands import init

    created = init(**_db_kwargs(url, environment, config, project))
    text = "created the expandcontract ledger" if created else "the ledger already exists; nothing to do"
    _emit(fmt, {"created": created}, text)


@main.command("deploy")
@click.argument("color")
@click.option("--version", "-V", "version", required=True, help="The application version this color now runs.")
@click.option(
    "--expects",
    multiple=True,
    metavar="REV",
    help="Revision(s) the color's code was built against (default: the project's heads).",
)
@click.option("--new", "new", is_flag=True, help="COLOR is a new color (beyond the first two, or the configured ones).")
@click.option(
    "--ref",
    "ref",
    metavar="GIT_REF",
    help="The git ref of the color's code: `ec status` then checks its "
    "models (verify-models) against the schema it will meet.",
)
@click.option("--reason", help="Why, for the event log.")
@_FORMAT
@_db_options
@_handle_errors
def deploy_command(
    fmt: str,
    color: str,
    version: str,
    expects: tuple[str, ...],
    new: bool,
    ref: str | None,
    reason: str | None,
    url: str | None,
    environment: str | None,
    config: Path | None,
    project: Path | None,
) -> None:
    """Record that COLOR now runs VERSION and which schema revision it expects."""
    from expandcontract.ledger.commands import deploy

    state = deploy(
        color,
        version=version,
        expects=list(expects),
        reason=reason,
        new=new,
        ref=ref,
        **_db_kwargs(url, environment, config, project),
    )
    text = f"{state.color}: {state.state}, version {state.version}, expects {' '.join(state.expects) or '-'}"
    _emit(fmt, state.to_dict(), text)


@main.command("forget")
@click.argument("color")
@click.option("--reason", required=True, help="Why the color is removed (recorded).")
@_FORMAT
@_db_options
@_handle_errors
def forget_command(
    fmt: str,
    color: str,
    reason: str,
    url: str | None,
    environment: str | None,
    config: Path | None,
    project: Path | None,
) -> None:
    """Remove COLOR, deployed by mistake, from the environment: only a color that never took
    traffic (a color that did is retired instead, so the record of who ran what stays)."""
    from expandcontract.ledger.commands import forget

    forget(color, reason=reason, **_db_kwargs(url, environment, config, project))
    _emit(fmt, {"color": color, "forgotten": True}, f"{color}: forgotten")


def _echo_outcome(outcome: Any, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(outcome.to_dict(), indent=2))
        return
    if outcome.result is None:
        click.echo("no traffic backend is configured for this environment: recorded only")
    else:
        click.echo(f"{outcome.result.after.backend}: {_weights(outcome.result.after.weights())} (observed)")
    for state in outcome.recorded:
        click.echo(f"{state.color}: {state.state}, weight {state.weight}")
    for message in getattr(outcome, "cutovers", []):
        click.echo(message)


def _weights(weights: dict[str, int]) -> str:
    return ", ".join(f"{color} {weight}%" for color, weight in weights.items())


@main.command("switch")
@click.argument("color", required=False)
@click.option("--status", "show_status", is_flag=True, help="Show the traffic the proxy reports, change nothing.")
@click.option(
    "--check",
    metavar="URL",
    help="COLOR's own health URL ('{color}' allowed): must answer 2xx before any traffic moves "
    "(default: the backend's check-url).",
)
@click.option(
    "--cutover", is_flag=True, help="Then cut over the environment's postponed online schema changes (gh-ost)."
)
@click.option("--reason", help="Why, for the event log.")
@_FORMAT
@_wait_option
@_db_options
@_handle_errors
def switch_command(
    color: str | None,
    show_status: bool,
    check: str | None,
    cutover: bool,
    reason: str | None,
    fmt: str,
    wait: float | None,
    url: str | None,
    environment: str | None,
    config: Path | None,
    project: Path | None,
) -> None:
    """Send all traffic to COLOR: bring it up, confirm a passing health check, then drain the others.

    Uses the environment's traffic backend ([tool.expandcontract.switch.<env>]: haproxy-runtime,
    haproxy-config, nginx, command or file), verifies by observing the proxy, puts traffic back if
    verification fails (and verifies that too), and records every attempt and its outcome. One
    traffic change at a time per environment: a second one waits (--wait). With no backend
    configured it only records the switch.

    \b
    Exit 0: switched and confirmed on the proxy.
    Exit 1: refused or failed; the message says whether traffic is unchanged, was put back
            (confirmed), or could not be put back.
    Exit 2: a usage or configuration error; nothing was moved.
    """
    from expandcontract.traffic import commands

    kwargs = _db_kwargs(url, environment, config, project)
    if show_status:
        state = commands.observe(**kwargs)
        if fmt == "json":
            click.echo(json.dumps(state.to_dict() if state else None, indent=2))
        elif state is None:
            click.echo("no traffic backend is configured for this environment")
        else:
            for name, c in state.colors.items():
                sessions = "" if c.sessions is None else f", {c.sessions} session(s)"
                click.echo(f"{name}: {c.weight}% ({c.admin}{sessions})")
            click.echo(f"live: {state.live or 'none (canary in progress)'}   [{state.backend}, {state.source}]")
        return
    if color is None:
        raise click.UsageError("name the COLOR to switch to, or use --status")
    _echo_outcome(commands.switch(color, check=check, cutover=cutover, reason=reason, wait=wait, **kwargs), fmt)


@main.command("canary")
@click.argument("color")
@click.option("--weight", "-w", type=click.IntRange(0, 100), required=True, help="Percent of new requests.")
@click.option("--check", metavar="URL", help="COLOR's own health URL: must answer 2xx before any traffic moves.")
@click.option("--force", is_flag=True, help="Allow a canary of the color that is already live.")
@click.option("--reason", help="Why, for the event log.")
@_FORMAT
@_wait_option
@_db_options
@_handle_errors
def canary_command(
    color: str,
    weight: int,
    check: str | None,
    force: bool,
    reason: str | None,
    fmt: str,
    wait: float | None,
    url: str | None,
    environment: str | None,
    config: Path | None,
    project: Path | None,
) -> None:
    """Send WEIGHT percent of new requests to COLOR, the rest to the live color.

    COLOR must pass its health check first. A canary of the live color itself is refused
    (the rest would go to a color that is not live) unless --force. Exit codes as `ec switch`.
    """
    from expandcontract.traffic import commands

    outcome = commands.canary(
        color,
        weight,
        check=check,
        force=force,
        reason=reason,
        wait=wait,
        **_db_kwargs(url, environment, config, project),
    )
    _echo_outcome(outcome, fmt)


@main.command("rollback")
@click.option("--check", metavar="URL", help="Health URL of the color traffic goes back to ('{color}' allowed).")
@click.option("--reason", help="Why, for the event log.")
@_FORMAT
@_wait_option
@_db_options
@_handle_errors
def rollback_command(
    check: str | None,
    reason: str | None,
    fmt: str,
    wait: float | None,
    url: str | None,
    environment: str | None,
    config: Path | None,
    project: Path | None,
) -> None:
    """Put traffic back as it was before the last switch or canary (no deploy needed).

    Checks the health of the color(s) traffic goes back to, never the one being left.
    Exit codes as `ec switch`.
    """
    from expandcontract.traffic import commands

    outcome = commands.rollback(check=check, reason=reason, wait=wait, **_db_kwargs(url, environment, config, project))
    _echo_outcome(outcome, fmt)


@main.command("retire")
@click.argument("color")
@click.option("--force", is_flag=True, help="Retire even though checks fail (needs --reason; recorded).")
@click.option("--reason", help="Why; required with --force.")
@_wait_option
@_FORMAT
@_db_options
@_handle_errors
def retire_command(
    fmt: str,
    color: str,
    force: bool,
    reason: str | None,
    wait: float | None,
    url: str | None,
    environment: str | None,
    config: Path | None,
    project: Path | None,
) -> None:
    """Record that COLOR is gone, after checking: not live, no traffic, no database sessions.

    Exit 1 when refused (the reasons are printed).
    """
    from expandcontract.ledger.commands import retire

    state = retire(color, force=force, reason=reason, wait=wait, **_db_kwargs(url, environment, config, project))
    _emit(fmt, {**state.to_dict(), "forced": force}, f"{state.color}: retired{' (forced)' if force else ''}")


@main.command("history")
@click.option("--limit", "-n", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--all-envs", is_flag=True, help="Events of every environment.")
@_FORMAT
@_db_options
@_handle_errors
def history_command(
    limit: int,
    all_envs: bool,
    fmt: str,
    url: str | None,
    environment: str | None,
    config: Path | None,
    project: Path | None,
) -> None:
    """Show the ledger's event log (who did what, when, from which state to which, why)."""
    from expandcontract.ledger.commands import history

    events = history(limit=limit, all_environments=all_envs, **_db_kwargs(url, environment, config, project))
    if fmt == "json":
        click.echo(json.dumps([e.to_dict() for e in events], indent=2))
        return
    for e in events:
        change = f" {e.from_state or '-'} -> {e.to_state}" if e.to_state else ""
        color = f" {e.color}" if e.color else ""
        why = f"  ({e.reason})" if e.reason else ""
        if "revision" in e.details:
            color = f" {e.details['revision']}" + (f" [{e.details['phase']}]" if e.details.get("phase") else "")
        elif "table" in e.details:  # online schema changes
            color = f" {e.details['table']}" + (f" via {e.details['engine']}" if e.details.get("engine") else "")
            if e.details.get("seconds") is not None:
                color += f" in {float(e.details['seconds']):.1f}s"
        elif isinstance(e.details.get("desired"), dict) and not e.color:  # traffic attempts and failures
            color = " " + ", ".join(f"{c} {w}%" for c, w in e.details["desired"].items())
        line = f"{e.occurred_at:%Y-%m-%d %H:%M:%S}  {e.environment}  {e.action}{color}{change}  by {e.actor}{why}"
        click.echo(printable(line))
    if not events:
        click.echo("no events yet")


@main.command("status")
@_FORMAT
@click.option(
    "--usage",
    "usage",
    type=DURATION,
    default=None,
    metavar="WINDOW",
    help="Also watch the statement statistics this long (e.g. 60s) for statements still using what the "
    "pending contract revisions remove.",
)
@_db_options
@_handle_errors
def status_command(
    fmt: str,
    usage: float | None,
    url: str | None,
    environment: str | None,
    config: Path | None,
    project: Path | None,
) -> None:
    """Show colors, sessions, applied and pending revisions, and whether contract may run.

    \b
    Exit codes: 0 nothing pending or contract ready, 1 contract pending and blocked,
    2 error (database unreachable, ledger missing, drift, a revision left in progress).
    Reads only; changes nothing.
    """
    from expandcontract.ledger.commands import status

    result = status(usage_window=usage, **_db_kwargs(url, environment, config, project))
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(_render_status(result))
    sys.exit(result.exit_code)


def _render_status(result: Any) -> str:
    lines = [f"environment: {result.environment}   database: {result.database}", "colors:"]
    for c in result.colors:
        s = c.state
        sessions = c.sessions.describe()
        lines.append(
            f"  {s.color:<10} {s.state:<9} version {s.version or '-':<12} expects "
            f"{' '.join(s.expects) or '-':<14} weight {s.weight:<4} {sessions}"
        )
    if not result.colors:
        lines.append("  none recorded (`ec deploy COLOR --version V`)")
    lines.append(
        f"database heads: {' '.join(result.database_heads) or '(empty)'}   "
        f"project heads: {' '.join(result.project_heads) or '-'}"
    )
    lines.append(f"pending expand: {' '.join(result.pending_expand) or 'none'}")
    lines.append("pending contract:" + ("" if result.pending_contract else " none"))
    for d in result.pending_contract:
        lines.append(f"  {d.revision}  {'READY' if d.open else 'BLOCKED'}")
        for b in d.blockers:
            lines.append(f"      {b}")
    for run in result.in_progress:
        lines.append(
            f"in progress: {run.revision} since {run.started_at:%Y-%m-%d %H:%M:%S} by {run.actor}"
            + (f" - {run.error}" if run.error else "")
        )
    for run in result.online:
        percent = f" {run['percent']:.1f}%" if run.get("percent") is not None else ""
        lines.append(f"online: {run['table_name']} via {run['engine']}: {run['state']}{percent}")
    if result.traffic is not None:
        if "error" in result.traffic:
            lines.append(f"traffic ({result.traffic['backend']}): cannot observe: {result.traffic['error']}")
        else:
            shares = ", ".join(f"{c} {v['weight']}%" for c, v in result.traffic["colors"].items())
            lines.append(f"traffic ({result.traffic['backend']}, {result.traffic['source']}): {shares}")
    for problem in result.problems:
        lines.append(f"problem: {problem}")
    for use in result.usage or []:
        lines.append(f"still executed ({use['calls']} call(s)): {use['statement']}")
    for color, findings in result.models.items():
        state = "ok" if not findings else f"{len(findings)} error(s)"
        lines.append(f"models of {color}: {state}")
        lines += [f"  {f['code']} {f['message']}" for f in findings]
    lines.append(result.verdict)
    return "\n".join(lines)


def _online_display(fmt: str) -> tuple[Any, Any]:
    """How online changes inside a command show themselves: JSON events on stderr with
    ``--format json``, a bar on a terminal, the runner's periodic lines otherwise (None)."""
    if fmt == "json":

        def plan_event(table: str, plan: Any) -> None:
            click.echo(json.dumps({"event": "online-plan", "table": table, **plan.to_dict()}), err=True)

        def progress_event(table: str | None, p: Any) -> None:
            click.echo(json.dumps({"event": "progress", "table": table, **p.to_dict()}), err=True)

        return plan_event, progress_event
    if sys.stderr.isatty():

        def bar(table: str | None, p: Any) -> None:
            percent = f"{p.percent:5.1f}%" if p.percent is not None else "  ?  "
            filled = "#" * int((p.percent or 0) / 5)
            eta = p.eta or p.eta_seconds or "-"
            end = "\n" if p.percent is not None and p.percent >= 100 else ""
            click.echo(
                f"\r{table or ''} [{filled:<20}] {percent} {p.state or ''} eta {eta}   {end}", err=True, nl=False
            )

        return None, bar
    return None, None


def printable(text: str) -> str:
    """One line of text output: control characters (a newline in a recorded --reason) are
    escaped, so no stored text can forge lines of ec's output."""
    return "".join(ch if ch.isprintable() or ch == " " else ascii(ch)[1:-1] for ch in text)


def _run_command(
    mode: str, fmt: str, kwargs: dict[str, Any], *, resume: bool, force_usage: bool, reason: str | None
) -> None:
    from expandcontract.runner import apply

    kwargs = {**kwargs, "resume": resume, "usage_override": _usage_override(force_usage, reason)}

    def echo(message: str) -> None:
        # With --format json, stdout carries the report: progress goes to stderr as JSON events.
        if fmt == "json":
            click.echo(json.dumps({"event": "log", "message": message.strip()}), err=True)
        else:
            click.echo(message)

    on_plan, on_progress = _online_display(fmt)
    report = getattr(apply, mode)(echo=echo, online_plan=on_plan, online_progress=on_progress, **kwargs)
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    click.echo(f"applied: {' '.join(report.applied) or 'nothing'}")
    for rev, why in report.waiting.items():
        click.echo(f"waiting: {rev}: {why}")


_RESUME = click.option(
    "--resume",
    is_flag=True,
    help="Rerun a revision whose earlier run never finished, if it declares `resumable = True`.",
)


def _usage_options(fn: F) -> F:
    fn = click.option("--reason", help="Why, with --force-usage (recorded).")(fn)
    return click.option(
        "--force-usage",
        is_flag=True,
        help="Run contract revisions although the usage check (runner.usage-window) found statements still "
        "using what they remove; needs --reason.",
    )(fn)


def _usage_override(force_usage: bool, reason: str | None) -> str | None:
    if force_usage and not (reason and reason.strip()):
        raise click.UsageError("--force-usage needs --reason '...': the override is recorded in the event log")
    return reason if force_usage else None


@main.command("expand")
@_FORMAT
@_RESUME
@_usage_options
@_db_options
@_handle_errors
def expand_command(
    fmt: str,
    resume: bool,
    force_usage: bool,
    reason: str | None,
    url: str | None,
    environment: str | None,
    config: Path | None,
    project: Path | None,
) -> None:
    """Apply pending expand revisions safely (timeouts, lock-timeout retries, one run at a time).

    Stops before the first contract revision whose gate is closed; in the two-branch layout
    contract revisions are left to `ec contract`. A revision is gated as contract when it
    declares so, or when what it does (captured offline) contracts or cannot be read.

    A revision whose earlier run never finished (killed, host lost) is not rerun blindly:
    exit 1 with what was found and the steps out; `--resume` reruns it if it declares
    `resumable = True`.
    """
    kwargs = _db_kwargs(url, environment, config, project)
    _run_command("expand", fmt, kwargs, resume=resume, force_usage=force_usage, reason=reason)


@main.command("contract")
@_FORMAT
@_RESUME
@_usage_options
@_db_options
@_handle_errors
def contract_command(
    fmt: str,
    resume: bool,
    force_usage: bool,
    reason: str | None,
    url: str | None,
    environment: str | None,
    config: Path | None,
    project: Path | None,
) -> None:
    """Apply pending revisions including contract ones - only when the gate is open.

    Refuses (exit 1), before running anything, while a color that needs the old schema is not
    retired, naming the color, its sessions and the revisions waiting. With runner.usage-window
    set, it also watches the database's statement statistics that long before each contract
    revision and refuses while anything still uses what it removes (--force-usage --reason).
    """
    kwargs = _db_kwargs(url, environment, config, project)
    _run_command("contract", fmt, kwargs, resume=resume, force_usage=force_usage, reason=reason)


@main.command("downgrade")
@click.argument("destination")
@click.option("--reason", help="Why; lets a downgrade through that a running color needs (recorded).")
@_FORMAT
@_db_options
@_handle_errors
def downgrade_command(
    fmt: str,
    destination: str,
    reason: str | None,
    url: str | None,
    environment: str | None,
    config: Path | None,
    project: Path | None,
) -> None:
    """Revert revisions down to DESTINATION (a revision, -1, base), one run at a time.

    Refused (exit 1) when a color that is not retired needs a revision it would revert (a
    downgrade below what live code expects drops what it uses); --reason overrides that, and
    the override is recorded. A failure while reverting exits 4.
    """
    from expandcontract.runner.apply import downgrade

    def echo(message: str) -> None:
        click.echo(message, err=fmt == "json")

    report = downgrade(destination, reason=reason, echo=echo, **_db_kwargs(url, environment, config, project))
    _emit(
        fmt,
        {"reverted": report.applied, "environment": report.environment},
        f"reverted: {' '.join(report.applied) or 'nothing'}",
    )


@main.command("resolve")
@click.argument("revision")
@click.option("--reason", required=True, help="What was done to the database by hand.")
@_FORMAT
@_db_options
@_handle_errors
def resolve_command(
    fmt: str,
    revision: str,
    reason: str,
    url: str | None,
    environment: str | None,
    config: Path | None,
    project: Path | None,
) -> None:
    """Mark a revision left in progress (failed part-way) as resolved, after fixing it by hand."""
    from expandcontract.ledger.commands import resolve

    count = resolve(revision, reason=reason, **_db_kwargs(url, environment, config, project))
    text = f"resolved {count} run(s) of {revision}" if count else f"no run of {revision} is in progress"
    _emit(fmt, {"revision": revision, "resolved": count}, text)


@main.command("revision")
@click.option("--expand", "expand", is_flag=True, help="An expand revision (safe while the old color runs).")
@click.option("--contract", "contract", is_flag=True, help="A contract revision (runs after retirement).")
@click.option("-m", "--message", required=True, help="What the revision does.")
@click.option("--rev-id", help="A revision id of your choosing (default: generated).")
@click.option(
    "--project",
    "-p",
    type=click.Path(path_type=Path, file_okay=False),
    help="The Alembic project (default: the current directory).",
)
@_FORMAT
@_handle_errors
def revision_command(
    fmt: str, expand: bool, contract: bool, message: str, rev_id: str | None, project: Path | None
) -> None:
    """Create a revision with its phase declared, in the right place for the history's layout.

    Two-branch layout (branch labels expand/contract): on that branch, and a contract revision
    depends_on the current expand head. Linear layout: on top of the head.
    """
    if expand and contract:
        raise click.UsageError("--expand and --contract exclude each other: a revision has one phase")
    if not expand and not contract:
        raise click.UsageError("choose --expand or --contract")
    phase = "expand" if expand else "contract"
    from expandcontract.migrations.scaffold import revision

    path = revision(message, phase=phase, project=project, rev_id=rev_id)
    _emit(fmt, {"path": str(path), "phase": phase}, f"created {phase} revision {path}")


@main.command("online-alter")
@click.argument("table")
@click.argument("alter_clause", metavar="ALTER")
@click.option(
    "--engine",
    type=click.Choice(["auto", "gh-ost", "pt-online-schema-change", "plain"]),
    default="auto",
    show_default=True,
    help="auto: plain or INSTANT for small tables, else gh-ost, else pt-osc.",
)
@click.option("--dry-run", is_flag=True, help="Validate only (gh-ost noop / pt-osc --dry-run); change nothing.")
@click.option("--postpone", is_flag=True, help="gh-ost: copy, then wait for `ec online-cutover TABLE`.")
@click.option("--drop-old-table", is_flag=True, help="Drop the old table after success (default: keep it).")
@click.option(
    "--resume",
    is_flag=True,
    help="Pick up TABLE's lost gh-ost run of the same ALTER (its process was killed) from its last checkpoint.",
)
@click.option(
    "--tool-arg",
    "tool_args",
    multiple=True,
    metavar="FLAG",
    help="Pass a flag to the tool, e.g. --tool-arg=--max-load=Threads_running=25 (repeatable; checked "
    "against the gh-ost build first; config: online.ghost-args / online.ptosc-args).",
)
@_FORMAT
@_db_options
@_handle_errors
def online_alter_command(
    table: str,
    alter_clause: str,
    engine: str,
    dry_run: bool,
    postpone: bool,
    drop_old_table: bool,
    resume: bool,
    tool_args: tuple[str, ...],
    fmt: str,
    url: str | None,
    environment: str | None,
    config: Path | None,
    project: Path | None,
) -> None:
    """Run ALTER TABLE TABLE ALTER without blocking writes: gh-ost or pt-online-schema-change
    for large MySQL/MariaDB tables, a plain ALTER for small ones. Says which and why.

    \b
    Example:  ec online-alter events "MODIFY COLUMN payload MEDIUMTEXT"
    Exit codes: 0 done, 1 the tool failed (original table intact, leftovers removed),
    2 refused (the reasons are printed; nothing was changed).
    """
    from expandcontract.ledger.commands import resolve_target
    from expandcontract.online.api import alter

    target = resolve_target(**_db_kwargs(url, environment, config, project))
    tty = sys.stderr.isatty()
    display = _online_display("text" if tty else "json")[1]

    def progress(p: Any) -> None:
        display(table, p)

    result = alter(
        table,
        alter_clause,
        engine=engine,
        execute=not dry_run,
        postpone=postpone,
        url=target.url,
        environment=target.environment,
        settings=target.settings,
        on_progress=progress,
        keep_old_table=not drop_old_table,
        extra_args=list(tool_args),
        resume=resume,
    )
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(f"{table}: {result.state} via {result.plan.engine} in {result.seconds:.1f}s ({result.plan.reason})")


@main.command("online-cutover")
@click.argument("table")
@_FORMAT
@_db_options
@_handle_errors
def online_cutover_command(
    fmt: str, table: str, url: str | None, environment: str | None, config: Path | None, project: Path | None
) -> None:
    """Release the postponed cut-over of TABLE's running gh-ost migration."""
    from expandcontract.ledger.commands import resolve_target
    from expandcontract.online.api import cutover

    target = resolve_target(**_db_kwargs(url, environment, config, project))
    message = cutover(table, url=target.url, environment=target.environment, settings=target.settings)
    _emit(fmt, {"table": table, "message": message}, message)


@main.command("online-abort")
@click.argument("table")
@click.option("--reason", help="Why, for the event log.")
@_FORMAT
@_db_options
@_handle_errors
def online_abort_command(
    table: str,
    reason: str | None,
    fmt: str,
    url: str | None,
    environment: str | None,
    config: Path | None,
    project: Path | None,
) -> None:
    """Stop TABLE's online schema change, or clear up after one that was killed.

    A live gh-ost is told to panic (its driver cleans up); for a lost run (its process is
    gone), ec drops gh-ost's _gho/_ghc tables and a cut-over sentry, pt-osc's triggers and
    copy, removes the run directory, and records the abort. The original table, and an old
    table a successful run kept, are never dropped.
    """
    from expandcontract.ledger.commands import resolve_target
    from expandcontract.online.api import online_abort

    target = resolve_target(**_db_kwargs(url, environment, config, project))
    outcome = online_abort(
        table, reason=reason, url=target.url, environment=target.environment, settings=target.settings
    )
    if fmt == "json":
        click.echo(json.dumps(outcome.to_dict(), indent=2))
    else:
        removed = ", ".join(outcome.dropped) or "nothing to remove"
        click.echo(f"{table}: {outcome.runs} run(s) closed as aborted; removed: {removed}")


@main.command("online-revert")
@click.argument("table")
@click.option("--reason", help="Why, for the event log.")
@_FORMAT
@_db_options
@_handle_errors
def online_revert_command(
    table: str,
    reason: str | None,
    fmt: str,
    url: str | None,
    environment: str | None,
    config: Path | None,
    project: Path | None,
) -> None:
    """Undo TABLE's last finished gh-ost change, keeping every write made since.

    gh-ost (--revert) brings the old table it kept up to date from the binlog, ec verifies it,
    and a second cut-over swaps it back (the reverted table is kept as _TABLE_<time>_rev_del).
    Needs the kept old table and gh-ost's checkpoint table, which a run keeps until the next
    online change of TABLE. Exit 1 when gh-ost cannot revert (nothing is swapped).
    """
    from expandcontract.ledger.commands import resolve_target
    from expandcontract.online.api import online_revert

    target = resolve_target(**_db_kwargs(url, environment, config, project))
    result = online_revert(
        table, reason=reason, url=target.url, environment=target.environment, settings=target.settings
    )
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(f"{table}: reverted in {result.seconds:.1f}s ({result.verification})")


@main.command("online-resolve")
@click.argument("table")
@click.option("--reason", required=True, help="What was done by hand (recorded).")
@_FORMAT
@_db_options
@_handle_errors
def online_resolve_command(
    fmt: str,
    table: str,
    reason: str,
    url: str | None,
    environment: str | None,
    config: Path | None,
    project: Path | None,
) -> None:
    """Close TABLE's running/postponed online-run records as resolved (changes no table)."""
    from expandcontract.ledger.commands import resolve_target
    from expandcontract.online.api import online_resolve

    target = resolve_target(**_db_kwargs(url, environment, config, project))
    closed = online_resolve(
        table, reason=reason, url=target.url, environment=target.environment, settings=target.settings
    )
    _emit(fmt, {"table": table, "resolved": closed}, f"{table}: {closed} record(s) resolved")


def _progress(done: int, total: int) -> None:
    """Shown on a terminal while revisions are analysed (cache misses only)."""
    end = "\n" if done == total else ""
    click.echo(f"\rec: analysing revisions {done}/{total}", err=True, nl=False)
    if end:
        click.echo("", err=True)


if __name__ == "__main__":  # pragma: no cover
    main()
