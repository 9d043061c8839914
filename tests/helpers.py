"""Small helpers to lint a snippet of SQL or of Alembic operations, offline, and to look at a MySQL table."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from expandcontract.config import Settings, settings_from_mapping
from expandcontract.linter.engine import lint
from expandcontract.linter.findings import Report

FAKE_GHOST = Path(__file__).parent / "fixtures" / "fake_gh_ost.py"

REVISION = """\
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, mysql

revision = "{rev}"
down_revision = {down!r}
{extra}

def upgrade():
{body}
"""


def settings(dialect: str = "postgresql", **options: object) -> Settings:
    return settings_from_mapping({"dialect": dialect, "select": ["ALL"], **options})


def lint_sql(tmp_path: Path, sql: str, dialect: str = "postgresql", **options: object) -> Report:
    path = tmp_path / "migration.sql"
    path.write_text(textwrap.dedent(sql), encoding="utf-8")
    return lint([path], settings=settings(dialect, **options), use_cache=False)


def write_revision(directory: Path, rev: str, body: str, *, down: str | None = None, extra: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{rev}_rev.py"
    indented = textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
    path.write_text(REVISION.format(rev=rev, down=down, extra=extra, body=indented), encoding="utf-8")
    return path


def lint_ops(tmp_path: Path, body: str, dialect: str = "postgresql", *, extra: str = "", **options: object) -> Report:
    versions = tmp_path / "versions"
    write_revision(versions, "r1", body, extra=extra)
    return lint([versions], settings=settings(dialect, **options), use_cache=False)


def codes(report: Report) -> list[str]:
    return [f.code for f in report.findings]


def column_type(url: str, table: str, column: str) -> str:
    """The column's COLUMN_TYPE as MySQL/MariaDB reports it, e.g. ``bigint(20)``."""
    engine = create_engine(url)
    with engine.connect() as conn:
        value = conn.execute(
            text(
                "SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
                "AND TABLE_NAME = :t AND COLUMN_NAME = :c"
            ),
            {"t": table, "c": column},
        ).scalar()
    engine.dispose()
    return str(value)


def run_alembic(project: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`alembic ARGS` in ``project`` as a separate process, with EC_DATABASE_URL set to ``url``."""
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=project,
        env={**os.environ, "EC_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextlib.contextmanager
def color_user(url: str, prefix: str = "ec_blue") -> Iterator[str]:
    """A database user of its own for a color (MariaDB counts sessions by user when
    performance_schema is off); dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    database = make_url(url).database
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE USER '{name}'@'%' IDENTIFIED BY 'pw'"))
        conn.execute(text(f"GRANT ALL ON `{database}`.* TO '{name}'@'%'"))
    try:
        yield name
    finally:
        with engine.connect() as conn:
            conn.execute(text(f"DROP USER IF EXISTS '{name}'@'%'"))
        engine.dispose()
