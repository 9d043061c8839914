"""Is the copy the same data as the original? Checked before a cut-over is released.

gh-ost applies only row events: a session still writing STATEMENT-format binlog (one opened
before ``SET GLOBAL binlog_format=ROW``) loses its writes in the copy without a word, and gh-ost
exits 0. So ec compares the two tables while gh-ost holds the cut-over: row count and a
checksum per primary-key range (what Spirit and pt-table-checksum do). Both tables keep
changing (gh-ost applies the binlog with a few ms of lag), so a range that differs is checked
again a few times, then - where it is still different, as a range under steady writes will be
- once more with the original held still (``LOCK TABLES ... READ`` on one connection, for a
moment, until the copy has caught up) and read from another; only a difference that stays then
is a divergence.

Columns whose type the ALTER changes (or that only one side has) are left out of the checksum,
and said so: their values may legitimately be written differently.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Holds the original table still (writers wait) until the copy has caught up, for one check.
Quiesce = Callable[[], contextlib.AbstractContextManager[None]]

Bound = Any  # a primary-key value


@dataclass
class CopyCheck:
    table: str
    copy: str
    compared_columns: list[str]
    skipped_columns: list[str]
    chunks: int = 0
    #: Primary-key ranges ``(from, to)`` still different after every re-check (None: open end).
    differing: list[tuple[Bound, Bound]] = field(default_factory=list)
    #: For the first differing range: rows only in the original, only in the copy, or different.
    missing: list[Any] = field(default_factory=list)
    extra: list[Any] = field(default_factory=list)
    changed: list[Any] = field(default_factory=list)
    rows: int = 0
    seconds: float = 0.0
    #: Ranges compared with writers held still (see ``quiesce``), and the longest hold.
    quiesced: int = 0
    longest_hold: float = 0.0
    #: Why the comparison could not be made (then the copy is not trusted either).
    error: str | None = None

    @property
    def ok(self) -> bool:
        return not self.differing and self.error is None

    def describe(self) -> str:
        if self.error is not None:
            return f"the copy {self.copy} could not be verified against {self.table}: {self.error}"
        if self.ok:
            skipped = (
                f"; not compared (type changed): {', '.join(self.skipped_columns)}" if self.skipped_columns else ""
            )
            held = (
                f"; {self.quiesced} range(s) re-checked with writers held"
                f" (longest hold {self.longest_hold * 1000:.0f} ms)"
                if self.quiesced
                else ""
            )
            return f"copy verified: {self.rows:,} rows in {self.chunks} range(s) match{skipped}{held}"
        sample = []
        for what, keys in (("missing from the copy", self.missing), ("only in the copy", self.extra)):
            if keys:
                sample.append(f"{len(keys)} row(s) {what} (e.g. {', '.join(map(str, keys[:5]))})")
        if self.changed:
            sample.append(f"{len(self.changed)} row(s) differ (e.g. {', '.join(map(str, self.changed[:5]))})")
        first = self.differing[0]
        return (
            f"the copy {self.copy} differs from {self.table} in {len(self.differing)} of {self.chunks} key range(s), "
            f"first {first[0]}..{first[1]}: {'; '.join(sample) or 'checksums differ'}"
        )


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _row_crc(columns: list[str]) -> str:
    """One row's checksum; ISNULL beside each value tells NULL from the string 'NULL'."""
    parts = ", ".join(f"ISNULL({_quote(c)}), {_quote(c)}" for c in columns) or "1"
    return f"CRC32(CONCAT_WS('#', {parts}))"


def _range(key: str | None, bounds: tuple[Bound, Bound]) -> tuple[str, dict[str, Any]]:
    """``WHERE`` for a primary-key range ``[from, to)`` (an open end is None; no key: all rows)."""
    clauses, params = [], {}
    if key is not None and bounds[0] is not None:
        clauses.append(f"{_quote(key)} >= :lo")
        params["lo"] = bounds[0]
    if key is not None and bounds[1] is not None:
        clauses.append(f"{_quote(key)} < :hi")
        params["hi"] = bounds[1]
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params


def _columns(conn: Any, schema: str, table: str) -> dict[str, str]:
    from sqlalchemy import text

    rows = conn.execute(
        text(
            "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = :s AND TABLE_NAME = :t ORDER BY ORDINAL_POSITION"
        ),
        {"s": schema, "t": table},
    ).all()
    return {str(r[0]): str(r[1]) for r in rows}


def _primary_key(conn: Any, schema: str, table: str) -> list[str]:
    from sqlalchemy import text

    rows = conn.execute(
        text(
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = :s AND TABLE_NAME = :t "
            "AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION"
        ),
        {"s": schema, "t": table},
    ).all()
    return [str(r[0]) for r in rows]


def verify_copy(
    conn: Any,
    table: str,
    copy: str,
    *,
    chunk_rows: int = 10_000,
    rechecks: int = 3,
    recheck_wait: float = 0.2,
    pause: float = 0.0,
    quiesce: Quiesce | None = None,
    max_quiesced: int = 50,
) -> CopyCheck:
    """Compare ``copy`` with ``table`` (same database). ``pause`` sleeps between ranges (a
    throttle for busy servers); ``quiesce`` holds writers off the original until the copy has
    caught up, for the ranges that still differ after the re-checks (at most ``max_quiesced``
    of them; more than that is reported as different)."""
    from sqlalchemy import text

    started = time.monotonic()
    schema = conn.execute(text("SELECT DATABASE()")).scalar()
    original, copied = _columns(conn, schema, table), _columns(conn, schema, copy)
    key = _primary_key(conn, schema, table)
    compared = [c for c, kind in original.items() if copied.get(c) == kind]
    skipped = [c for c in original if c not in compared] + [c for c in copied if c not in original]
    check = CopyCheck(table, copy, compared, skipped)
    digest = f"COUNT(*), COALESCE(SUM({_row_crc(compared)}), 0)"

    ranges: list[tuple[Bound, Bound]] = [(None, None)]
    single = len(key) == 1 and key[0] in compared
    if single:
        pk = _quote(key[0])
        ranges, low = [], None
        while True:
            where = f"WHERE {pk} >= :low" if low is not None else ""
            boundary = conn.execute(
                text(f"SELECT {pk} FROM {_quote(table)} {where} ORDER BY {pk} LIMIT 1 OFFSET :n"),
                {"low": low, "n": chunk_rows},
            ).scalar()
            ranges.append((low, boundary))
            if boundary is None:
                break
            low = boundary
        conn.rollback()

    def digest_of(name: str, bounds: tuple[Bound, Bound]) -> tuple[int, int]:
        where, params = _range(key[0] if single else None, bounds)
        count, crc = conn.execute(text(f"SELECT {digest} FROM {_quote(name)} {where}"), params).one()
        conn.rollback()  # a fresh snapshot for every read: both tables move on
        return int(count), int(crc)

    pending = []
    for bounds in ranges:
        left = digest_of(table, bounds)
        check.rows += left[0]
        if left != digest_of(copy, bounds):
            pending.append(bounds)
        if pause:
            time.sleep(pause)
    check.chunks = len(ranges)
    for _ in range(rechecks):
        if not pending:
            break
        time.sleep(recheck_wait)
        pending = [b for b in pending if digest_of(table, b) != digest_of(copy, b)]
    if quiesce is not None and pending and len(pending) <= max_quiesced:
        still = []
        for bounds in pending:
            held = time.monotonic()
            with quiesce():
                differs = digest_of(table, bounds) != digest_of(copy, bounds)
            check.longest_hold = max(check.longest_hold, time.monotonic() - held)
            check.quiesced += 1
            if differs:
                still.append(bounds)
        pending = still
    check.differing = pending
    if pending and key and all(k in compared for k in key):
        _rows_that_differ(conn, check, key, pending[0], single)
    check.seconds = time.monotonic() - started
    return check


def _rows_that_differ(conn: Any, check: CopyCheck, key: list[str], bounds: tuple[Bound, Bound], single: bool) -> None:
    from sqlalchemy import text

    keys = ", ".join(_quote(k) for k in key)
    where, params = _range(key[0] if single else None, bounds)

    def rows(name: str) -> dict[Any, int]:
        result = conn.execute(
            text(f"SELECT {keys}, {_row_crc(check.compared_columns)} FROM {_quote(name)} {where} LIMIT 200000"),
            params,
        ).all()
        conn.rollback()
        return {tuple(r[:-1]) if len(key) > 1 else r[0]: int(r[-1]) for r in result}

    left, right = rows(check.table), rows(check.copy)
    check.missing = sorted(k for k in left if k not in right)
    check.extra = sorted(k for k in right if k not in left)
    check.changed = sorted(k for k in left if k in right and left[k] != right[k])
