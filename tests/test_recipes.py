"""The safe recipes on real PostgreSQL and MariaDB, and what ec lint says of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL

import expandcontract
from expandcontract.config import settings_from_mapping
from tests.helpers import run_alembic, write_revision

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
    # The recipes are the lint rules' "use instead": no lock finding, except the one thing MySQL
    # and MariaDB cannot do online, a CHECK (measured: COPY only), which ec reports.
    dialect = "postgresql" if url.startswith("postgresql") else "mariadb"
    report = expandcontract.lint([versions], dialect=dialect, use_cache=False)
    lock = [(f.code, f.line) for f in report.findings if f.category == "lock"]
    assert lock == ([] if dialect == "postgresql" else [("EC401", 12)])


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


def _offline_project(tmp_path: Path, body: str) -> Path:
    """An Alembic project (env.py with offline mode) whose r2 is ``body``."""
    import shutil

    root = Path(__file__).resolve().parent.parent
    project = tmp_path / "offline"
    shutil.copytree(root / "examples" / "rename-column", project, ignore=shutil.ignore_patterns("*.db"))
    versions = project / "migrations" / "versions"
    for path in versions.glob("*.py"):
        path.unlink()
    write_revision(
        versions,
        "r1",
        """
        op.create_table("users", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("name", sa.String(50)),
                        sa.Column("full_name", sa.String(50)))
        op.execute("INSERT INTO users (id, name) SELECT g, 'user ' || g FROM generate_series(1, 2500) AS g")
    """,
    )
    write_revision(versions, "r2", body, down="r1", extra=HEADER)
    return project


def _render(project: Path, url: str) -> Any:
    return run_alembic(project, url, "upgrade", "head", "--sql")


def test_an_offline_backfill_script_fills_every_row_not_one_batch(postgres_url: URL, tmp_path: Path) -> None:
    """Measured: `alembic upgrade --sql` printed only `... AND id >= 0 AND id < 5000`."""
    import subprocess

    url = postgres_url.render_as_string(hide_password=False)
    body = 'recipes.backfill("users", set_={"full_name": "name"}, where="full_name IS NULL", batch_size=1000)'
    rendered = _render(_offline_project(tmp_path, body), url)
    assert rendered.returncode == 0, rendered.stderr
    script = tmp_path / "upgrade.sql"
    script.write_text(rendered.stdout, encoding="utf-8")
    applied = subprocess.run(
        [
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            postgres_url.database or "",
            "-f",
            str(script),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert applied.returncode == 0, applied.stderr
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM users WHERE full_name = name")).scalar() == 2500
    engine.dispose()


def test_an_offline_backfill_for_mysql_refuses_to_render(tmp_path: Path) -> None:
    body = 'recipes.backfill("users", set_={"full_name": "name"}, where="full_name IS NULL")'
    rendered = _render(_offline_project(tmp_path, body), "mysql+pymysql://root@127.0.0.1/test")
    assert rendered.returncode != 0
    assert "cannot be rendered as an SQL script for MySQL/MariaDB" in rendered.stderr
    assert "UPDATE" not in rendered.stdout


RECIPES_BY_PHASE = {
    "expand": [
        'recipes.backfill("users", set_={"full_name": "name"}, where="full_name IS NULL")',
        'recipes.add_foreign_key("fk_users_team", "users", "teams", ["team_id"], ["id"])',
        'recipes.add_check("ck_users_team", "users", "team_id > 0")',
        'recipes.add_unique("uq_users_email", "users", ["email"])',
        'recipes.rename_column_expand("users", "name", "full_name", sa.String(50))',
    ],
    "contract": [
        'recipes.set_not_null("users", "email", existing_type=sa.String(100))',
        'recipes.rename_column_contract("users", "name", "full_name")',
    ],
}


@pytest.mark.parametrize(
    ("phase", "body"), [(phase, body) for phase, bodies in RECIPES_BY_PHASE.items() for body in bodies]
)
@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "mariadb"])
def test_every_recipe_passes_lint_in_its_documented_phase(phase: str, body: str, dialect: str, tmp_path: Path) -> None:
    """Measured: set_not_null in a contract revision was EC003 mixed-phase; rename_column_expand
    on MariaDB was 5 x EC001 (trigger bodies split at their semicolons)."""
    versions = tmp_path / "versions"
    write_revision(versions, "r1", body, extra=HEADER + f'phase = "{phase}"')
    report = expandcontract.lint([versions], dialect=dialect, use_cache=False)
    assert report.revisions[0].phase in (phase, "data")  # a backfill alone changes only rows
    # EC301 (existing rows may violate the new rule) is a data precondition the caller checks.
    findings = [f.code for f in report.findings if f.severity != "info" and f.code != "EC301"]
    # A CHECK has no online form on MySQL/MariaDB (measured): the copy is reported, nothing else.
    copies = dialect != "postgresql" and "add_check" in body
    assert findings == (["EC401"] if copies else [])


def _stamp(url: str, revision: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


def test_recipes_rerun_after_a_partial_failure(url: str, tmp_path: Path) -> None:
    """Measured: a rerun stopped at `constraint ... already exists`. Here every step of r2 has
    run already (the worst case of a partial run): rerunning it must succeed and change nothing."""
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
        recipes.rename_column_expand("users", "name", "full_name", sa.String(50), batch_size=3)
    """,
        down="r1",
        extra=HEADER + 'phase = "expand"\nresumable = True',
    )
    settings = settings_from_mapping({"runner": {"unclassified": "declared"}})
    kw: dict[str, Any] = {"url": url, "project": versions, "settings": settings}
    assert expandcontract.expand(**kw).applied == ["r2"]
    _stamp(url, "r1")  # as if the run died after its last statement, before recording it
    from expandcontract.errors import InterruptedRunError

    with pytest.raises(InterruptedRunError, match=r"column users\.full_name already exists"):
        expandcontract.expand(**kw)  # never blindly: only with --resume, for a resumable revision
    assert expandcontract.expand(resume=True, **kw).applied == ["r2"]
    engine = create_engine(url)
    insp = inspect(engine)
    assert [fk["name"] for fk in insp.get_foreign_keys("users")] == ["fk_users_team"]
    with engine.connect() as conn:
        synced = conn.execute(text("SELECT count(*) FROM users WHERE full_name = name")).scalar()
    engine.dispose()
    assert synced == 10


def test_a_backfill_inside_ec_expand_shows_its_progress(postgres_url: URL, tmp_path: Path) -> None:
    """Measured: a 42-batch backfill showed only `applying l3 (expand)` for 12 s."""
    import json
    import os
    import subprocess
    import sys

    url = postgres_url.render_as_string(hide_password=False)
    versions = _project(tmp_path)
    _run(url, versions)
    _fill_users(url, 2500)
    write_revision(
        versions,
        "r2",
        """
        op.add_column("users", sa.Column("full_name", sa.String(50)))
        recipes.backfill("users", set_={"full_name": "name"}, where="full_name IS NULL", batch_size=100)
    """,
        down="r1",
        extra=HEADER,
    )

    def ec(*args: str) -> Any:
        return subprocess.run(
            [sys.executable, "-m", "expandcontract.cli", "expand", "--url", url, "--project", str(versions), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ},
        )

    result = ec("--format", "json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    progress = [e for e in events if e["event"] == "progress" and e["engine"] == "backfill"]
    assert len(progress) == 25 and progress[-1]["percent"] == 100.0
    assert any(e["event"] == "log" and e["message"].startswith("applying r2") for e in events)
    assert json.loads(result.stdout)["applied"] == ["r2"]
