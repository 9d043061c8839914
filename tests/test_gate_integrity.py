"""Gate integrity on real PostgreSQL and MariaDB: no bypass by a second environment, by a hand
edit of the ledger, by a race between traffic commands or by a crash mid-run; ledger creation
safe when first runs race."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL

import expandcontract
from expandcontract.config import Settings, settings_from_mapping
from expandcontract.errors import ConcurrentRunError, GateClosed
from expandcontract.runner.locks import migration_lock
from tests.helpers import color_user
from tests.test_lifecycle import _copy_example

RACES = 20


@pytest.fixture(params=["postgres", "mysql"])
def server(request: pytest.FixtureRequest) -> str:
    fixture = "postgres_url" if request.param == "postgres" else "mysql_url"
    url: URL = request.getfixturevalue(fixture)
    return url.render_as_string(hide_password=False)


@pytest.fixture
def blue_user(server: str) -> Iterator[str | None]:
    """MariaDB keeps performance_schema off here: blue's sessions are counted by user."""
    if not server.startswith("mysql"):
        yield None
        return
    with color_user(server) as name:
        yield name


def _settings(blue_user: str | None, **runner: object) -> Settings:
    users = {"blue": blue_user, "green": blue_user} if blue_user else {}
    return settings_from_mapping(
        {"ledger": {"session-users": users} if users else {}, "runner": {"advisory-lock-timeout": 30, **runner}}
    )


def _columns(url: str, table: str) -> set[str]:
    engine = create_engine(url)
    try:
        return {c["name"] for c in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def _sql(url: str, statement: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def _blue_live_and_expanded(server: str, blue_user: str | None, tmp_path: Path) -> dict[str, Any]:
    """rename-column: blue (v1, 0001) live in environment `default`, expand revisions applied."""
    project = _copy_example("rename-column", tmp_path)
    kw: dict[str, Any] = {"url": server, "project": project, "settings": _settings(blue_user)}
    expandcontract.deploy("blue", version="v1", expects=["0001"], **kw)
    expandcontract.switch("blue", **kw)
    report = expandcontract.expand(**kw)
    assert report.applied == ["0001", "0002", "0003", "0004"]
    return kw


def test_a_second_environment_sharing_the_database_cannot_open_the_gate(
    server: str, blue_user: str | None, tmp_path: Path
) -> None:
    kw = _blue_live_and_expanded(server, blue_user, tmp_path)
    staging = {**kw, "environment": "staging"}
    expandcontract.deploy("green", version="v2", **staging)
    expandcontract.switch("green", **staging)

    with pytest.raises(GateClosed, match="blue of environment default"):
        expandcontract.contract(**staging)
    assert "name" in _columns(server, "users")

    status = expandcontract.status(**staging)
    assert status.verdict.startswith("contract: BLOCKED (blue of environment default is live")
    assert [c.state.color for c in status.other_colors] == ["blue"]
    assert status.exit_code == 1


def test_the_migration_lock_is_one_per_database_not_per_environment(server: str, tmp_path: Path) -> None:
    project = _copy_example("rename-column", tmp_path)
    kw: dict[str, Any] = {
        "url": server,
        "project": project,
        "environment": "b",
        "settings": settings_from_mapping({"runner": {"advisory-lock-timeout": "1s"}}),
    }
    engine = create_engine(server)
    said: list[str] = []
    try:
        with migration_lock(engine, "a", 5), pytest.raises(ConcurrentRunError, match="this database"):
            expandcontract.expand(echo=said.append, **kw)
    finally:
        engine.dispose()
    assert said == ["waiting up to 1s for another ec run on this database (the migration lock)"]
    assert not inspect(create_engine(server)).has_table("users")


def test_a_hand_edited_retirement_closes_the_gate(server: str, blue_user: str | None, tmp_path: Path) -> None:
    kw = _blue_live_and_expanded(server, blue_user, tmp_path)
    expandcontract.deploy("green", version="v2", **kw)
    expandcontract.switch("green", **kw)
    _sql(server, "UPDATE ec_colors SET state = 'retired', weight = 0 WHERE color = 'blue'")

    with pytest.raises(GateClosed, match="edited by hand"):
        expandcontract.contract(**kw)
    assert "name" in _columns(server, "users")
    status = expandcontract.status(**kw)
    assert status.exit_code == 2
    assert any(
        "blue (environment default) is recorded retired, but its last event (switch) left it draining" in p
        for p in status.problems
    )

    # Recording the retirement with ec (checked) explains the state again and the gate opens.
    _sql(server, "UPDATE ec_colors SET state = 'draining' WHERE color = 'blue'")
    expandcontract.retire("blue", **kw)
    assert expandcontract.contract(**kw).applied == ["0005"]


def test_a_row_with_no_event_at_all_proves_nothing(server: str, blue_user: str | None, tmp_path: Path) -> None:
    kw = _blue_live_and_expanded(server, blue_user, tmp_path)
    now = "CURRENT_TIMESTAMP"
    _sql(
        server,
        "INSERT INTO ec_colors (environment, color, state, version, expects, weight, created_at, updated_at) "
        f"VALUES ('default', 'ghost', 'retired', 'v0', '', 0, {now}, {now})",
    )
    status = expandcontract.status(**kw)
    assert any(
        "ghost (environment default) is recorded retired, but the event log has no event" in p for p in status.problems
    )


def test_unknown_session_counts_keep_the_gate_closed_on_mariadb(mysql_url: URL, tmp_path: Path) -> None:
    """performance_schema is off and no session user is configured: blue's sessions are unknown."""
    server = mysql_url.render_as_string(hide_password=False)
    project = _copy_example("rename-column", tmp_path)
    kw: dict[str, Any] = {"url": server, "project": project, "settings": _settings(None)}
    expandcontract.deploy("blue", version="v1", expects=["0001"], **kw)
    expandcontract.switch("blue", **kw)
    expandcontract.expand(**kw)
    expandcontract.deploy("green", version="v2", **kw)
    expandcontract.switch("green", **kw)
    expandcontract.retire("blue", force=True, reason="test: sessions cannot be counted", **kw)
    with pytest.raises(GateClosed, match="retired, but its sessions cannot be counted"):
        expandcontract.contract(**kw)
    assert "name" in _columns(server, "users")


def _race(calls: list[Callable[[], Any]]) -> list[BaseException | None]:
    barrier = threading.Barrier(len(calls))
    outcome: list[BaseException | None] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            calls[i]()
        except Exception as error:  # noqa: BLE001 - the test reads each outcome
            outcome[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcome


def test_retire_racing_a_switch_to_the_same_color_never_ends_live_after_retired(server: str, tmp_path: Path) -> None:
    project = _copy_example("rename-column", tmp_path)
    kw: dict[str, Any] = {"url": server, "project": project, "settings": _settings(None)}
    users = {"settings": settings_from_mapping({"ledger": {"session-users": {"blue": "nobody_here"}}})}
    kw.update(users)
    expandcontract.deploy("blue", version="v1", **kw)
    expandcontract.deploy("green", version="v2", **kw)
    for i in range(RACES):
        expandcontract.switch("green", **kw)
        outcome = _race([lambda: expandcontract.retire("blue", **kw), lambda: expandcontract.switch("blue", **kw)])
        blue = {c.state.color: c.state for c in expandcontract.status(**kw).colors}["blue"]
        assert not (blue.state == "retired" and blue.weight), f"race {i}: {blue}"
        if blue.state == "retired":
            assert outcome[1] is not None, f"race {i}: the switch to a retired color succeeded"
            expandcontract.deploy("blue", version="v1", **kw)


def test_concurrent_first_deploys_on_a_fresh_database_all_land(server: str, tmp_path: Path) -> None:
    project = _copy_example("rename-column", tmp_path)
    for i in range(RACES):
        prefix = f"r{i}_"
        settings = settings_from_mapping({"ledger": {"table-prefix": prefix}})
        kw: dict[str, Any] = {"url": server, "project": project, "settings": settings}
        colors = ["blue", "green", "red"]
        outcome = _race([lambda c=c, kw=kw: expandcontract.deploy(c, version="v1", new=True, **kw) for c in colors])
        assert outcome == [None, None, None], f"race {i}: {outcome}"
        assert sorted(c.state.color for c in expandcontract.status(**kw).colors) == colors


# --- the runtime gate judges content, not the declaration -------------------------------------


def _sneaky_project(tmp_path: Path, declaration: str, body: str = 'op.drop_column("users", "name")') -> Path:
    project = _copy_example("rename-column", tmp_path)
    versions = project / "migrations" / "versions"
    (versions / "0005_drop_name.py").unlink()
    (versions / "0005_sneaky.py").write_text(
        f"""from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
{declaration}


def upgrade():
    {body}
""",
        encoding="utf-8",
    )
    return project


def _green_live_blue_draining(server: str, project: Path, blue_user: str | None, **runner: object) -> dict[str, Any]:
    kw: dict[str, Any] = {"url": server, "project": project, "settings": _settings(blue_user, **runner)}
    expandcontract.deploy("blue", version="v1", expects=["0001"], **kw)  # reads users.name
    expandcontract.switch("blue", **kw)
    report = expandcontract.expand(**kw)
    assert report.applied == ["0001", "0002", "0003", "0004"]
    assert "blue (live)" in report.waiting["0005"]
    expandcontract.deploy("green", version="v2", expects=["0005"], **kw)
    expandcontract.switch("green", **kw)
    return kw


@pytest.mark.parametrize("declaration", ['phase = "expand"', "# no phase declared"])
def test_a_revision_that_drops_a_column_is_gated_whatever_it_declares(
    server: str, blue_user: str | None, tmp_path: Path, declaration: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _sneaky_project(tmp_path, declaration)
    kw = _green_live_blue_draining(server, project, blue_user)

    report = expandcontract.expand(**kw)
    assert report.applied == []
    assert "0005" in report.waiting and "blue (draining)" in report.waiting["0005"]
    assert "name" in _columns(server, "users")

    from tests.test_lifecycle import _alembic_upgrade

    with pytest.raises(GateClosed, match=r"0005 waits for: blue \(draining\)"):
        _alembic_upgrade(project, server, "head", monkeypatch)
    assert "name" in _columns(server, "users")
    assert [d.revision for d in expandcontract.status(**kw).pending_contract] == ["0005"]

    expandcontract.retire("blue", **kw)
    assert expandcontract.expand(**kw).applied == ["0005"]
    assert "name" not in _columns(server, "users")


def test_a_revision_whose_content_cannot_be_read_is_gated_unless_configured(
    server: str, blue_user: str | None, tmp_path: Path
) -> None:
    body = 'op.get_bind().execute(sa.text("SELECT 1")).scalar()\n    op.add_column("users", sa.Column("x", sa.Integer))'
    project = _sneaky_project(tmp_path, 'phase = "expand"', body)
    kw = _green_live_blue_draining(server, project, blue_user)
    report = expandcontract.expand(**kw)
    assert report.applied == [] and "cannot be read offline" in str(report.gate[0])

    trusting = {**kw, "settings": _settings(blue_user, unclassified="declared")}
    assert expandcontract.expand(**trusting).applied == ["0005"]
    assert "x" in _columns(server, "users")


# --- crash-safe runs ---------------------------------------------------------------------------


def _crash_project(tmp_path: Path, *, resumable: bool) -> Path:
    """0002 inserts a row and builds an index; a crash after the insert leaves the row."""
    project = _copy_example("rename-column", tmp_path)
    versions = project / "migrations" / "versions"
    for name in ("0002_add_full_name.py", "0003_backfill_full_name.py", "0004_orders.py", "0005_drop_name.py"):
        (versions / name).unlink()
    marker = "resumable = True" if resumable else ""
    (versions / "0002_audit.py").write_text(
        f"""from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
phase = "expand"
{marker}


def upgrade():
    op.create_table("audit", sa.Column("id", sa.Integer, primary_key=True), sa.Column("note", sa.String(50)))
    op.execute("INSERT INTO audit (note) VALUES ('seeded')")
""",
        encoding="utf-8",
    )
    return project


def _simulate_crash_after_statements(server: str, kw: dict[str, Any]) -> None:
    """What SIGKILL mid-revision leaves: the run recorded in progress, the table and its row
    committed (MariaDB DDL commits at once), the version table still at 0001."""
    from expandcontract.ledger.store import Ledger

    engine = create_engine(server)
    try:
        with engine.connect() as conn, conn.begin():
            Ledger(kw["settings"].ledger).start_run(conn, "default", "0002", "expand")
        with engine.connect() as conn, conn.begin():
            conn.execute(text("CREATE TABLE audit (id INTEGER PRIMARY KEY, note VARCHAR(50))"))
            conn.execute(text("INSERT INTO audit (id, note) VALUES (1, 'seeded')"))
    finally:
        engine.dispose()


def _audit_rows(server: str) -> int:
    engine = create_engine(server)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM audit")).scalar() or 0)
    finally:
        engine.dispose()


def test_an_interrupted_revision_is_never_rerun_blindly(server: str, tmp_path: Path) -> None:
    from expandcontract.errors import InterruptedRunError

    project = _crash_project(tmp_path, resumable=False)
    kw: dict[str, Any] = {"url": server, "project": project, "settings": _settings(None)}
    # 0001 only, then the crash during 0002.
    (project / "migrations" / "versions" / "0002_audit.py").rename(tmp_path / "0002.py.hold")
    assert expandcontract.expand(**kw).applied == ["0001"]
    (tmp_path / "0002.py.hold").rename(project / "migrations" / "versions" / "0002_audit.py")
    _simulate_crash_after_statements(server, kw)

    status = expandcontract.status(**kw)
    assert any("revision 0002 is in progress (started and never finished" in p for p in status.problems)
    assert any("drift: table audit already exist(s), though revision 0002" in p for p in status.problems)
    assert status.exit_code == 2

    with pytest.raises(InterruptedRunError) as refused:
        expandcontract.expand(**kw)
    message = str(refused.value)
    assert "table audit already exists, though the version table says 0002 is not applied" in message
    assert "`alembic stamp 0002` and `ec resolve 0002" in message
    assert _audit_rows(server) == 1  # the INSERT did not run twice
    with pytest.raises(InterruptedRunError):
        expandcontract.expand(resume=True, **kw)  # not declared resumable


def test_a_resumable_revision_reruns_with_resume_and_closes_the_old_record(server: str, tmp_path: Path) -> None:
    from expandcontract.errors import InterruptedRunError

    project = _crash_project(tmp_path, resumable=True)
    versions = project / "migrations" / "versions"
    # Written to be rerun: it checks before it acts.
    path = versions / "0002_audit.py"
    path.write_text(
        path.read_text().replace(
            "    op.create_table(",
            "    if sa.inspect(op.get_bind()).has_table('audit'):\n        return\n    op.create_table(",
        ),
        encoding="utf-8",
    )
    kw: dict[str, Any] = {"url": server, "project": project, "settings": _settings(None, unclassified="declared")}
    path.rename(tmp_path / "hold")
    assert expandcontract.expand(**kw).applied == ["0001"]
    (tmp_path / "hold").rename(path)
    _simulate_crash_after_statements(server, kw)

    with pytest.raises(InterruptedRunError, match="ec expand --resume"):
        expandcontract.expand(**kw)
    assert expandcontract.expand(resume=True, **kw).applied == ["0002"]
    assert _audit_rows(server) == 1
    status = expandcontract.status(**kw)
    assert status.in_progress == [] and status.problems == [] and status.exit_code == 0
    assert any(e.action == "resume" for e in expandcontract.history(**kw))


def test_status_reports_an_invalid_index_left_by_a_terminated_build(postgres_url: URL, tmp_path: Path) -> None:
    server = postgres_url.render_as_string(hide_password=False)
    project = _copy_example("rename-column", tmp_path)
    kw: dict[str, Any] = {"url": server, "project": project, "settings": _settings(None)}
    expandcontract.expand(**kw)
    # A unique build that fails half-way leaves the index INVALID, as a terminated backend does.
    _sql(server, "CREATE TABLE dup (a integer)")
    _sql(server, "INSERT INTO dup VALUES (1), (1)")
    with pytest.raises(Exception, match="could not create unique index"):
        _sql(server, "CREATE UNIQUE INDEX CONCURRENTLY ix_dup_a ON dup (a)")
    problems = expandcontract.status(**kw).problems
    assert [p.split(":")[0] for p in problems if "INVALID" in p] == ["INVALID index public.ix_dup_a (on dup)"]


def test_a_killed_connection_is_reported_with_its_cause(postgres_url: URL, tmp_path: Path) -> None:
    from expandcontract.errors import MigrationFailed

    server = postgres_url.render_as_string(hide_password=False)
    project = _sneaky_project(
        tmp_path, 'phase = "expand"', 'op.execute("SELECT pg_terminate_backend(pg_backend_pid())")'
    )
    kw: dict[str, Any] = {"url": server, "project": project, "settings": _settings(None, unclassified="declared")}
    with pytest.raises(MigrationFailed) as failed:
        expandcontract.expand(**kw)
    assert "terminating connection due to administrator command" in str(failed.value)
    assert "PendingRollback" not in str(failed.value)
    status = expandcontract.status(**kw)
    assert status.in_progress == []  # PostgreSQL rolled the revision back whole: a plain failure


def test_a_connection_killed_from_outside_is_reported_with_its_cause(mysql_url: URL, tmp_path: Path) -> None:
    from expandcontract.errors import MigrationFailed

    server = mysql_url.render_as_string(hide_password=False)
    project = _sneaky_project(tmp_path, 'phase = "expand"', 'op.execute("SELECT SLEEP(20)")')
    kw: dict[str, Any] = {"url": server, "project": project, "settings": _settings(None, unclassified="declared")}

    def killer() -> None:
        engine = create_engine(server, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                for _ in range(100):
                    ids = (
                        conn.execute(
                            text("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(20)%'")
                        )
                        .scalars()
                        .all()
                    )
                    if ids:
                        conn.execute(text(f"KILL CONNECTION {int(ids[0])}"))
                        return
                    time.sleep(0.1)
        finally:
            engine.dispose()

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        with pytest.raises(MigrationFailed) as failed:
            expandcontract.expand(**kw)
    finally:
        thread.join(timeout=30)
    assert "PendingRollback" not in str(failed.value)
    assert "Lost connection" in str(failed.value) or "server has gone away" in str(failed.value), str(failed.value)


def test_two_environments_racing_on_one_database_apply_each_revision_once(server: str, tmp_path: Path) -> None:
    """Measured before: `ec expand --env a` and `--env b` interleaved (DuplicateColumn, a revision
    recorded done twice). Each round adds a revision; both environments race to apply it."""
    from tests.helpers import write_revision

    versions = tmp_path / "proj" / "versions"
    settings = _settings(None)
    down = None
    for i in range(RACES):
        rev = f"r{i:02d}"
        write_revision(
            versions, rev, f'op.create_table("t{i}", sa.Column("id", sa.Integer, primary_key=True))', down=down
        )
        down = rev
        kws = [{"url": server, "project": versions, "settings": settings, "environment": env} for env in ("a", "b")]
        reports: list[Any] = []
        outcome = _race([lambda kw=kw, reports=reports: reports.append(expandcontract.expand(**kw)) for kw in kws])
        assert outcome == [None, None], f"round {i}: {outcome}"
        assert sorted(len(r.applied) for r in reports) == [0, 1], f"round {i}"
    history = expandcontract.history(url=server, project=versions, settings=settings, all_environments=True, limit=500)
    applied = [e.details["revision"] for e in history if e.action == "apply"]
    assert applied == [f"r{i:02d}" for i in range(RACES)]


def test_sigkill_mid_revision_then_expand_refuses_instead_of_inserting_twice(postgres_url: URL, tmp_path: Path) -> None:
    """The measured case, for real: the INSERT before an autocommit block is committed, then the
    ec process is killed; the next `ec expand` must not run the revision (and its INSERT) again."""
    import signal
    import subprocess
    import sys

    from expandcontract.errors import InterruptedRunError

    server = postgres_url.render_as_string(hide_password=False)
    body = (
        "op.execute(\"INSERT INTO users (name, email) VALUES ('once', 'o@x')\")\n"
        "    with op.get_context().autocommit_block():\n"
        '        op.execute("SELECT pg_sleep(60)")'
    )
    project = _sneaky_project(tmp_path, 'phase = "expand"', body)
    versions = project / "migrations" / "versions"
    for name in ("0002_add_full_name.py", "0003_backfill_full_name.py", "0004_orders.py"):
        (versions / name).unlink()
    sneaky = versions / "0005_sneaky.py"
    sneaky.write_text(sneaky.read_text().replace('down_revision = "0004"', 'down_revision = "0001"'), encoding="utf-8")
    (project / "pyproject.toml").write_text(
        '[tool.expandcontract]\ndialect = "postgresql"\n[tool.expandcontract.runner]\nunclassified = "declared"\n',
        encoding="utf-8",
    )
    kw: dict[str, Any] = {"url": server, "project": project}
    process = subprocess.Popen(
        [sys.executable, "-m", "expandcontract.cli", "expand", "--url", server, "--project", str(project)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        engine = create_engine(server)
        deadline = time.monotonic() + 60
        with engine.connect() as conn:
            while time.monotonic() < deadline:
                sleeping = conn.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%'")
                ).scalar()
                conn.rollback()
                if sleeping:
                    break
                time.sleep(0.1)
            else:
                pytest.fail("the revision never reached its sleep")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        _sql(server, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%'")
        engine.dispose()
    finally:
        if process.poll() is None:
            process.kill()

    def once() -> int:
        engine = create_engine(server)
        try:
            with engine.connect() as conn:
                return int(conn.execute(text("SELECT count(*) FROM users WHERE name = 'once'")).scalar() or 0)
        finally:
            engine.dispose()

    assert once() == 1
    with pytest.raises(InterruptedRunError, match="revision 0005 was started by"):
        expandcontract.expand(**kw)
    assert once() == 1
    assert any("revision 0005 is in progress" in p for p in expandcontract.status(**kw).problems)
