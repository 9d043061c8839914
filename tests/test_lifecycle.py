"""The deployment lifecycle on real databases: ledger, gate, runner, env.py guard, status.

Runs on SQLite always and on PostgreSQL and MariaDB when their fixtures provide them (in CI
they must). Sessions of the old color are real, tagged connections.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, make_url

import expandcontract
from expandcontract.config import Settings, settings_from_mapping
from expandcontract.errors import (
    ConcurrentRunError,
    ConfigError,
    DowngradeRefused,
    GateClosed,
    LedgerMissingError,
    MigrationFailed,
    RetirementRefused,
    UnknownColorError,
)
from expandcontract.runner.locks import migration_lock
from tests.helpers import color_user, run_alembic, write_revision

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'app.db'}"
    elif request.param == "postgres":
        yield request.getfixturevalue("postgres_url").render_as_string(hide_password=False)
    else:
        yield request.getfixturevalue("mysql_url").render_as_string(hide_password=False)


@pytest.fixture
def blue_user(backend: str) -> Iterator[str | None]:
    """MariaDB keeps performance_schema off, so blue's sessions are told apart by user."""
    if not backend.startswith("mysql"):
        yield None
        return
    with color_user(backend) as name:
        yield name


def _settings(blue_user: str | None, **runner: object) -> Settings:
    ledger: dict[str, Any] = {"session-users": {"blue": blue_user}} if blue_user else {}
    return settings_from_mapping({"ledger": ledger, "runner": {"advisory-lock-timeout": 30, **runner}})


def _blue_session(url: str, blue_user: str | None) -> Any:
    """An open connection tagged as the blue color."""
    u = make_url(url)
    if u.get_backend_name() == "postgresql":
        engine = create_engine(u.update_query_dict({"application_name": "blue"}))
    elif u.get_backend_name() == "mysql":
        engine = create_engine(u.set(username=blue_user, password="pw"), connect_args={"program_name": "blue"})
    else:
        return None
    conn = engine.connect()
    conn.execute(text("SELECT 1"))
    return conn


def _copy_example(name: str, tmp_path: Path) -> Path:
    project = tmp_path / name
    shutil.copytree(ROOT / "examples" / name, project, ignore=shutil.ignore_patterns("*.db", "__pycache__"))
    return project


def _with_session_users(project: Path, blue_user: str | None) -> Path:
    """env.py and require_retired() read the project's own configuration: on MariaDB (no
    performance_schema) they need it to say how blue's sessions are counted, or they refuse."""
    if blue_user:
        with (project / "pyproject.toml").open("a", encoding="utf-8") as config:
            config.write(f'\n[tool.expandcontract.ledger.session-users]\nblue = "{blue_user}"\n')
    return project


def _columns(url: str, table: str) -> set[str]:
    engine = create_engine(url)
    try:
        return {c["name"] for c in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def test_lifecycle_linear_history(backend: str, blue_user: str | None, tmp_path: Path) -> None:
    project = _copy_example("rename-column", tmp_path)
    kw: dict[str, Any] = {"url": backend, "project": project, "settings": _settings(blue_user)}
    server = not backend.startswith("sqlite")

    expandcontract.deploy("blue", version="v1", expects=["0001"], **kw)
    expandcontract.switch("blue", **kw)
    session = _blue_session(backend, blue_user)
    try:
        report = expandcontract.expand(**kw)
        assert report.applied == ["0001", "0002", "0003", "0004"]
        assert list(report.waiting) == ["0005"]

        green = expandcontract.deploy("green", version="v2", **kw)
        assert green.expects == ("0005",)  # the project's head
        expandcontract.switch("green", **kw)

        status = expandcontract.status(**kw)
        assert status.exit_code == 1
        assert status.database_heads == ["0004"]
        assert [d.revision for d in status.pending_contract] == ["0005"]
        sessions = 1 if server else 0
        assert status.verdict == f"contract: BLOCKED (blue is draining, {sessions} session(s) connected)"

        with pytest.raises(GateClosed, match="blue") as closed:
            expandcontract.contract(**kw)
        assert "0005" in str(closed.value)
        if server:
            with pytest.raises(RetirementRefused, match=r"1 database session\(s\) from it are connected"):
                expandcontract.retire("blue", **kw)
    finally:
        if session is not None:
            session.close()
            session.engine.dispose()

    assert "name" in _columns(backend, "users")
    expandcontract.retire("blue", **kw)
    report = expandcontract.contract(**kw)
    assert report.applied == ["0005"]
    assert "name" not in _columns(backend, "users")
    status = expandcontract.status(**kw)
    assert (status.exit_code, status.verdict, status.pending_expand) == (0, "contract: nothing pending", [])

    actions = [(e.action, e.color or e.details.get("revision")) for e in expandcontract.history(**kw)]
    assert actions == [
        ("deploy", "blue"), ("switch", "blue"),
        ("apply", "0001"), ("apply", "0002"), ("apply", "0003"), ("apply", "0004"),
        ("deploy", "green"), ("switch", "green"), ("switch", "blue"),
        ("retire", "blue"), ("apply", "0005"),
    ]  # fmt: skip


def test_lifecycle_two_branch_layout(backend: str, blue_user: str | None, tmp_path: Path) -> None:
    project = _with_session_users(_copy_example("two-branches", tmp_path), blue_user)
    kw: dict[str, Any] = {"url": backend, "project": project, "settings": _settings(blue_user)}
    expandcontract.deploy("blue", version="v1", expects=["a0base"], **kw)
    expandcontract.switch("blue", **kw)
    report = expandcontract.expand(**kw)
    # The expand branch moves on past the waiting contract revision.
    assert report.applied == ["a0base", "e1tier", "e2index"]
    assert list(report.waiting) == ["c1legacy"]
    expandcontract.deploy("green", version="v2", **kw)
    expandcontract.switch("green", **kw)
    assert expandcontract.status(**kw).exit_code == 1
    expandcontract.retire("blue", **kw)
    assert expandcontract.status(**kw).verdict == "contract: READY"
    assert expandcontract.contract(**kw).applied == ["c1legacy"]
    assert "legacy_flags" not in _columns(backend, "accounts")


def _alembic_upgrade(project: Path, url: str, target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from alembic import command
    from alembic.config import Config

    monkeypatch.chdir(project)
    monkeypatch.setenv("EC_DATABASE_URL", url)
    command.upgrade(Config(str(project / "alembic.ini")), target)


def _db_heads(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return []
            return [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
    finally:
        engine.dispose()


def test_env_py_guard_blocks_plain_alembic_upgrade(
    backend: str, blue_user: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _with_session_users(_copy_example("rename-column", tmp_path), blue_user)
    kw: dict[str, Any] = {"url": backend, "project": project, "settings": _settings(blue_user)}
    expandcontract.deploy("blue", version="v1", expects=["0001"], **kw)
    expandcontract.switch("blue", **kw)

    with pytest.raises(GateClosed, match=r"0005 waits for: blue \(live\)"):
        _alembic_upgrade(project, backend, "head", monkeypatch)
    assert _db_heads(backend) == []  # refused before running anything

    _alembic_upgrade(project, backend, "0004", monkeypatch)  # expand revisions still run
    assert _db_heads(backend) == ["0004"]

    expandcontract.deploy("green", version="v2", **kw)
    expandcontract.switch("green", **kw)
    expandcontract.retire("blue", **kw)
    _alembic_upgrade(project, backend, "head", monkeypatch)
    assert _db_heads(backend) == ["0005"]


def _alembic_downgrade(project: Path, url: str, target: str, monkeypatch: pytest.MonkeyPatch, *x_args: str) -> None:
    import argparse

    from alembic import command
    from alembic.config import Config

    monkeypatch.chdir(project)
    monkeypatch.setenv("EC_DATABASE_URL", url)
    config = Config(str(project / "alembic.ini"))
    config.cmd_opts = argparse.Namespace(x=list(x_args))
    command.downgrade(config, target)


def test_downgrade_below_what_a_live_color_needs_is_refused(
    backend: str, blue_user: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Measured: `alembic downgrade 0001` with green live (expects 0005) dropped users.full_name
    and a table with no refusal, and `ec status` said nothing."""
    project = _with_session_users(_copy_example("rename-column", tmp_path), blue_user)
    kw: dict[str, Any] = {"url": backend, "project": project, "settings": _settings(blue_user)}
    expandcontract.deploy("blue", version="v1", expects=["0001"], **kw)
    expandcontract.switch("blue", **kw)
    _alembic_upgrade(project, backend, "0004", monkeypatch)
    expandcontract.deploy("green", version="v2", **kw)
    expandcontract.switch("green", **kw)
    assert expandcontract.status(**kw).problems == []

    refused = r"green \(live, version v2\) expects 0005, and the downgrade would revert 0004, 0003, 0002"
    with pytest.raises(DowngradeRefused, match=refused) as error:
        _alembic_downgrade(project, backend, "0001", monkeypatch)
    assert error.value.exit_code == 1 and error.value.reverted == ["0004", "0003", "0002"]
    assert _db_heads(backend) == ["0004"] and "full_name" in _columns(backend, "users")
    with pytest.raises(DowngradeRefused, match=r"would revert 0004\. Retire"):
        _alembic_downgrade(project, backend, "0003", monkeypatch, "ec-force-downgrade=")  # empty: no reason
    assert _db_heads(backend) == ["0004"]

    # Forced with a reason: it runs, and the override is recorded.
    _alembic_downgrade(project, backend, "0001", monkeypatch, "ec-force-downgrade=restore drill")
    assert _db_heads(backend) == ["0001"] and "full_name" not in _columns(backend, "users")
    event = expandcontract.history(**kw)[-1]
    assert (event.action, event.reason, event.details["reverted"]) == (
        "downgrade-forced",
        "restore drill",
        ["0004", "0003", "0002"],
    )
    status = expandcontract.status(**kw)
    assert status.problems == [
        "green is live and needs revision(s) 0002, 0003, 0004, which the database does not have: "
        "it runs on an older schema than it was built for"
    ]
    assert status.exit_code == 2


def test_in_script_guard_stops_a_contract_revision(
    backend: str, blue_user: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _copy_example("two-branches", tmp_path)
    # A plain env.py, without the integration: only require_retired() stands in the way.
    env_py = project / "migrations" / "env.py"
    env_py.write_text(
        env_py.read_text()
        .replace("**ec.configure_kwargs()", "transaction_per_migration=True")
        .replace("ec.run_migrations(context)", "context.run_migrations()"),
        encoding="utf-8",
    )
    kw: dict[str, Any] = {"url": backend, "project": project, "settings": _settings(blue_user)}
    expandcontract.deploy("blue", version="v1", expects=["a0base"], **kw)
    expandcontract.switch("blue", **kw)
    with pytest.raises(GateClosed, match="c1legacy"):
        _alembic_upgrade(project, backend, "heads", monkeypatch)
    assert "legacy_flags" in _columns(backend, "accounts")


@pytest.fixture(params=["postgres", "mysql"])
def server(request: pytest.FixtureRequest) -> str:
    fixture = "postgres_url" if request.param == "postgres" else "mysql_url"
    url: URL = request.getfixturevalue(fixture)
    return url.render_as_string(hide_password=False)


def test_two_concurrent_contract_runs_apply_once(server: str, tmp_path: Path) -> None:
    project = _copy_example("rename-column", tmp_path)
    kw: dict[str, Any] = {"url": server, "project": project, "settings": _settings(None)}
    expandcontract.deploy("green", version="v2", **kw)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(expandcontract.contract(**kw))
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert sorted(len(r.applied) for r in results) == [0, 5]
    applies = [e for e in expandcontract.history(**kw) if e.action == "apply"]
    assert [e.details["revision"] for e in applies] == ["0001", "0002", "0003", "0004", "0005"]


def test_second_run_gives_up_when_the_lock_is_held(server: str, tmp_path: Path) -> None:
    project = _copy_example("rename-column", tmp_path)
    kw: dict[str, Any] = {
        "url": server,
        "project": project,
        "settings": settings_from_mapping({"runner": {"advisory-lock-timeout": "1s"}}),
    }
    engine = create_engine(server)
    try:
        with migration_lock(engine, "default", 5), pytest.raises(ConcurrentRunError, match="gave up after 1s"):
            expandcontract.expand(**kw)
    finally:
        engine.dispose()


def _failing_contract_project(tmp_path: Path) -> Path:
    versions = tmp_path / "proj" / "versions"
    write_revision(
        versions,
        "r1",
        """
        op.create_table("t", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("a", sa.Integer()),
                        sa.Column("b", sa.Integer()))
    """,
    )
    write_revision(
        versions,
        "r2",
        """
        op.drop_column("t", "b")
        op.execute("ALTER TABLE missing_table DROP COLUMN x")
    """,
        down="r1",
        extra='phase = "contract"',
    )
    return versions


def test_contract_failing_half_way_on_mariadb_stays_in_progress(mysql_url: URL, tmp_path: Path) -> None:
    url = mysql_url.render_as_string(hide_password=False)
    kw: dict[str, Any] = {"url": url, "project": _failing_contract_project(tmp_path), "settings": _settings(None)}
    expandcontract.deploy("green", version="v2", expects=["r2"], **kw)
    with pytest.raises(MigrationFailed, match="r2 failed") as failed:
        expandcontract.contract(**kw)
    assert failed.value.partial is True
    assert "b" not in _columns(url, "t")  # the DROP COLUMN before the failure was committed
    status = expandcontract.status(**kw)
    assert status.exit_code == 2
    assert [r.revision for r in status.in_progress] == ["r2"]
    assert status.problems[0].startswith("revision r2 is in progress (failed part-way: ")
    assert expandcontract.resolve("r2", reason="dropped the rest by hand", **kw) == 1
    assert expandcontract.status(**kw).in_progress == []


def test_failed_revision_on_postgres_rolls_back_whole(postgres_url: URL, tmp_path: Path) -> None:
    url = postgres_url.render_as_string(hide_password=False)
    kw: dict[str, Any] = {"url": url, "project": _failing_contract_project(tmp_path), "settings": _settings(None)}
    expandcontract.deploy("green", version="v2", expects=["r2"], **kw)
    with pytest.raises(MigrationFailed) as failed:
        expandcontract.contract(**kw)
    assert failed.value.partial is False
    assert "b" in _columns(url, "t")  # transactional DDL: nothing of r2 stayed
    status = expandcontract.status(**kw)
    assert status.in_progress == [] and status.exit_code == 0
    assert [d.revision for d in status.pending_contract] == ["r2"]


def _lock_holder(url: str, hold: float, started: threading.Event) -> threading.Thread:
    """A long transaction that has read table t: every ALTER on t queues behind it."""

    def hold_lock() -> None:
        engine = create_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT count(*) FROM t"))
            started.set()
            time.sleep(hold)
            conn.rollback()
        engine.dispose()

    thread = threading.Thread(target=hold_lock)
    thread.start()
    return thread


def _lock_project(tmp_path: Path, url: str, settings: Settings) -> Path:
    """Table t created (r1 applied); r2 (ADD COLUMN, an expand) pending."""
    versions = tmp_path / "proj" / "versions"
    write_revision(versions, "r1", 'op.create_table("t", sa.Column("id", sa.Integer(), primary_key=True))')
    assert expandcontract.expand(url=url, project=versions, settings=settings).applied == ["r1"]
    write_revision(versions, "r2", 'op.add_column("t", sa.Column("c", sa.Integer()))', down="r1")
    return versions


def _short_lock_timeout(server: str) -> str:
    return "1s" if server.startswith("mysql") else "300ms"  # MariaDB: whole seconds only


def test_lock_timeout_is_retried_until_the_blocker_ends(server: str, tmp_path: Path) -> None:
    fast = {
        "lock-timeout": _short_lock_timeout(server),
        "retries": 20,
        "retry-initial-delay": "200ms",
        "retry-max-delay": "500ms",
    }
    settings = _settings(None, **fast)
    project = _lock_project(tmp_path, server, settings)
    kw: dict[str, Any] = {"url": server, "project": project, "settings": settings}
    started = threading.Event()
    holder = _lock_holder(server, 2.5, started)
    assert started.wait(10)
    begun = time.monotonic()
    report = expandcontract.expand(**kw)
    holder.join()
    assert report.applied == ["r2"]
    assert report.retries >= 1
    assert time.monotonic() - begun >= 1.5  # it waited for the blocker, a little at a time
    assert "c" in _columns(server, "t")


def test_lock_timeout_gives_up_after_the_retry_cap(server: str, tmp_path: Path) -> None:
    capped = {
        "lock-timeout": _short_lock_timeout(server),
        "retries": 2,
        "retry-initial-delay": "100ms",
        "retry-max-delay": "100ms",
    }
    settings = _settings(None, **capped)
    project = _lock_project(tmp_path, server, settings)
    kw: dict[str, Any] = {"url": server, "project": project, "settings": settings}
    started = threading.Event()
    holder = _lock_holder(server, 6, started)
    assert started.wait(10)
    try:
        with pytest.raises(MigrationFailed, match=r"r2 failed after 3 attempt\(s\)") as failed:
            expandcontract.expand(**kw)
    finally:
        holder.join()
    assert failed.value.partial is False
    status = expandcontract.status(**kw)
    assert status.in_progress == [] and status.pending_expand == ["r2"]


def test_ledger_basics(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    project = _copy_example("rename-column", tmp_path)
    kw: dict[str, Any] = {"url": url, "project": project, "settings": settings_from_mapping({})}
    with pytest.raises(LedgerMissingError, match="run `ec init` first"):
        expandcontract.status(**kw)
    assert expandcontract.init(**kw) is True
    assert expandcontract.init(**kw) is False  # idempotent
    with pytest.raises(UnknownColorError, match="no color 'blue'"):
        expandcontract.retire("blue", **kw)
    expandcontract.deploy("blue", version="v1", expects=["0001"], **kw)
    expandcontract.switch("blue", **kw)
    with pytest.raises(RetirementRefused, match="it is live; its recorded traffic weight is 100"):
        expandcontract.retire("blue", **kw)
    with pytest.raises(ConfigError, match="--force needs --reason"):
        expandcontract.retire("blue", force=True, **kw)
    forced = expandcontract.retire("blue", force=True, reason="incident 42: blue pods are gone", **kw)
    assert (forced.state, forced.weight) == ("retired", 0)
    event = expandcontract.history(**kw)[-1]
    assert (event.action, event.reason, event.details["forced"]) == ("retire", "incident 42: blue pods are gone", True)
    assert event.details["overridden"] == ["it is live", "its recorded traffic weight is 100"]
    with pytest.raises(ConfigError, match="unknown to this project"):
        expandcontract.deploy("green", version="v2", expects=["nope"], **kw)
    # Environments are separate.
    expandcontract.deploy("blue", version="s1", expects=["0001"], environment="staging", **kw)
    assert [c.state.state for c in expandcontract.status(environment="staging", **kw).colors] == ["idle"]


def test_status_never_changes_anything(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    project = _copy_example("rename-column", tmp_path)
    kw: dict[str, Any] = {"url": url, "project": project, "settings": settings_from_mapping({})}
    expandcontract.init(**kw)
    before = (tmp_path / "s.db").read_bytes()
    expandcontract.status(**kw)
    assert (tmp_path / "s.db").read_bytes() == before


def _snapshot_holder(url: str, hold: float, started: threading.Event) -> threading.Thread:
    """A transaction holding an old snapshot (no table locks): CREATE INDEX CONCURRENTLY must
    wait for it to end."""

    def hold_snapshot() -> None:
        engine = create_engine(url, isolation_level="REPEATABLE READ")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            started.set()
            time.sleep(hold)
            conn.rollback()
        engine.dispose()

    thread = threading.Thread(target=hold_snapshot)
    thread.start()
    return thread


def _invalid_indexes(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE NOT i.indisvalid")
            )
            return [r[0] for r in rows]
    finally:
        engine.dispose()


def test_concurrent_index_timeout_drops_the_invalid_index_and_retries(postgres_url: URL, tmp_path: Path) -> None:
    url = postgres_url.render_as_string(hide_password=False)
    fast = {"lock-timeout": "300ms", "retries": 20, "retry-initial-delay": "200ms", "retry-max-delay": "500ms"}
    settings = _settings(None, **fast)
    versions = _lock_project(tmp_path, url, settings)
    (versions / "r2_rev.py").unlink()
    write_revision(
        versions,
        "r2",
        """
        with op.get_context().autocommit_block():
            op.create_index("ix_t_id", "t", ["id"], postgresql_concurrently=True)
    """,
        down="r1",
    )
    started = threading.Event()
    # An open snapshot: CREATE INDEX CONCURRENTLY waits for it, and times out.
    holder = _snapshot_holder(url, 2.5, started)
    assert started.wait(10)
    report = expandcontract.expand(url=url, project=versions, settings=settings)
    holder.join()
    assert report.applied == ["r2"] and report.retries >= 1
    assert _invalid_indexes(url) == []


def test_failure_after_an_autocommit_block_is_partial_on_postgres(postgres_url: URL, tmp_path: Path) -> None:
    url = postgres_url.render_as_string(hide_password=False)
    settings = _settings(None, **{"lock-timeout": "300ms", "retries": 5, "retry-initial-delay": "100ms"})
    versions = _lock_project(tmp_path, url, settings)
    (versions / "r2_rev.py").unlink()
    write_revision(
        versions,
        "r2",
        """
        op.add_column("t", sa.Column("c", sa.Integer()))
        with op.get_context().autocommit_block():
            op.create_index("ix_t_c", "t", ["c"], postgresql_concurrently=True)
    """,
        down="r1",
    )
    started = threading.Event()
    holder = _snapshot_holder(url, 4, started)
    assert started.wait(10)
    try:
        with pytest.raises(MigrationFailed, match="dropped the INVALID index") as failed:
            expandcontract.expand(url=url, project=versions, settings=settings)
    finally:
        holder.join()
    # The ADD COLUMN was committed by the autocommit block: not retried, left in progress.
    assert failed.value.partial is True and failed.value.attempts == 1
    assert "c" in _columns(url, "t")
    assert _invalid_indexes(url) == []
    assert [r.revision for r in expandcontract.status(url=url, project=versions, settings=settings).in_progress] == [
        "r2"
    ]


def test_a_gate_refusal_under_plain_alembic_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """Measured: a 30-line traceback."""

    project = _copy_example("rename-column", tmp_path)
    url = f"sqlite:///{tmp_path / 'app.db'}"
    expandcontract.deploy("blue", version="v1", expects=["0001"], url=url, project=project)
    expandcontract.switch("blue", url=url, project=project)
    result = run_alembic(project, url, "upgrade", "head")
    assert result.returncode != 0  # alembic's own failure status (255)
    assert "FAILED: contract gate is closed:" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_ec_downgrade_refuses_below_what_a_live_color_needs(server: str, tmp_path: Path) -> None:
    from expandcontract.cli import main

    project = _copy_example("rename-column", tmp_path)
    kw: dict[str, Any] = {"url": server, "project": project, "settings": _settings(None)}
    expandcontract.deploy("blue", version="v1", expects=["0001"], **kw)
    expandcontract.switch("blue", **kw)
    expandcontract.deploy("green", version="v2", expects=["0004"], **kw)  # idle, about to take traffic
    assert expandcontract.expand(**kw).applied == ["0001", "0002", "0003", "0004"]

    with pytest.raises(DowngradeRefused, match=r"green \(idle, version v2\) expects 0004"):
        expandcontract.downgrade("0001", **kw)
    assert "full_name" in _columns(server, "users")
    # The command line: exit 1, and with --format json the refusal is JSON on stdout.
    from click.testing import CliRunner

    result = CliRunner().invoke(
        main, ["downgrade", "0001", "--url", server, "--project", str(project), "--format", "json"]
    )
    assert result.exit_code == 1
    import json

    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "AlembicDowngradeRefused" and error["reverted"] == ["0004", "0003", "0002"]

    assert expandcontract.downgrade("0003", reason="test: 0004 is unused", **kw).applied == ["0004"]
    assert not inspect(create_engine(server)).has_table("orders")
    forced = [e for e in expandcontract.history(**kw) if e.action in ("downgrade-forced", "downgrade")]
    assert [e.action for e in forced] == ["downgrade-forced", "downgrade"]


def test_a_failed_migration_exits_4_and_a_refusal_1_with_json(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from expandcontract.cli import main

    versions = tmp_path / "proj" / "versions"
    write_revision(versions, "r1", 'op.execute("SELECT * FROM no_such_table")', extra='phase = "expand"')
    (tmp_path / "proj" / "pyproject.toml").write_text(
        '[tool.expandcontract.runner]\nunclassified = "declared"\n', encoding="utf-8"
    )
    url = f"sqlite:///{tmp_path / 'app.db'}"
    result = CliRunner().invoke(main, ["expand", "--url", url, "--project", str(versions), "--format", "json"])
    assert result.exit_code == 4
    error = json.loads(result.stdout[result.stdout.index("{") :])["error"]
    assert error["kind"] == "MigrationFailed" and error["revision"] == "r1" and error["exit_code"] == 4
