"""A small, dialect-aware model of column types, enough to tell a widening from a narrowing.

Both sources feed it the same way: Alembic types are compiled by SQLAlchemy for the target
dialect, sqlglot types are regenerated as SQL; either way we parse ``NAME(args)`` text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CANONICAL = {
    "INT": "INTEGER",
    "INT4": "INTEGER",
    "MEDIUMINT": "MEDIUMINT",
    "INT8": "BIGINT",
    "INT2": "SMALLINT",
    "CHARACTER VARYING": "VARCHAR",
    "NVARCHAR": "VARCHAR",
    "CHARACTER": "CHAR",
    "NCHAR": "CHAR",
    "DECIMAL": "NUMERIC",
    "DEC": "NUMERIC",
    "BOOL": "BOOLEAN",
    "TINYINT(1)": "BOOLEAN",
    "FLOAT4": "REAL",
    "FLOAT8": "DOUBLE PRECISION",
    "DOUBLE": "DOUBLE PRECISION",
    "TIMESTAMP WITHOUT TIME ZONE": "TIMESTAMP",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ",
    "TIMESTAMPTZ": "TIMESTAMPTZ",
    "SERIAL4": "SERIAL",
    "SERIAL8": "BIGSERIAL",
}

# Integer widths in bytes; widening within this order keeps every old value representable.
_INT_WIDTH = {"TINYINT": 1, "SMALLINT": 2, "MEDIUMINT": 3, "INTEGER": 4, "BIGINT": 8}
_TEXT_MYSQL = {"TINYTEXT": 255, "TEXT": 65535, "MEDIUMTEXT": 16777215, "LONGTEXT": 4294967295}
_BYTES_PER_CHAR = {"utf8mb4": 4, "utf8mb3": 3, "utf8": 3, "latin1": 1, "ascii": 1}


@dataclass(frozen=True)
class SqlType:
    """``name`` is upper-case and canonical; ``args`` are the parenthesised parameters as text."""

    name: str
    args: tuple[str, ...] = ()
    unsigned: bool = False

    def __str__(self) -> str:
        inner = f"({', '.join(self.args)})" if self.args else ""
        return f"{self.name}{inner}{' UNSIGNED' if self.unsigned else ''}"

    @property
    def int_args(self) -> tuple[int, ...] | None:
        try:
            return tuple(int(a) for a in self.args)
        except ValueError:
            return None

    @property
    def enum_values(self) -> tuple[str, ...]:
        return self.args if self.name in ("ENUM", "SET") else ()


def parse_type(text: str) -> SqlType:
    """Parse type text such as ``VARCHAR(50)``, ``numeric(10, 2)`` or ``ENUM('a','b')``."""
    raw = " ".join(text.strip().split())
    unsigned = bool(re.search(r"\bUNSIGNED\b", raw, re.I))
    raw = re.sub(r"\b(UNSIGNED|ZEROFILL)\b", "", raw, flags=re.I).strip()
    # Collation/charset tails do not change the value domain.
    raw = re.split(r"\s+(?:COLLATE|CHARACTER SET|CHARSET)\s+", raw, flags=re.I)[0]
    match = re.fullmatch(r"([A-Za-z_][\w ]*?)\s*(?:\((.*)\))?\s*(\[\])?", raw, re.S)
    if not match:
        return SqlType(raw.upper())
    name = match.group(1).upper().strip()
    args = tuple(_split_args(match.group(2))) if match.group(2) is not None else ()
    if match.group(3):
        name += "[]"
    if name == "TINYINT" and args == ("1",):
        return SqlType("BOOLEAN")
    # "TIMESTAMP(6) WITH TIME ZONE" style: the suffix lands in the name.
    name = _CANONICAL.get(name, name)
    return SqlType(name, args, unsigned)


def _split_args(text: str) -> list[str]:
    return [p for p in split_top_level(text) if p]


def split_top_level(text: str) -> list[str]:
    """``a, f(b, c), 'd,e'`` -> ``["a", "f(b, c)", "'d,e'"]``: split at the commas outside
    parentheses and quotes, each part stripped (empty parts kept)."""
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    current: list[str] = []
    for char in text:
        if quote:
            current.append(char)
            if char == quote:
                quote = None
            continue
        if char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return parts


def _longer_or_unbounded(old: SqlType, new: SqlType) -> bool:
    """A length limit that stays or grows (no limit at all counts as the largest)."""
    o, n = old.int_args, new.int_args
    if not n:
        return True
    return bool(o) and n[0] >= o[0]  # type: ignore[index]


def _numeric_precision_up(old: SqlType, new: SqlType) -> bool:
    """numeric(p, s) -> numeric(p2 >= p, s), or to unconstrained numeric."""
    o, n = old.int_args, new.int_args
    if not n:
        return True
    if not o:
        return False
    return (n[1] if len(n) > 1 else 0) == (o[1] if len(o) > 1 else 0) and n[0] >= o[0]


def is_compatible_widening(old: SqlType, new: SqlType) -> bool:
    """True when every value the old type holds is still valid, unchanged, in the new type.

    The old application keeps reading and writing the column, so only changes that keep its
    values representable are expand-safe: varchar(n)->varchar(m>=n) or text, integer widening,
    numeric precision up at the same scale, enum/set values appended.
    """
    if old == new:
        return True
    if old.name == new.name == "VARCHAR" or (old.name, new.name) == ("CHAR", "VARCHAR"):
        return _longer_or_unbounded(old, new)
    if old.name in ("VARCHAR", "CHAR") and new.name in ("TEXT", "MEDIUMTEXT", "LONGTEXT"):
        return True
    if old.name in _TEXT_MYSQL and new.name in _TEXT_MYSQL:
        return _TEXT_MYSQL[new.name] >= _TEXT_MYSQL[old.name]
    if old.name in _INT_WIDTH and new.name in _INT_WIDTH:
        if old.unsigned and not new.unsigned:
            return _INT_WIDTH[new.name] > _INT_WIDTH[old.name]
        return _INT_WIDTH[new.name] >= _INT_WIDTH[old.name] and old.unsigned == new.unsigned
    if old.name == new.name == "NUMERIC":
        return _numeric_precision_up(old, new)
    if old.name == new.name and old.name in ("ENUM", "SET"):
        return new.enum_values[: len(old.enum_values)] == old.enum_values
    widenings = {("REAL", "DOUBLE PRECISION"), ("FLOAT", "DOUBLE PRECISION"), ("JSON", "JSONB"), ("CIDR", "INET")}
    return (old.name, new.name) in widenings


def pg_canonical(t: SqlType) -> SqlType:
    """PostgreSQL's own spelling: ``FLOAT`` and ``FLOAT(25..53)`` are ``DOUBLE PRECISION``,
    ``FLOAT(1..24)`` is ``REAL`` (so FLOAT -> FLOAT(53) is no change at all)."""
    if t.name == "FLOAT":
        precision = t.int_args
        if precision and precision[0] <= 24:
            return SqlType("REAL")
        return SqlType("DOUBLE PRECISION")
    return t


def canonical(t: SqlType, family: str) -> SqlType:
    """The type as the server means it: on PostgreSQL see :func:`pg_canonical`; on MySQL/MariaDB
    ``FLOAT`` and ``FLOAT(p <= 24)`` are single precision (``FLOAT``), ``FLOAT(25..53)`` double."""
    if family == "postgresql":
        return pg_canonical(t)
    if t.name == "FLOAT":
        precision = t.int_args
        return SqlType("DOUBLE PRECISION") if precision and precision[0] > 24 else SqlType("FLOAT")
    return t


def postgres_rewrite_free(old: SqlType, new: SqlType, *, utc_session: bool = False) -> bool:
    """PostgreSQL changes the type without rewriting the table (binary-coercible or a relaxed
    limit), as measured on PostgreSQL 15 (tests/test_ground_truth.py). ``utc_session``: the
    session's TimeZone is UTC, which makes timestamp <-> timestamptz free (PostgreSQL 12+);
    unknown at lint time, so by default such a change counts as a rewrite."""
    old, new = pg_canonical(old), pg_canonical(new)
    if old == new:
        return True
    if old.name == new.name and old.name in ("VARCHAR", "VARBIT", "BIT VARYING"):
        return _longer_or_unbounded(old, new)
    if {old.name, new.name} == {"TIMESTAMP", "TIMESTAMPTZ"} and old.args == new.args:
        return utc_session
    if old.name == "VARCHAR" and new.name == "TEXT":
        return True
    if old.name == "TEXT" and new.name == "VARCHAR" and not new.args:
        return True
    if old.name == new.name == "NUMERIC":
        return _numeric_precision_up(old, new)
    return (old.name, new.name) == ("CIDR", "INET")


def mysql_varchar_prefix_bytes(chars: int, charset: str) -> int:
    """VARCHAR stores its length in 1 byte up to 255 bytes of data, else 2."""
    return 1 if chars * _BYTES_PER_CHAR.get(charset.lower(), 4) <= 255 else 2


def mysql_inplace_type_change(old: SqlType, new: SqlType, charset: str, *, mariadb: bool = True) -> bool:
    """MySQL/MariaDB can change the type in place (no table copy).

    VARCHAR growth is in place while the length prefix keeps its size (1 byte up to 255 bytes of
    data). MariaDB (10.4+, DYNAMIC/COMPACT rows) also grows a column of at most 127 bytes past 255
    bytes in place: every stored length is below 128, which both prefix formats write in one byte
    (measured on MariaDB 10.11: VARCHAR(20) -> VARCHAR(100) in utf8mb4 is instant, VARCHAR(32)
    -> VARCHAR(64) copies). MySQL documents the plain prefix rule."""
    if old == new:
        return True
    if old.name == new.name == "VARCHAR":
        o, n = old.int_args, new.int_args
        if not o or not n or n[0] < o[0]:
            return False
        if mariadb and o[0] * _BYTES_PER_CHAR.get(charset.lower(), 4) <= 127:
            return True
        return mysql_varchar_prefix_bytes(o[0], charset) == mysql_varchar_prefix_bytes(n[0], charset)
    if old.name == new.name and old.name in ("ENUM", "SET"):
        appended = new.enum_values[: len(old.enum_values)] == old.enum_values
        # Storage grows past 255 members (ENUM) or 8 (SET) and forces a copy.
        limit = 255 if old.name == "ENUM" else 8
        same_storage = (len(old.enum_values) <= limit) == (len(new.enum_values) <= limit)
        return appended and same_storage
    return False


def is_json(t: SqlType) -> bool:
    return t.name == "JSON"
