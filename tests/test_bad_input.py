"""User mistakes and odd input end in a clear error (exit 2) or a finding, never an internal
error (exit 3), and never hide the rest of the input."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

import expandcontract
from expandcontract.config import settings_from_mapping
from expandcontract.errors import ConfigError
from tests.helpers import codes, lint_sql, run_alembic

ROOT = Path(__file__).resolve().parent.parent


def _ec(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "expandcontract.cli", *args],
        capture_output=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def _example(tmp_path: Path) -> Path:
    project = tmp_path / "rename-column"
    shutil.copytree(ROOT / "examples" / "rename-column", project, ignore=shutil.ignore_patterns("*.db"))
    return project


def test_a_non_utf8_alembic_ini_is_a_clear_error(tmp_path: Path) -> None:
    project = _example(tmp_path)
    (project / "alembic.ini").write_bytes(b"[alembic]\nscript_location = migrations\n# caf\xe9\n")
    result = _ec("lint", str(project))
    assert result.returncode == 2
    assert b"is not UTF-8 text" in result.stderr and b"Traceback" not in result.stderr


def test_a_url_with_a_bad_port_is_a_clear_error_that_hides_the_password(tmp_path: Path) -> None:
    result = _ec("history", "--url", "postgresql://u:s3cret@127.0.0.1:notaport/db")
    assert result.returncode == 2
    assert b"the port must be a number" in result.stderr and b"s3cret" not in result.stderr


def test_a_dangling_revision_file_is_an_error_not_a_silent_pass(tmp_path: Path) -> None:
    project = _example(tmp_path)
    (project / "migrations" / "versions" / "0006_gone.py").symlink_to(tmp_path / "nowhere.py")
    result = _ec("lint", str(project))
    assert result.returncode == 2
    assert b"cannot read this revision file" in result.stderr


@pytest.fixture(params=["postgres", "mysql"])
def server(request: pytest.FixtureRequest) -> str:
    url: URL = request.getfixturevalue("postgres_url" if request.param == "postgres" else "mysql_url")
    return url.render_as_string(hide_password=False)


def test_long_or_non_utf8_text_is_refused_before_the_database_sees_it(server: str, tmp_path: Path) -> None:
    project = _example(tmp_path)
    kw: dict[str, Any] = {"url": server, "project": project}
    with pytest.raises(ConfigError, match="--version is 300 characters long; at most 255"):
        expandcontract.deploy("blue", version="v" * 300, **kw)
    with pytest.raises(ConfigError, match="--reason is not valid UTF-8"):
        expandcontract.deploy("blue", version="v1", reason="\udcff\udcfe", **kw)
    # From a terminal that sends Latin-1 bytes: exit 2, one line.
    result = _ec("deploy", "blue", "--version", "v1", "--reason", os.fsdecode(b"caf\xe9"), "--url", server, cwd=project)
    assert result.returncode == 2 and b"not valid UTF-8" in result.stderr


def test_history_text_cannot_be_forged_by_a_newline_in_a_reason(tmp_path: Path) -> None:
    project = _example(tmp_path)
    url = f"sqlite:///{tmp_path / 'app.db'}"
    expandcontract.deploy(
        "blue", version="v1", reason="ok\n2026-01-01 00:00:00  default  retire blue", url=url, project=project
    )
    result = _ec("history", "--url", url, cwd=project)
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 1 and "ok\\n2026-01-01" in lines[0]


def test_an_unterminated_literal_keeps_the_statements_before_it(tmp_path: Path) -> None:
    report = lint_sql(tmp_path, "DROP TABLE users;\nINSERT INTO t VALUES ('abc);\n", select=["EC0", "EC1"])
    assert [(f.code, f.line) for f in report.findings] == [("EC102", 1), ("EC001", 2)]


def test_deep_nesting_is_one_unverified_statement_not_a_crash(tmp_path: Path) -> None:
    sql = "SELECT " + "(" * 1000 + "1" + ")" * 1000 + ";\nDROP TABLE a;\n"
    report = lint_sql(tmp_path, sql, select=["EC0", "EC1"])
    assert codes(report) == ["EC001", "EC102"]
    assert "nested too deeply" in report.findings[0].message


def test_a_huge_insert_is_read_as_data_without_parsing_it(tmp_path: Path) -> None:
    rows = ",".join(f"({i},'x{i}')" for i in range(120_000))
    report = lint_sql(tmp_path, f"INSERT INTO t (a, b) VALUES {rows};\nDROP TABLE t;\n", select=["EC0", "EC1"])
    assert codes(report) == ["EC102"]
    assert report.findings[0].line == 2


def test_a_sub_second_lock_timeout_is_refused_on_mariadb(mysql_url: URL, tmp_path: Path) -> None:
    server = mysql_url.render_as_string(hide_password=False)
    project = _example(tmp_path)
    settings = settings_from_mapping({"runner": {"lock-timeout": "200ms"}})
    with pytest.raises(ConfigError, match=r"lock-timeout = 0\.2s cannot be honoured on MySQL/MariaDB"):
        expandcontract.expand(url=server, project=project, settings=settings)
    from sqlalchemy import create_engine, inspect

    engine = create_engine(server)
    assert inspect(engine).get_table_names() == []  # refused before anything was touched
    engine.dispose()


def test_the_example_env_py_takes_a_url_encoded_password(postgres_url: URL, tmp_path: Path) -> None:
    """Trust auth accepts any password: the point is the % in the URL, and that it is not printed."""
    project = _example(tmp_path)
    url = postgres_url.set(password="p@ss%word").render_as_string(hide_password=False)
    assert "%40" in url and "%25" in url
    result = run_alembic(project, url, "upgrade", "0004")
    assert result.returncode == 0, result.stderr
    assert "p%40ss" not in result.stdout + result.stderr
