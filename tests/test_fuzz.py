"""Fuzzing with a fixed budget (deterministic, so CI is repeatable): no input makes ec crash.

A crash is exit 3 (an internal error) or an exception out of the parser; user input must end
in a finding, a clear error (exit 2) or a verdict (exit 0/1)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expandcontract.cli import main
from expandcontract.dialects import Target
from expandcontract.sql.normalize import parse_sql

FRAGMENTS = [
    "ALTER TABLE",
    "t",
    "users",
    "ADD COLUMN",
    "DROP COLUMN",
    "a",
    "int",
    "varchar(10)",
    "NOT NULL",
    "DEFAULT",
    "0",
    "CREATE INDEX CONCURRENTLY",
    "ix",
    "ON",
    "(",
    ")",
    ",",
    ";",
    "'",
    '"',
    "`",
    "$$",
    "$tag$",
    "--",
    "/*",
    "*/",
    "\n",
    " ",
    "BEGIN",
    "END",
    "DO",
    "DELIMITER //",
    "//",
    "SELECT",
    "1",
    "INSERT INTO",
    "VALUES",
    "UPDATE",
    "SET",
    "WHERE",
    "RENAME",
    "TO",
    "DROP TABLE",
    "é",
    "\x00",
    "\\",
    "CREATE TRIGGER",
    "FOR EACH ROW",
    "IF",
    "THEN",
    "LOCK TABLE",
    "VALIDATE CONSTRAINT",
    "NOT VALID",
]
SQL = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=5), max_size=200).map(" ".join)
BUDGET = settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@BUDGET
@given(sql=SQL, dialect=st.sampled_from(["postgresql", "mysql", "mariadb"]))
def test_the_parser_never_raises(sql: str, dialect: str) -> None:
    changes = parse_sql(sql, Target.default(dialect))  # type: ignore[arg-type]
    assert isinstance(changes, list)


@settings(
    max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sql=SQL, dialect=st.sampled_from(["postgresql", "mariadb"]))
def test_lint_of_any_sql_file_never_exits_3(tmp_path_factory: object, sql: str, dialect: str) -> None:
    directory = Path(tmp_path_factory.mktemp("fuzz"))  # type: ignore[attr-defined]
    path = directory / "m.sql"
    path.write_text(sql, encoding="utf-8", errors="surrogateescape")
    result = CliRunner().invoke(main, ["lint", str(path), "--no-cache", "--dialect", dialect])
    assert result.exit_code in (0, 1), result.output


TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]) | st.sampled_from(["\n", "\r", "%", "'"]),
    max_size=300,
)


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(version=TEXT, reason=TEXT, color=st.text(max_size=70))
def test_deploy_with_any_text_never_exits_3(tmp_path_factory: object, version: str, reason: str, color: str) -> None:
    directory = Path(tmp_path_factory.mktemp("deploy"))  # type: ignore[attr-defined]
    project = Path(__file__).resolve().parent.parent / "examples" / "rename-column"
    args = ["deploy", color or "blue", "--version", version or "v", "--reason", reason, "--new"]
    args += ["--url", f"sqlite:///{directory / 'a.db'}", "--project", str(project)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code in (0, 2), result.output


@settings(max_examples=60, deadline=None, derandomize=True)
@given(url=st.text(max_size=80))
def test_any_database_url_is_a_clear_error(url: str) -> None:
    result = CliRunner().invoke(main, ["history", "--url", url or "x"])
    assert result.exit_code in (0, 2), result.output
