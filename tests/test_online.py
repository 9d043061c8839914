"""Online schema change: gh-ost driver (protocol level, with a stand-in that follows gh-ost's
documented interface; the real binary when EC_GHOST_BIN is set), pt-online-schema-change end to
end on MariaDB under write load, refusals that change nothing, interrupts that clean up."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL

from expandcontract.config import settings_from_mapping
from expandcontract.online import ghost
from expandcontract.online.api import alter, plan
from expandcontract.online.preflight import OnlineRefused
from expandcontract.online.progress import go_duration, parse_ghost_line, parse_ptosc_line
from expandcontract.online.rundir import ConnectionInfo, RunDir
from tests.helpers import FAKE_GHOST, column_type

# --- progress formats (verbatim from gh-ost master, v1.1.5, and older builds) --------------------


def test_ghost_progress_lines() -> None:
    p = parse_ghost_line(
        "Copy: 21000/200030 10.5%; Applied: 27; Backlog: 0/1000; Time: 0s(total), 0s(copy); "
        "streamer: mysql-bin.000002:8566979; Lag: 0.03s, HeartbeatLag: 0.07s, State: migrating; ETA: 4s"
    )
    assert p is not None
    assert (p.copied, p.total, p.percent, p.state, p.eta_seconds, p.lag_seconds, p.applied) == (
        21000,
        200030,
        10.5,
        "migrating",
        4.0,
        0.03,
        27,
    )
    assert p.streamer == "mysql-bin.000002:8566979" and p.backlog == "0/1000"
    due = parse_ghost_line(
        "Copy: 200020/200020 100.0%; Applied: 175; Backlog: 31/1000; Time: 4s(total), 2s(copy); "
        "streamer: mysql-bin.000002:15731766; Lag: 0.03s, HeartbeatLag: 0.01s, State: postponing cut-over; ETA: due"
    )
    assert due is not None and due.postponing and due.eta_seconds == 0.0
    throttled = parse_ghost_line(
        "Copy: 67800/200000 33.9%; Applied: 0; Backlog: 14/1000; Time: 10s(total), 10s(copy); "
        "streamer: mysql-bin.000002:74305571; Lag: 0.02s, HeartbeatLag: 0.07s, "
        "State: throttled, max-load Threads_running=2 >= 1; ETA: 26s"
    )
    assert throttled is not None and throttled.throttled
    assert throttled.state == "throttled, max-load Threads_running=2 >= 1"
    gtid = parse_ghost_line(
        "Copy: 0/200025 0.0%; Applied: 0; Backlog: 6/1000; Time: 0s(total), 0s(copy); streamer: 0-1-18075; "
        "Lag: 0.01s, HeartbeatLag: 0.01s, State: migrating; ETA: N/A"
    )
    assert gtid is not None and gtid.streamer == "0-1-18075" and gtid.eta_seconds is None and gtid.eta == "N/A"
    old = parse_ghost_line(
        "Copy: 5900/200000 2.9%; Applied: 0; Backlog: 0/1000; Time: 3s(total), 3s(copy); "
        "streamer: mysql-bin.000002:71835279; ETA: throttled, flag-file"
    )
    assert old is not None and old.state is None and old.throttled and old.percent == 2.9
    assert parse_ghost_line("# Done") is None
    assert parse_ghost_line("2026-11-27 12:22:57 INFO starting gh-ost 1.1.6") is None


def test_durations_and_ptosc_lines() -> None:
    assert go_duration("1h6m30s") == 3990 and go_duration("2m35s") == 155 and go_duration("0.03s") == 0.03
    p = parse_ptosc_line("Copying `ghostdb`.`items`:  64% 00:01 remain")
    assert p is not None and (p.percent, p.eta_seconds) == (64.0, 1)
    assert parse_ptosc_line("2026-11-27T12:28:53 Creating triggers...") is None


# --- the gh-ost driver, at protocol level ------------------------------------------------------


@pytest.fixture
def mysql(mysql_url: URL) -> str:
    return mysql_url.render_as_string(hide_password=False)


def _table(url: str, name: str = "items", rows: int = 500, extra: str = "") -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(f"CREATE TABLE `{name}` (id INT PRIMARY KEY AUTO_INCREMENT, n INT NOT NULL, s VARCHAR(20)){extra}")
        )
        if rows:
            conn.execute(text(f"INSERT INTO `{name}` (n, s) SELECT seq, CONCAT('row ', seq) FROM seq_1_to_{rows}"))
    engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        names = {r[0] for r in conn.execute(text("SHOW TABLES"))}
    engine.dispose()
    return names


def test_argv_keeps_credentials_off_the_command_line(tmp_path: Path) -> None:
    info = ConnectionInfo("db.internal", 3307, "migrator", "s3cret", "app")
    run_dir = RunDir("ec-test-")
    try:
        conf, _env = run_dir.ghost_config(info)
        run = ghost.GhostRun("events", run_dir)
        argv = ghost.build_argv(
            ghost.GhostBinary("/opt/gh-ost"),
            info,
            run,
            "ADD COLUMN c INT",
            execute=True,
            postpone=True,
            keep_old_table=True,
            extra=[],
            replica_server_id=424242,
        )
    finally:
        mode = RunDir.mode(conf)
        private = RunDir.mode(run_dir.path)
        run_dir.remove()
    assert not any("s3cret" in a for a in argv)
    assert f"--conf={conf}" in argv and mode == 0o600 and private == 0o700
    flags = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in argv[1:] if "=" in a}
    for flag in (
        "serve-socket-file",
        "panic-flag-file",
        "throttle-flag-file",
        "throttle-additional-flag-file",
        "postpone-cut-over-flag-file",
    ):
        assert flags[f"--{flag}"].startswith(str(run_dir.path)), flag  # nothing shared in /tmp
    assert flags["--replica-server-id"] == "424242" and flags["--alter"] == "ADD COLUMN c INT"
    assert argv[-1] == "--execute" and "--timestamp-old-table" in argv and "--allow-on-master" in argv


def test_mariadb_builds_that_cannot_work_are_named() -> None:
    from expandcontract.online.preflight import ServerFacts

    server = ServerFacts("10.11.19-MariaDB", True, (10, 11, 19), True, "ROW", "FULL")
    assert "transaction_isolation" in (ghost.mariadb_incompatible(ghost.GhostBinary("x", "1.1.6"), server) or "")
    assert ghost.mariadb_incompatible(ghost.GhostBinary("x", "1.1.5"), server) is None
    newer = ServerFacts("11.4.2-MariaDB", True, (11, 4, 2), True, "ROW", "FULL")
    assert ghost.mariadb_incompatible(ghost.GhostBinary("x", "1.1.10"), newer) is None


def _ghost_run(
    url: str, fake: str, table: str, *, postpone: bool, on_postponed: Any = None, env: dict[str, str] | None = None
) -> tuple[int, str | None, ghost.GhostRun]:
    info = ConnectionInfo.from_url(url)
    run_dir = RunDir("ec-test-")
    run_dir.ghost_config(info)
    run = ghost.GhostRun(table, run_dir)
    argv = ghost.build_argv(
        ghost.GhostBinary(fake),
        info,
        run,
        "MODIFY COLUMN n BIGINT NOT NULL",
        execute=True,
        postpone=postpone,
        keep_old_table=True,
        extra=[],
    )
    old = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        code, reason = ghost.run_ghost(argv, run, None, on_postponed)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return code, reason, run


def test_postponed_cut_over_is_released_by_ec(mysql: str, fake_ghost: str) -> None:
    _table(mysql)
    replies: list[str] = []

    def postponed(run: ghost.GhostRun) -> None:
        assert run.postpone_flag.exists()
        # Nothing is cut over while the flag file exists: the copy waits.
        replies.append(run.command("unpostpone=wrongtable"))
        threading.Timer(0.5, lambda: replies.append(run.cut_over())).start()

    code, reason, run = _ghost_run(mysql, fake_ghost, "items", postpone=True, on_postponed=postponed)
    assert (code, reason, run.done) == (0, None, True)
    assert replies[0] == "user commanded 'unpostpone' on wrongtable, but migrated table is items; ignoring request\n"
    assert replies[1].startswith("Unpostponed")
    assert not run.postpone_flag.exists()
    assert any(p.postponing for p in run.history) and run.history[-1].percent == 100.0
    assert column_type(mysql, "items", "n") == "bigint(20)"
    assert any(re.fullmatch(r"_items_\d{14}_del", t) for t in _tables(mysql))  # kept, timestamped


def test_failed_cut_over_cleanup_keeps_the_original_table(mysql: str, fake_ghost: str) -> None:
    _table(mysql)
    code, reason, _ = _ghost_run(mysql, fake_ghost, "items", postpone=False, env={"FAKE_GHOST_FAIL": "cutover"})
    assert code == 1 and "Lock wait timeout exceeded" in (reason or "")
    engine = create_engine(mysql)
    with engine.begin() as conn:
        dropped = ghost.cleanup_after_failure(conn, "items")
    engine.dispose()
    assert dropped[:2] == ["_items_gho", "_items_ghc"] and len(dropped) == 3
    assert re.fullmatch(r"_items_\d{14}_del", dropped[2])  # the sentry, under the old table's name
    assert _tables(mysql) == {"items"}
    assert column_type(mysql, "items", "n") == "int(11)"


def test_a_real_old_table_is_never_dropped(mysql: str) -> None:
    _table(mysql)
    _table(mysql, "_items_del", rows=3)  # a previous success's old table, not a sentry
    _table(mysql, "_items_20261130120000_del", rows=3)  # the same, timestamped
    engine = create_engine(mysql)
    with engine.begin() as conn:
        assert ghost.cleanup_after_failure(conn, "items") == []
    engine.dispose()
    assert {"_items_del", "_items_20261130120000_del"} <= _tables(mysql)


def test_panic_over_the_socket(mysql: str, fake_ghost: str) -> None:
    _table(mysql)

    def postponed(run: ghost.GhostRun) -> None:
        run.panic()

    code, reason, _ = _ghost_run(mysql, fake_ghost, "items", postpone=True, on_postponed=postponed)
    assert code == 1 and "panic" in (reason or "")


def test_bad_flag_is_exit_2_with_a_reason(fake_ghost: str) -> None:
    run_dir = RunDir("ec-test-")
    try:
        code, reason = ghost.run_ghost([fake_ghost, "--no-such-flag"], ghost.GhostRun("t", run_dir), None)
    finally:
        run_dir.remove()
    assert code == 2 and "flag provided but not defined" in (reason or "")


# --- decisions and refusals on the real MariaDB ------------------------------------------------


def _settings(threshold: int = 100) -> Any:
    return settings_from_mapping({"online-threshold-rows": threshold})


def test_small_tables_run_a_plain_alter_and_say_why(mysql: str) -> None:
    _table(mysql, rows=10)
    result = alter("items", "MODIFY COLUMN n BIGINT NOT NULL", url=mysql, settings=_settings(1000))
    assert result.plan.engine == "plain" and "under the 1,000-row threshold" in result.plan.reason
    assert column_type(mysql, "items", "n") == "bigint(20)"


def test_instant_changes_skip_the_copy(mysql: str) -> None:
    _table(mysql, rows=500)
    result = alter("items", "ADD COLUMN note VARCHAR(20) NULL", url=mysql, settings=_settings(100))
    assert result.plan.engine == "instant"
    assert column_type(mysql, "items", "note") == "varchar(20)"


def test_ghost_is_refused_with_the_reason_on_this_server(mysql: str, fake_ghost: str) -> None:
    _table(mysql)
    engine = create_engine(mysql)
    with engine.connect() as conn, pytest.raises(OnlineRefused, match="binary logging is off"):
        plan(conn, "items", "MODIFY n BIGINT", engine="gh-ost", settings=_settings(), ghost_bin=fake_ghost)
    engine.dispose()


@pytest.mark.parametrize(
    ("setup", "engine", "message"),
    [
        ("nokey", "pt-online-schema-change", "has no PRIMARY or UNIQUE key"),
        ("fk", "gh-ost", "foreign keys"),
        ("trigger", "pt-online-schema-change", "triggers"),
        ("leftover", "pt-online-schema-change", "leftover tables"),
        ("missing-binary", "gh-ost", "not installed"),
        ("odd-name", "auto", "characters the online tools cannot handle"),
        ("no-table", "auto", "there is no table"),
    ],
)
def test_refusals_change_nothing(mysql: str, setup: str, engine: str, message: str) -> None:
    table = "items"
    if setup == "nokey":
        e = create_engine(mysql)
        with e.begin() as conn:
            conn.execute(text("CREATE TABLE items (n INT, s VARCHAR(20))"))
            conn.execute(text("INSERT INTO items SELECT seq, 'x' FROM seq_1_to_500"))
        e.dispose()
    elif setup != "no-table":
        _table(mysql)
    if setup == "fk":
        _table(mysql, "child", rows=0)
        e = create_engine(mysql)
        with e.begin() as conn:
            conn.execute(text("ALTER TABLE child ADD CONSTRAINT fk_child FOREIGN KEY (n) REFERENCES items (id)"))
        e.dispose()
    if setup == "trigger":
        e = create_engine(mysql)
        with e.begin() as conn:
            conn.execute(text("CREATE TRIGGER items_audit BEFORE UPDATE ON items FOR EACH ROW SET NEW.s = NEW.s"))
        e.dispose()
    if setup == "leftover":
        _table(mysql, "_items_new", rows=0)
    if setup == "odd-name":
        table = "items`; DROP TABLE items; --"
    before = _tables(mysql)
    kwargs: dict[str, Any] = {"ghost_bin": "/nonexistent/gh-ost"} if setup == "missing-binary" else {}
    with pytest.raises(OnlineRefused, match=message):
        alter(table, "MODIFY COLUMN n BIGINT", engine=engine, url=mysql, settings=_settings(), **kwargs)
    assert _tables(mysql) == before
    if setup not in ("no-table", "odd-name", "nokey"):
        assert column_type(mysql, "items", "n") == "int(11)"


def test_wrong_credentials_are_a_clear_error(mysql: str) -> None:
    from expandcontract.errors import DatabaseError

    _table(mysql)
    wrong = mysql.replace("root@", "root:wrong-password@")
    with pytest.raises(DatabaseError, match="Access denied") as error:
        alter("items", "MODIFY COLUMN n BIGINT", url=wrong, settings=_settings())
    assert "wrong-password" not in str(error.value)
    assert column_type(mysql, "items", "n") == "int(11)"


def test_an_account_without_alter_rights_is_refused_by_the_dry_run(mysql: str) -> None:
    import expandcontract

    _table(mysql)
    expandcontract.init(url=mysql, settings=settings_from_mapping({}))  # the owner creates the ledger
    database = create_engine(mysql).url.database
    engine = create_engine(mysql)
    with engine.begin() as conn:
        conn.execute(text("CREATE USER IF NOT EXISTS 'ec_writer'@'%' IDENTIFIED BY 'pw'"))
        conn.execute(text(f"GRANT SELECT, INSERT, UPDATE ON `{database}`.* TO 'ec_writer'@'%'"))
    engine.dispose()
    try:
        with pytest.raises(OnlineRefused, match="dry run failed"):
            alter(
                "items",
                "MODIFY COLUMN n BIGINT",
                engine="pt-online-schema-change",
                url=mysql.replace("root@", "ec_writer:pw@"),
                settings=_settings(),
            )
    finally:
        e = create_engine(mysql)
        with e.begin() as conn:
            conn.execute(text("DROP USER IF EXISTS 'ec_writer'@'%'"))
        e.dispose()
    assert column_type(mysql, "items", "n") == "int(11)"
    assert {t for t in _tables(mysql) if not t.startswith("ec_")} == {"items"}


# --- pt-online-schema-change end to end under write load ---------------------------------------


def _checksum(url: str, table: str) -> tuple[int, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        count, crc = conn.execute(
            text(f"SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', id, n, s))), 0) FROM `{table}`")
        ).one()
    engine.dispose()
    return int(count), int(crc)


class Writer(threading.Thread):
    """Writes the same changes to the migrated table and to a reference copy, in one
    transaction each, so the two must match afterwards. Bounded in count and time."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.engine = create_engine(url)
        self.stop = threading.Event()
        self.done = 0
        self.failed: list[str] = []

    def run(self) -> None:
        deadline = time.monotonic() + 60
        i = 0
        while not self.stop.is_set() and time.monotonic() < deadline and i < 5000:
            i += 1
            try:
                with self.engine.begin() as conn:
                    for table in ("items", "reference"):
                        conn.execute(
                            text(f"INSERT INTO `{table}` (id, n, s) VALUES (:id, :n, 'new')"),
                            {"id": 1_000_000 + i, "n": i},
                        )
                        conn.execute(
                            text(f"UPDATE `{table}` SET s = 'upd', n = n + 1 WHERE id = :id"),
                            {"id": 1 + (i * 7) % 20_000},
                        )
                self.done += 1
            except Exception as error:  # noqa: BLE001 - counted, reported by the test
                self.failed.append(str(error).splitlines()[0])
            time.sleep(0.005)
        self.engine.dispose()


def test_ptosc_under_write_load_loses_nothing(mysql: str) -> None:
    _table(mysql, rows=20_000)
    _table(mysql, "reference", rows=20_000)
    assert _checksum(mysql, "items") == _checksum(mysql, "reference")
    writer = Writer(mysql)
    writer.start()
    time.sleep(0.3)
    events: list[Any] = []
    try:
        result = alter(
            "items",
            "MODIFY COLUMN n BIGINT NOT NULL",
            engine="pt-online-schema-change",
            url=mysql,
            settings=_settings(),
            on_progress=events.append,
            extra_args=["--chunk-size", "2000"],
        )
    finally:
        time.sleep(0.3)
        writer.stop.set()
        writer.join()
    assert result.state == "done" and result.plan.engine == "pt-online-schema-change"
    assert column_type(mysql, "items", "n") == "bigint(20)"
    assert writer.done > 20
    # Trigger-based copies can deadlock an application write now and then (measured upstream);
    # every write that committed is in both tables.
    assert _checksum(mysql, "items") == _checksum(mysql, "reference")
    names = _tables(mysql)
    assert "_items_old" in names and "_items_new" not in names
    engine = create_engine(mysql)
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_NAME LIKE 'pt_osc%'")
            ).scalar()
            == 0
        )
    engine.dispose()


def test_interrupt_cleans_up_and_keeps_the_original(mysql: str, tmp_path: Path) -> None:
    _table(mysql, rows=50_000)
    before = _checksum(mysql, "items")
    script = tmp_path / "run.py"
    script.write_text(
        "from expandcontract.config import settings_from_mapping\n"
        "from expandcontract.online.api import alter\n"
        f"alter('items', 'MODIFY COLUMN n BIGINT NOT NULL', engine='pt-online-schema-change', url={mysql!r},\n"
        "      settings=settings_from_mapping({'online-threshold-rows': 100}),\n"
        "      on_progress=lambda p: print('progress', p.percent, flush=True),\n"
        "      extra_args=['--chunk-size', '500', '--sleep', '0.05'])\n"
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    engine = create_engine(mysql)
    deadline = time.monotonic() + 60
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            triggers = conn.execute(
                text("SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_NAME LIKE 'pt_osc%'")
            ).scalar()
            conn.rollback()
            if triggers:
                break
            time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "OnlineAborted" in err and "interrupted by SIGTERM" in err
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_NAME LIKE 'pt_osc%'")
            ).scalar()
            == 0
        )
    engine.dispose()
    assert {t for t in _tables(mysql) if not t.startswith("ec_")} == {"items"}
    assert _checksum(mysql, "items") == before and column_type(mysql, "items", "n") == "int(11)"


# --- ledger, gate, offline ---------------------------------------------------------------------


def test_online_runs_are_recorded_and_block_contract_while_pending(mysql: str, tmp_path: Path) -> None:
    import expandcontract
    from expandcontract.ledger.commands import resolve_target
    from expandcontract.ledger.store import Ledger, utcnow
    from tests.helpers import write_revision

    _table(mysql, rows=10)
    alter("items", "MODIFY COLUMN n BIGINT NOT NULL", url=mysql, settings=_settings(1000))
    versions = tmp_path / "proj" / "versions"
    write_revision(versions, "c1", 'op.drop_column("items", "s")', extra='phase = "contract"')
    kw = {"url": mysql, "project": versions, "settings": settings_from_mapping({})}
    expandcontract.deploy("green", version="v2", **kw)
    history = [e.action for e in expandcontract.history(**kw)]
    assert "online-start" in history and "online-done" in history
    engine = create_engine(mysql)
    ledger = Ledger(resolve_target(**kw).settings.ledger)
    with engine.begin() as conn:
        conn.execute(
            ledger.t.online.insert().values(
                environment="default",
                table_name="events",
                engine="gh-ost",
                alter_clause="ADD COLUMN c INT",
                state="postponed",
                postponed=True,
                started_at=utcnow(),
                actor="test",
                socket="/nonexistent.sock",
            )
        )
    engine.dispose()
    status = expandcontract.status(**kw)
    assert status.exit_code == 1 and "online schema change of events" in str(status.pending_contract[0])
    assert status.online[0]["table_name"] == "events"


def test_offline_rendering_writes_a_marker(tmp_path: Path) -> None:
    from expandcontract.linter.engine import lint
    from tests.helpers import write_revision

    versions = tmp_path / "versions"
    write_revision(
        versions,
        "r1",
        'online.alter("events", "MODIFY COLUMN payload MEDIUMTEXT")',
        extra="from expandcontract import online",
    )
    report = lint([versions], dialect="mysql", use_cache=False, settings=settings_from_mapping({"dialect": "mysql"}))
    assert [f.code for f in report.findings] == []
    assert report.revisions[0].phase == "empty"


@pytest.fixture
def binlog_mysql(private_mariadb_url: URL) -> str:
    """A private mariadbd with ROW binary logging: what a real gh-ost needs."""
    return private_mariadb_url.render_as_string(hide_password=False)


real_ghost = pytest.mark.skipif(not os.environ.get("EC_GHOST_BIN"), reason="set EC_GHOST_BIN to a gh-ost binary to run")


@real_ghost
def test_real_ghost_end_to_end(binlog_mysql: str) -> None:
    mysql = binlog_mysql
    _table(mysql, rows=20_000)
    result = alter(
        "items",
        "MODIFY COLUMN n BIGINT NOT NULL",
        engine="gh-ost",
        url=mysql,
        settings=_settings(),
    )
    assert result.state == "done" and column_type(mysql, "items", "n") == "bigint(20)"


def test_extra_flags_are_checked_against_the_build(mysql: str, fake_ghost: str, tmp_path: Path) -> None:
    from expandcontract.ledger.store import Ledger
    from expandcontract.online.api import _ghost

    _table(mysql)
    strict = tmp_path / "gh-ost-strict"
    strict.write_text(f'#!/bin/sh\ncase "$1" in --check-flag) exit 2;; esac\nexec {sys.executable} {FAKE_GHOST} "$@"\n')
    strict.chmod(0o755)
    engine = create_engine(mysql)
    with engine.connect() as conn, pytest.raises(OnlineRefused, match="rejects --attempt-instant-ddl"):
        _ghost(
            mysql,
            conn,
            Ledger(settings_from_mapping({}).ledger),
            None,
            "items",
            "ADD COLUMN c INT",
            True,
            False,
            None,
            None,
            str(strict),
            True,
            ["--attempt-instant-ddl"],
        )
    engine.dispose()


def test_sigterm_makes_ghost_panic_and_is_reported(mysql: str, fake_ghost: str, tmp_path: Path) -> None:
    _table(mysql)
    script = tmp_path / "drive.py"
    script.write_text(
        "from expandcontract.online import ghost\n"
        "from expandcontract.online.process import Interrupted\n"
        "from expandcontract.online.rundir import ConnectionInfo, RunDir\n"
        f"info = ConnectionInfo.from_url({mysql!r})\n"
        "run_dir = RunDir('ec-test-')\n"
        "run_dir.ghost_config(info)\n"
        "run = ghost.GhostRun('items', run_dir)\n"
        f"argv = ghost.build_argv(ghost.GhostBinary({fake_ghost!r}), info, run, 'ADD COLUMN c INT', execute=True,\n"
        "                         postpone=True, keep_old_table=True, extra=[])\n"
        "try:\n"
        "    ghost.run_ghost(argv, run, lambda p: print('progress', p.state, flush=True))\n"
        "except Interrupted as interrupted:\n"
        "    print('interrupted', interrupted, 'exit', run.process.proc.returncode, flush=True)\n"
        "    print('reason', run.process.last_error(), flush=True)\n"
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "postponing" in line:
            break
    proc.send_signal(signal.SIGTERM)
    out, _err = proc.communicate(timeout=60)
    assert "interrupted SIGTERM exit 1" in out  # gh-ost itself was told to panic, and did
    assert "panic" in out.split("reason", 1)[1]


def test_a_second_ptosc_change_after_a_success_runs(mysql: str) -> None:
    """Measured: the second online ALTER of a table was refused for the kept `_items_old`."""
    _table(mysql, rows=2_000)
    for clause in ("ADD COLUMN note VARCHAR(20)", "ADD COLUMN note2 VARCHAR(20)"):
        result = alter("items", clause, engine="pt-online-schema-change", url=mysql, settings=_settings())
        assert result.state == "done"
    names = _tables(mysql)
    assert "_items_old" in names and "__items_old" in names  # both originals kept, as pt-osc names them
    assert {"note", "note2"} <= {c["name"] for c in inspect(create_engine(mysql)).get_columns("items")}
