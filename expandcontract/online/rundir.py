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

    def file(self, name: str) -> Path:
        return self.path / name

    def write_private(self, name: str, text: str) -> Path:
        path = self.path / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        return path

    def client_config(self, info: ConnectionInfo) -> Path:
        lines = ["[client]", f"user={_ini(info.user)}"]
        if info.password is not None:
            lines.append(f"password={_ini(info.password)}")
        return self.write_private("client.cnf", "\n".join(lines) + "\n")

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    @staticmethod
    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)


def _ini(value: str) -> str:
    if "\n" in value or "\r" in value:
        from expandcontract.errors import ConfigError

        raise ConfigError("database user and password must not contain line breaks")
    return value
