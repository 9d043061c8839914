"""Database fixtures: a DSN from the environment first, then a container if Docker answers,
else skip - and with EC_REQUIRE_DATABASES=1 (set by .ci/run) that skip is a failure, so CI
can never pass by not running the database tests.

    EC_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test
    EC_TEST_MYSQL_URL=mysql+pymysql://root@127.0.0.1:3306/test

Each test gets a database of its own, created and dropped around it.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from tests.helpers import FAKE_GHOST

# HAProxy, nginx and the color servers for the traffic tests.
pytest_plugins = ["tests.proxies"]

REQUIRE = os.environ.get("EC_REQUIRE_DATABASES") == "1"


def _unavailable(what: str, reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"{what} is required (EC_REQUIRE_DATABASES=1) but not available: {reason}", pytrace=False)
    pytest.skip(f"no {what}: {reason} (set EC_TEST_{what.upper()}_URL)")


def _server_url(env: str, what: str, container: Any) -> Iterator[URL]:
    raw = os.environ.get(env)
    if raw:
        url = make_url(raw)
        try:
            with create_engine(url).connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as error:  # noqa: BLE001
            _unavailable(what, f"{env} is set but the server does not answer: {error}")
        yield url
        return
    try:
        started = container()
    except Exception as error:  # noqa: BLE001 - no Docker, no image, no testcontainers
        _unavailable(what, f"{env} is unset and no container could start ({type(error).__name__})")
        return
    try:
        yield make_url(started.get_connection_url())
    finally:
        started.stop()


def _postgres_container() -> Any:
    from testcontainers.postgres import PostgresContainer

    return PostgresContainer("postgres:16", driver="psycopg").start()


def _mysql_container() -> Any:
    from testcontainers.mysql import MySqlContainer

    return MySqlContainer("mariadb:10.11", dialect="pymysql").start()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[URL]:
    yield from _server_url("EC_TEST_POSTGRES_URL", "postgres", _postgres_container)


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[URL]:
    yield from _server_url("EC_TEST_MYSQL_URL", "mysql", _mysql_container)


def _fresh_database(server: URL, quote: str) -> Iterator[URL]:
    name = f"ec_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {quote}{name}{quote}"))
    try:
        yield server.set(database=name)
    finally:
        with admin.connect() as conn:
            if server.get_backend_name() == "postgresql":
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


@pytest.fixture
def postgres_url(postgres_server: URL) -> Iterator[URL]:
    yield from _fresh_database(postgres_server, '"')


@pytest.fixture
def mysql_url(mysql_server: URL) -> Iterator[URL]:
    yield from _fresh_database(mysql_server, "`")


@pytest.fixture(scope="session")
def private_mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[URL]:
    """A throwaway mariadbd with performance_schema ON and ROW binary logging - what the shared
    server lacks - for session counting by program_name and gh-ost's pre-flight. Started here,
    on 127.0.0.1, stopped at the end of the session."""
    from tests.mariadb_server import MariadbUnavailable, private_mariadbd

    try:
        with private_mariadbd(tmp_path_factory.mktemp("mariadb")) as url:
            yield url
    except MariadbUnavailable as error:
        _unavailable("mysql", str(error))


@pytest.fixture
def private_mariadb_url(private_mariadb: URL) -> Iterator[URL]:
    yield from _fresh_database(private_mariadb, "`")


@pytest.fixture(scope="session")
def private_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[URL]:
    """A throwaway PostgreSQL with pg_stat_statements preloaded (the shared server does not load
    it), started here on 127.0.0.1, stopped at the end of the session."""
    import shutil
    import tempfile

    from tests.postgres_server import PostgresUnavailable, private_postgres

    # A directory of its own straight under the temporary directory: pytest's are private to
    # root, and the cluster may have to belong to the postgres user.
    base = Path(tempfile.mkdtemp(prefix="ec-test-postgres-"))
    try:
        with private_postgres(base) as url:
            yield url
    except PostgresUnavailable as error:
        _unavailable("postgres", str(error))
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def private_postgres_url(private_postgres: URL) -> Iterator[URL]:
    yield from _fresh_database(private_postgres, '"')


@pytest.fixture
def fake_ghost(tmp_path: Path) -> str:
    """An executable named gh-ost that runs tests/fixtures/fake_gh_ost.py (gh-ost's protocol, no binary)."""
    wrapper = tmp_path / "gh-ost"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKE_GHOST} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


@pytest.fixture(scope="session", autouse=True)
def _dev_null_survives() -> Iterator[None]:
    """No code path may replace /dev/null (an atomic write onto it did, as root)."""
    yield
    import stat

    assert stat.S_ISCHR(os.stat("/dev/null").st_mode), "/dev/null is no longer a character device"
