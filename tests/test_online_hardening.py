"""Online schema change failure paths (issue 14): credentials any password can use, flags with
values, records closed on every exit, signals, cleanup after a failed validation. The real
gh-ost runs when EC_GHOST_BIN is set (against a private binlog-enabled MariaDB); CI uses the
stand-in, which follows the real binary's behaviour measured here."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from expandcontract.config import settings_from_mapping
from expandcontract.online.api import alter
from expandcontract.online.rundir import ConnectionInfo, RunDir
from tests.helpers import column_type

TRICKY = "p#w;d \"q' `b` x\\"  # go-ini cuts at '#'/';' and joins a line ending in '\'

real_ghost = pytest.mark.skipif(not os.environ.get("EC_GHOST_BIN"), reason="set EC_GHOST_BIN to a gh-ost binary to run")


def _settings() -> object:
    return settings_from_mapping({"online-threshold-rows": 0})


def _table(url: str, name: str = "items", rows: int = 500) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE `{name}` (id INT PRIMARY KEY AUTO_INCREMENT, n INT NOT NULL, s VARCHAR(20))"))
        conn.execute(text(f"INSERT INTO `{name}` (n, s) SELECT seq, CONCAT('row ', seq) FROM seq_1_to_{rows}"))
    engine.dispose()


@contextlib.contextmanager
def tricky_user(url: str, privileges: str = "ALL") -> Iterator[str]:
    """An account whose password has every character an INI or option-file parser trips on."""
    root = make_url(url)
    engine = create_engine(root)
    with engine.begin() as conn:
        conn.execute(text("CREATE USER IF NOT EXISTS 'ec_tricky'@'%' IDENTIFIED BY :pw"), {"pw": TRICKY})
        conn.execute(text(f"GRANT {privileges} ON *.* TO 'ec_tricky'@'%'"))
    try:
        yield URL.create(root.drivername, "ec_tricky", TRICKY, root.host, root.port, root.database).render_as_string(
            hide_password=False
        )
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP USER IF EXISTS 'ec_tricky'@'%'"))
        engine.dispose()


@pytest.fixture
def mysql(mysql_url: URL) -> str:
    return mysql_url.render_as_string(hide_password=False)


@pytest.fixture
def binlog_mysql(private_mariadb_url: URL) -> str:
    return private_mariadb_url.render_as_string(hide_password=False)


# --- credentials -----------------------------------------------------------------------------


def test_credential_files_never_hold_what_their_readers_mangle() -> None:
    info = ConnectionInfo("db", 3306, "mig#rator", TRICKY, "app")
    run_dir = RunDir("ec-test-")
    try:
        conf, env = run_dir.ghost_config(info)
        ghost_text = conf.read_text()
        option = run_dir.client_config(info).read_text()
    finally:
        run_dir.remove()
    # gh-ost expands ${NAME} from its environment: no value passes through go-ini.
    assert ghost_text == "[client]\nuser=${EC_GHOST_USER}\npassword=${EC_GHOST_PASSWORD}\n"
    assert env == {"EC_GHOST_USER": "mig#rator", "EC_GHOST_PASSWORD": TRICKY}
    # A MySQL option file (pt-osc's F=): quoted, with backslash escapes.
    assert 'password="p#w;d \\"q\' `b` x\\\\"' in option


def test_any_password_reaches_the_stand_in(binlog_mysql: str, fake_ghost: str) -> None:
    _table(binlog_mysql)
    with tricky_user(binlog_mysql) as url:
        result = alter(
            "items", "ADD COLUMN c INT", engine="gh-ost", url=url, settings=_settings(), ghost_bin=fake_ghost
        )
    assert result.state == "done"


def test_any_password_reaches_pt_osc(mysql: str) -> None:
    _table(mysql)
    with tricky_user(mysql) as url:
        result = alter(
            "items", "MODIFY COLUMN n BIGINT NOT NULL", engine="pt-online-schema-change", url=url, settings=_settings()
        )
    assert result.state == "done" and column_type(mysql, "items", "n") == "bigint(20)"


@real_ghost
def test_any_password_reaches_the_real_ghost(binlog_mysql: str) -> None:
    _table(binlog_mysql, rows=2000)
    with tricky_user(binlog_mysql) as url:
        result = alter(
            "items",
            "ADD COLUMN c INT",
            engine="gh-ost",
            url=url,
            settings=_settings(),
            extra_args=["--skip-metadata-lock-check"],
        )
    assert result.state == "done"
