"""The rules' claims, checked against real servers.

Lint rules say "this rewrites the table", "this copies the table", "this fails in a
transaction". These tests run the same statements on PostgreSQL and MariaDB and compare what
the server did with what ec predicted, so a wrong model fails here rather than in production.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL

from expandcontract.sql.types import mysql_inplace_type_change, parse_type, postgres_rewrite_free
from tests.helpers import codes, lint_sql

ROOT = Path(__file__).resolve().parent.parent

PG_TYPE_CHANGES = [
    ("INTEGER", "BIGINT"),
    ("SMALLINT", "INTEGER"),
    ("VARCHAR(10)", "VARCHAR(20)"),
    ("VARCHAR(20)", "VARCHAR(10)"),
    ("VARCHAR(10)", "TEXT"),
    ("TEXT", "VARCHAR"),
    ("NUMERIC(10, 2)", "NUMERIC(12, 2)"),
    ("NUMERIC(10, 2)", "NUMERIC(12, 3)"),
    ("NUMERIC(10, 2)", "NUMERIC"),
    ("CIDR", "INET"),
    ("TEXT", "INTEGER"),
    ("FLOAT", "DOUBLE PRECISION"),
    ("FLOAT", "FLOAT(53)"),
    ("REAL", "DOUBLE PRECISION"),
    ("TIMESTAMP", "TIMESTAMPTZ"),
    ("TIMESTAMPTZ", "TIMESTAMP"),
    ("CHAR(5)", "CHAR(10)"),
    ("JSON", "JSONB"),
    ("INTEGER", "NUMERIC"),
    ("VARBIT(5)", "VARBIT(10)"),
    ("NUMERIC(10, 2)", "NUMERIC(8, 2)"),
    ("TEXT", "VARCHAR(10)"),
    ("BIGINT", "INTEGER"),
    ("VARCHAR(10)", "VARCHAR"),
]


def _relfilenode(conn: object, table: str) -> int:
    return int(conn.execute(text("SELECT relfilenode FROM pg_class WHERE relname = :t"), {"t": table}).scalar())  # type: ignore[attr-defined]


@pytest.mark.postgres
@pytest.mark.parametrize(("old", "new"), PG_TYPE_CHANGES)
def test_postgres_type_change_rewrite_model(postgres_url: URL, old: str, new: str) -> None:
    engine = create_engine(postgres_url)
    value = {"CIDR": "'10.0.0.0/8'", "JSON": "'{}'", "VARBIT(5)": "B'101'"}.get(old, "'1'")
    if old.startswith("TIMESTAMP"):
        value = "'2020-01-01 00:00:00'"
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE t (id serial PRIMARY KEY, c {old})"))
        conn.execute(text(f"INSERT INTO t (c) VALUES ({value})"))
        before = _relfilenode(conn, "t")
        using = " USING c::integer" if (old, new) == ("TEXT", "INTEGER") else ""
        conn.execute(text(f"ALTER TABLE t ALTER COLUMN c TYPE {new}{using}"))
        rewrote = _relfilenode(conn, "t") != before
        utc = conn.execute(text("SELECT current_setting('TimeZone')")).scalar() in ("UTC", "Etc/UTC", "GMT", "Etc/GMT")
    engine.dispose()
    assert rewrote == (not postgres_rewrite_free(parse_type(old), parse_type(new), utc_session=utc))


PG_ADD_COLUMN = [
    ("integer NOT NULL DEFAULT 0", False),
    ("timestamptz DEFAULT now()", False),
    ("text DEFAULT 'x'", False),
    ("uuid DEFAULT gen_random_uuid()", True),
    ("double precision DEFAULT random()", True),
    ("bigserial", True),
]


@pytest.mark.postgres
@pytest.mark.parametrize(("definition", "rewrites"), PG_ADD_COLUMN)
def test_postgres_add_column_default_rewrite(
    postgres_url: URL, tmp_path: Path, definition: str, rewrites: bool
) -> None:
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id int PRIMARY KEY)"))
        conn.execute(text("INSERT INTO t VALUES (1), (2)"))
        before = _relfilenode(conn, "t")
        conn.execute(text(f"ALTER TABLE t ADD COLUMN c {definition}"))
        assert (_relfilenode(conn, "t") != before) == rewrites
    engine.dispose()
    predicted = "EC207" in codes(
        lint_sql(tmp_path, f"ALTER TABLE t ADD COLUMN c {definition};", versions={"postgresql": 15})
    )
    assert predicted == rewrites


@pytest.mark.postgres
def test_postgres_refuses_concurrently_in_a_transaction(postgres_url: URL, tmp_path: Path) -> None:
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE orders (id int PRIMARY KEY, user_id int)"))
    with engine.connect() as conn, pytest.raises(Exception, match="cannot run inside a transaction block"):
        conn.execute(text("CREATE INDEX CONCURRENTLY ix ON orders (user_id)"))
    engine.dispose()
    report = lint_sql(tmp_path, "BEGIN;\nCREATE INDEX CONCURRENTLY ix ON orders (user_id);\nCOMMIT;")
    assert "EC203" in codes(report)


MYSQL_TYPE_CHANGES = [
    ("VARCHAR(10)", "VARCHAR(20)"),
    ("VARCHAR(10)", "VARCHAR(60)"),
    ("VARCHAR(60)", "VARCHAR(70)"),
    ("TEXT", "MEDIUMTEXT"),
    ("CHAR(5)", "CHAR(10)"),
    ("DECIMAL(10,2)", "DECIMAL(10,3)"),
    ("ENUM('a','b')", "ENUM('a','b','c','d')"),
    ("SET('a','b')", "SET('a','b','c')"),
    ("VARCHAR(63)", "VARCHAR(64)"),
    ("VARCHAR(100)", "VARCHAR(200)"),
    ("VARCHAR(20)", "VARCHAR(100)"),
    ("VARCHAR(31)", "VARCHAR(64)"),
    ("VARCHAR(32)", "VARCHAR(64)"),
    ("VARCHAR(20)", "VARCHAR(10)"),
    ("VARCHAR(50)", "TEXT"),
    ("INT", "BIGINT"),
    ("SMALLINT", "INT"),
    ("INT", "INT UNSIGNED"),
    ("DECIMAL(10,2)", "DECIMAL(12,2)"),
    ("ENUM('a','b')", "ENUM('a','b','c')"),
    ("ENUM('a','b')", "ENUM('a','x','b')"),
]


@pytest.mark.mysql
@pytest.mark.parametrize(("old", "new"), MYSQL_TYPE_CHANGES)
def test_mariadb_table_copy_model(mysql_url: URL, tmp_path: Path, old: str, new: str) -> None:
    engine = create_engine(mysql_url)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE t (id INT PRIMARY KEY, c {old}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"))
        try:
            conn.execute(text(f"ALTER TABLE t MODIFY c {new}, ALGORITHM=INPLACE, LOCK=NONE"))
            refusal = ""
        except Exception as error:  # noqa: BLE001
            refusal = str(error)
    # 1846 is ER_ALTER_OPERATION_NOT_SUPPORTED_REASON: the server needs ALGORITHM=COPY.
    assert refusal == "" or "1846" in refusal, refusal
    inplace = refusal == ""
    engine.dispose()
    assert inplace == mysql_inplace_type_change(parse_type(old), parse_type(new), "utf8mb4")
    sa_type = {"ENUM('a','b')": "mysql.ENUM('a', 'b')"}.get(old)
    if sa_type is None:
        return
    # The rule, fed the same change through Alembic, agrees with the server.
    new_sa = "mysql.ENUM(" + ", ".join(repr(v.strip("'")) for v in new[5:-1].split(",")) + ")"
    from tests.helpers import lint_ops

    report = lint_ops(tmp_path, f"op.alter_column('t', 'c', type_={new_sa}, existing_type={sa_type})", "mariadb")
    assert ("EC401" in codes(report)) == (not inplace)


def _upgrade_example(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from alembic import command
    from alembic.config import Config

    project = tmp_path / "rename-column"
    shutil.copytree(ROOT / "examples" / "rename-column", project)
    monkeypatch.chdir(project)
    monkeypatch.setenv("EC_DATABASE_URL", url)
    # env.py is wired to the contract gate: record the only color, built against the head.
    import expandcontract

    expandcontract.deploy("green", version="v2", url=url, project=project)
    command.upgrade(Config(str(project / "alembic.ini")), "head")
    engine = create_engine(url)
    columns = {c["name"] for c in inspect(engine).get_columns("users")}
    with engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    assert columns == {"id", "email", "full_name"}
    assert version == "0005"


def test_example_migrates_on_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _upgrade_example(f"sqlite:///{tmp_path / 'app.db'}", tmp_path, monkeypatch)


@pytest.mark.postgres
def test_example_migrates_on_postgres(postgres_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _upgrade_example(postgres_url.render_as_string(hide_password=False), tmp_path, monkeypatch)


@pytest.mark.mysql
def test_example_migrates_on_mariadb(mysql_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _upgrade_example(mysql_url.render_as_string(hide_password=False), tmp_path, monkeypatch)


@pytest.mark.postgres
@pytest.mark.parametrize(("old", "new"), [("TIMESTAMP", "TIMESTAMPTZ"), ("TIMESTAMPTZ", "TIMESTAMP")])
def test_postgres_timestamp_zone_change_rewrites_outside_utc(postgres_url: URL, old: str, new: str) -> None:
    """Free only when the session's TimeZone is UTC: ec, not knowing the session, counts a rewrite."""
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("SET TimeZone = 'Europe/Paris'"))
        conn.execute(text(f"CREATE TABLE t (id serial PRIMARY KEY, c {old})"))
        conn.execute(text("INSERT INTO t (c) VALUES ('2020-01-01 00:00:00')"))
        before = _relfilenode(conn, "t")
        conn.execute(text(f"ALTER TABLE t ALTER COLUMN c TYPE {new}"))
        rewrote = _relfilenode(conn, "t") != before
    engine.dispose()
    assert rewrote and not postgres_rewrite_free(parse_type(old), parse_type(new))


def test_the_measured_page_lists_every_measured_claim() -> None:
    """docs/reference/measured.md is the table the rules cite: every pair measured here is in it,
    with the outcome the model (and so the server) gives."""
    page = (ROOT / "docs" / "reference" / "measured.md").read_text(encoding="utf-8")
    for old, new in PG_TYPE_CHANGES:
        free = postgres_rewrite_free(parse_type(old), parse_type(new), utc_session=True)
        assert f"| `{old}` -> `{new}` | {'no rewrite' if free else 'rewrite'} |" in page
    for definition, rewrites in PG_ADD_COLUMN:
        assert f"| `ADD COLUMN c {definition}` | {'rewrite' if rewrites else 'no rewrite'} |" in page
    for old, new in MYSQL_TYPE_CHANGES:
        inplace = mysql_inplace_type_change(parse_type(old), parse_type(new), "utf8mb4")
        assert f"| `{old}` -> `{new}` | {'in place' if inplace else 'table copy'} |" in page
