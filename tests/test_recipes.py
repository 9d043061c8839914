"""The safe recipes on real PostgreSQL and MariaDB, and what ec lint says of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL

import expandcontract
from expandcontract.config import settings_from_mapping
from tests.helpers import write_revision

HEADER = "from expandcontract import recipes\n"


@pytest.fixture(params=["postgres", "mysql"])
def url(request: pytest.FixtureRequest) -> str:
    fixture = "postgres_url" if request.param == "postgres" else "mysql_url"
    server: URL = request.getfixturevalue(fixture)
    return server.render_as_string(hide_password=False)


def _project(tmp_path: Path) -> Path:
    versions = tmp_path / "proj" / "versions"
    write_revision(
        versions,
        "r1",
        """
        op.create_table("users", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("name", sa.String(50)),
                        sa.Column("email", sa.String(100)), sa.Column("team_id", sa.Integer()))
        op.create_table("teams", sa.Column("id", sa.Integer(), primary_key=True))
        op.execute("INSERT INTO teams (id) VALUES (1)")
    """,
    )
    return versions


def _run(url: str, versions: Path, *, mode: str = "expand") -> Any:
    settings = settings_from_mapping({})
    expandcontract.deploy("green", version="v", url=url, project=versions, settings=settings)
    return getattr(expandcontract, mode)(url=url, project=versions, settings=settings)


def _fill_users(url: str, count: int) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO users (id, name, email, team_id) VALUES (:i, :n, :e, 1)"),
            [{"i": i, "n": f"user {i}", "e": f"u{i}@example.com"} for i in range(1, count + 1)],
        )
    engine.dispose()


def test_backfill_batches_and_resumes(url: str, tmp_path: Path) -> None:
    versions = _project(tmp_path)
    _run(url, versions)
    _fill_users(url, 2500)
    write_revision(
        versions,
        "r2",
        """
        op.add_column("users", sa.Column("full_name", sa.String(50)))
        recipes.backfill("users", set_={"full_name": "name"}, where="full_name IS NULL", batch_size=1000)
    """,
        down="r1",
        extra=HEADER,
    )
    assert _run(url, versions).applied == ["r2"]
    engine = create_engine(url)
    with engine.connect() as conn:
        missing = conn.execute(text("SELECT count(*) FROM users WHERE full_name IS NULL OR full_name <> name")).scalar()
    engine.dispose()
    assert missing == 0
    # A rerun finds nothing left to do: the WHERE clause is the resume point.
    write_revision(
        versions,
        "r3",
        """
        assert recipes.backfill("users", set_="full_name = name", where="full_name IS NULL") == 0
    """,
        down="r2",
        extra=HEADER,
    )
    assert _run(url, versions).applied == ["r3"]


def test_backfill_reports_every_batch(url: str, tmp_path: Path) -> None:
    versions = _project(tmp_path)
    _run(url, versions)
    _fill_users(url, 2500)
    marker = tmp_path / "progress.txt"
    write_revision(
        versions,
        "r2",
        f"""
        op.add_column("users", sa.Column("full_name", sa.String(50)))
        def note(done, batch, batches):
            with open({str(marker)!r}, "a") as handle:
                handle.write(f"{{done}} {{batch}} {{batches}}\\n")
        assert recipes.backfill("users", set_={{"full_name": "name"}}, where="full_name IS NULL",
                                batch_size=1000, progress=note) == 2500
    """,
        down="r1",
        extra=HEADER,
    )
    _run(url, versions)
    assert marker.read_text().splitlines() == ["1000 1 3", "2000 2 3", "2500 3 3"]


def test_constraint_recipes(url: str, tmp_path: Path) -> None:
    versions = _project(tmp_path)
    _run(url, versions)
    _fill_users(url, 10)
    write_revision(
        versions,
        "r2",
        """
        recipes.add_foreign_key("fk_users_team", "users", "teams", ["team_id"], ["id"])
        recipes.add_check("ck_users_team", "users", "team_id > 0")
        recipes.add_unique("uq_users_email", "users", ["email"])
    """,
        down="r1",
        extra=HEADER,
    )
    write_revision(
        versions,
        "r3",
        """
        recipes.set_not_null("users", "email", existing_type=sa.String(100))
    """,
        down="r2",
        extra=HEADER + 'phase = "contract"',
    )
    assert _run(url, versions, mode="contract").applied == ["r2", "r3"]
    engine = create_engine(url)
    insp = inspect(engine)
    assert [fk["name"] for fk in insp.get_foreign_keys("users")] == ["fk_users_team"]
    assert {c["name"]: c["nullable"] for c in insp.get_columns("users")}["email"] is False
    unique = insp.get_unique_constraints("users") + [i for i in insp.get_indexes("users") if i["unique"]]
    assert "uq_users_email" in {u["name"] for u in unique}
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            validated = dict(
                conn.execute(
                    text("SELECT conname, convalidated FROM pg_constraint WHERE conrelid = 'users'::regclass")
                ).all()
            )
        assert validated == {"users_pkey": True, "fk_users_team": True, "ck_users_team": True, "uq_users_email": True}
        assert "users_email_not_null" not in validated  # the helper check is gone
    engine.dispose()
    # The recipes are the lint rules' "use instead": no lock finding on either dialect.
    dialect = "postgresql" if url.startswith("postgresql") else "mariadb"
    report = expandcontract.lint([versions], dialect=dialect, use_cache=False)
    lock = [(f.code, f.line) for f in report.findings if f.category == "lock"]
    assert lock == []


def test_rename_column_recipe_keeps_both_names_in_sync(url: str, tmp_path: Path) -> None:
    versions = _project(tmp_path)
    _run(url, versions)
    _fill_users(url, 5)
    write_revision(
        versions,
        "r2",
        """
        recipes.rename_column_expand("users", "name", "full_name", sa.String(50), batch_size=2)
    """,
        down="r1",
        extra=HEADER + 'phase = "expand"',
    )
    assert _run(url, versions).applied == ["r2"]
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (id, name) VALUES (100, 'old code')"))  # the old color writes name
        conn.execute(text("INSERT INTO users (id, full_name) VALUES (101, 'new code')"))  # the new one full_name
        conn.execute(text("UPDATE users SET name = 'renamed by old' WHERE id = 1"))
        conn.execute(text("UPDATE users SET full_name = 'renamed by new' WHERE id = 2"))
    with engine.connect() as conn:
        rows = dict(
            (r[0], (r[1], r[2]))
            for r in conn.execute(text("SELECT id, name, full_name FROM users WHERE id IN (1, 2, 3, 100, 101)"))
        )
    assert rows == {
        1: ("renamed by old", "renamed by old"),
        2: ("renamed by new", "renamed by new"),
        3: ("user 3", "user 3"),
        100: ("old code", "old code"),
        101: ("new code", "new code"),
    }
    write_revision(
        versions,
        "r3",
        """
        recipes.rename_column_contract("users", "name", "full_name")
    """,
        down="r2",
        extra=HEADER + 'phase = "contract"',
    )
    assert _run(url, versions, mode="contract").applied == ["r3"]
    assert "name" not in {c["name"] for c in inspect(engine).get_columns("users")}
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (id, full_name) VALUES (102, 'after contract')"))
    engine.dispose()
