"""Opening the application's database: URL resolution, and errors without passwords."""

from __future__ import annotations

import os
from typing import Any

from expandcontract.config import Settings
from expandcontract.errors import ConfigError, DatabaseError


def resolve_url(url: str | None, settings: Settings, project: Any = None) -> str:
    """--url, then EC_DATABASE_URL, then ``database-url`` in the configuration, then the
    ``sqlalchemy.url`` of the project's alembic.ini (``project``: where to look for it)."""
    chosen = url or os.environ.get("EC_DATABASE_URL") or settings.database_url or _alembic_ini_url(project)
    if not chosen:
        raise ConfigError(
            "no database URL: pass --url, set EC_DATABASE_URL, set database-url in [tool.expandcontract], "
            "or sqlalchemy.url in alembic.ini (e.g. sqlite:///app.db, postgresql+psycopg://user@host/db, "
            "mysql+pymysql://user@host/db)"
        )
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(chosen)
    except (ArgumentError, ValueError) as error:
        # The message names what is wrong, never the URL itself (it may hold a password).
        why = "the port must be a number" if "int()" in str(error) else "it is not a database URL"
        raise ConfigError(
            f"invalid database URL: {why} (expected e.g. postgresql+psycopg://user@host:5432/db)"
        ) from None
    return chosen


def _alembic_ini_url(project: Any) -> str | None:
    """``sqlalchemy.url`` from the alembic.ini at or above ``project``, unless it is Alembic's
    template placeholder."""
    import configparser
    from pathlib import Path

    if project is None:
        return None
    start = Path(project).resolve()
    for directory in (start, *start.parents):
        ini = directory / "alembic.ini"
        if ini.is_file():
            parser = configparser.ConfigParser(defaults={"here": str(directory)})
            try:
                parser.read(ini, encoding="utf-8")
                value = parser.get("alembic", "sqlalchemy.url", fallback=None)
            except (configparser.Error, UnicodeDecodeError):
                return None
            if value and not value.startswith("driver://"):
                return value.strip()
            return None
    return None


def safe_url(url: str) -> str:
    """The URL as it may be printed: never with its password."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return "<unparseable database URL>"


def create_engine(url: str) -> Any:
    from sqlalchemy import create_engine as sa_create_engine
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        return sa_create_engine(url, pool_pre_ping=False, future=True)
    except (ArgumentError, NoSuchModuleError, ImportError) as error:
        raise DatabaseError(safe_url(url), f"cannot use this URL: {error}") from None


def connect(engine: Any) -> Any:
    """A connection, or a DatabaseError that says why (unreachable, auth, unknown database)."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return engine.connect()
    except SQLAlchemyError as error:
        detail = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise DatabaseError(safe_url(engine.url.render_as_string(hide_password=False)), detail) from None


def backend(conn_or_engine: Any) -> str:
    """``postgresql``, ``mysql`` (MySQL and MariaDB) or ``sqlite``."""
    name = conn_or_engine.dialect.name
    return "mysql" if name in ("mysql", "mariadb") else name


def server_target(conn: Any, fallback: Any) -> Any:
    """The :class:`~expandcontract.dialects.Target` of a live connection (``fallback``, a
    Target, for SQLite, which ec renders as the configured dialect)."""
    from expandcontract.dialects import Target

    info = tuple(v for v in (conn.dialect.server_version_info or ()) if isinstance(v, int))
    kind = backend(conn)
    if kind == "postgresql":
        return Target("postgresql", info[:2] or fallback.version)
    if kind == "mysql":
        mariadb = bool(getattr(conn.dialect, "is_mariadb", False))
        return Target("mariadb" if mariadb else "mysql", info[:3] or fallback.version)
    return fallback
