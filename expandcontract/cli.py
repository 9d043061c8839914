"""``ec``: a thin click shell over the library. Exit codes: 0 ok, 1 findings (or a check that
failed), 2 usage or configuration error, 3 internal error."""

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
FORMATS = ("text", "json", "github", "sarif")


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


def _handle_errors(fn: F) -> F:
    """User mistakes end with one clear line and exit 2; bugs with a traceback and exit 3."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ExpandContractError as error:
            click.echo(f"ec: error: {error}", err=True)
            sys.exit(error.exit_code)
        except OSError as error:
            # Unreadable files or directories are the user's to fix, not a bug.
            where = f"{error.filename}: " if error.filename else ""
            click.echo(f"ec: error: {where}{error.strerror or error}", err=True)
            sys.exit(EXIT_USAGE)
        except BrokenPipeError:
            # The reader went away (`ec rules | head`): not an error worth a traceback.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(EXIT_FINDINGS)
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
    Exit codes: 0 clean, 1 findings of error severity, 2 usage or configuration error,
    3 internal error.
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
@click.option("--no-cache", is_flag=True, help="Re-analyse every file (ignore .expandcontract_cache).")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are error findings.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True)
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
    no_cache: bool,
    exit_zero: bool,
    color: str,
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
    )
    text = render(report, fmt, color=_color(color) and output is None)
    if output is not None:
        _write_atomically(output, text)
        counts = report.counts()
        click.echo(
            f"ec: wrote {fmt} report to {output} ({counts['error']} error(s), {counts['warning']} warning(s))", err=True
        )
    else:
        click.echo(text, nl=False)
    sys.exit(EXIT_OK if exit_zero else report.exit_code)


@main.command("rules")
@click.argument("code", required=False)
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
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
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def rule_command(ctx: click.Context, code: str, fmt: str) -> None:
    """Show one rule's documentation (same as `ec rules CODE`)."""
    ctx.invoke(rules_command, code=code, fmt=fmt)


def _progress(done: int, total: int) -> None:
    """Shown on a terminal while revisions are analysed (cache misses only)."""
    end = "\n" if done == total else ""
    click.echo(f"\rec: analysing revisions {done}/{total}", err=True, nl=False)
    if end:
        click.echo("", err=True)


def _write_atomically(path: Path, text: str) -> None:
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


if __name__ == "__main__":  # pragma: no cover
    main()
