"""Target databases: the dialect names ec accepts and the server versions rules reason about."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

DialectName = Literal["postgresql", "mysql", "mariadb"]

DIALECTS: Final[tuple[DialectName, ...]] = ("postgresql", "mysql", "mariadb")

_ALIASES: Final[dict[str, DialectName]] = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "pg": "postgresql",
    "mysql": "mysql",
    "mariadb": "mariadb",
}

# Defaults: the oldest release line still supported upstream in late 2026 (MySQL 8.0 ended April 2026).
DEFAULT_VERSIONS: Final[dict[DialectName, tuple[int, ...]]] = {
    "postgresql": (13,),
    "mysql": (8, 4),
    "mariadb": (10, 6),
}


def normalize_dialect(name: str) -> DialectName:
    """Map user spellings (``postgres``, ``pg``, ``MySQL``) to a canonical dialect name."""
    try:
        return _ALIASES[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown dialect {name!r}; expected one of: {', '.join(DIALECTS)}") from None


def parse_version(text: str | int | float) -> tuple[int, ...]:
    """Parse ``15``, ``"8.0.12"`` or ``10.11`` into a comparable tuple."""
    raw = str(text).strip()
    if not re.fullmatch(r"\d+(\.\d+){0,2}", raw):
        raise ValueError(f"invalid server version {text!r}; expected e.g. 15, '8.0' or '10.11'")
    return tuple(int(part) for part in raw.split("."))


@dataclass(frozen=True)
class Target:
    """The database a migration will run on: dialect plus server version."""

    dialect: DialectName
    version: tuple[int, ...]

    @classmethod
    def default(cls, dialect: DialectName) -> Target:
        return cls(dialect, DEFAULT_VERSIONS[dialect])

    @property
    def family(self) -> Literal["postgresql", "mysql"]:
        """MariaDB and MySQL share SQL syntax (and sqlglot's ``mysql`` dialect)."""
        return "postgresql" if self.dialect == "postgresql" else "mysql"

    @property
    def sqlglot_dialect(self) -> str:
        # sqlglot names PostgreSQL "postgres" and has no MariaDB dialect.
        return "postgres" if self.dialect == "postgresql" else "mysql"

    @property
    def alembic_dialect(self) -> str:
        return self.dialect

    def at_least(self, *version: int) -> bool:
        return self.version >= version

    @property
    def is_mariadb(self) -> bool:
        return self.dialect == "mariadb"

    def describe(self) -> str:
        names = {"postgresql": "PostgreSQL", "mysql": "MySQL", "mariadb": "MariaDB"}
        return f"{names[self.dialect]} {'.'.join(map(str, self.version))}"
