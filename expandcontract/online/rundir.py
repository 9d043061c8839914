"""A private directory per online run: credentials file (0600), socket and flag files.

Credentials never go on a command line (``ps`` shows it to every user on the host)."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ConnectionInfo:
    host: str
    port: int
    user: str
    password: str | None
    database: str

    @classmethod
    def from_url(cls, url: Any) -> ConnectionInfo:
        from sqlalchemy.engine import make_url

        u = make_url(url) if isinstance(url, str) else url
        if not u.database:
            from expandcontract.errors import ConfigError

            raise ConfigError("the database URL must name a database for an online schema change")
        return cls(u.host or "127.0.0.1", int(u.port or 3306), u.username or "root", u.password, u.database)


class RunDir:
    def __init__(self, prefix: str) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=prefix))
        os.chmod(self.path, 0o700)
        #: Extra environment for the tool (gh-ost's credentials; see ghost_config).
        self.env: dict[str, str] = {}

    def file(self, name: str) -> Path:
        return self.path / name

    def write_private(self, name: str, text: str) -> Path:
        path = self.path / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        return path

    def client_config(self, info: ConnectionInfo) -> Path:
        """A MySQL option file (pt-osc's ``F=``): values quoted, ``\\`` and ``"`` escaped, so a
        ``#``, ``;``, quote or trailing backslash in a password survives."""
        lines = ["[client]", f"user={_quoted(info.user)}"]
        if info.password is not None:
            lines.append(f"password={_quoted(info.password)}")
        return self.write_private("client.cnf", "\n".join(lines) + "\n")

    def ghost_config(self, info: ConnectionInfo) -> tuple[Path, dict[str, str]]:
        """gh-ost's ``--conf`` and the environment to run it with. gh-ost reads the file with
        go-ini, which cuts a value at ``#`` or ``;`` and joins a line ending in ``\\``; it also
        expands ``${NAME}`` from its environment, so the credentials travel that way, never
        through the parser (and never on the command line)."""
        _check(info.user)
        _check(info.password or "")
        conf = self.write_private("ghost.cnf", "[client]\nuser=${EC_GHOST_USER}\npassword=${EC_GHOST_PASSWORD}\n")
        self.env = {"EC_GHOST_USER": info.user, "EC_GHOST_PASSWORD": info.password or ""}
        return conf, dict(self.env)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    @staticmethod
    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)


def _check(value: str) -> str:
    if "\n" in value or "\r" in value:
        from expandcontract.errors import ConfigError

        raise ConfigError("database user and password must not contain line breaks")
    return value


def _quoted(value: str) -> str:
    return '"' + _check(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
