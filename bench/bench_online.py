"""Large-table ALTER on MariaDB under steady writes: plain ALGORITHM=COPY vs ec with
pt-online-schema-change (and gh-ost when EC_GHOST_BIN is set). Printed, never asserted.

gh-ost needs a binlog-enabled server with the metadata-lock instrument: when the given server
has no binary log, the bench starts a private mariadbd on 127.0.0.1 (tests/mariadb_server.py)
and runs every method there, so the figures compare like with like. The gh-ost row includes
ec's verification of the copy before the cut-over (its holds are write stalls too) and runs
with ec's default cut-over lock timeout (1 s: gh-ost holds the lock up to 2 s per attempt).

A 1,000,000-row table (EC_BENCH_ROWS) takes one writer (~150 transactions/s, each an INSERT
and an UPDATE, mirrored into a reference table in the same transaction). After each ALTER the
writer stops and the two tables' row count and CRC32 checksum must match: nothing lost,
nothing duplicated. Target for the online engine: max write stall under 2.5 s, zero lost or
failed writes. Needs EC_BENCH_MYSQL_URL (or EC_TEST_MYSQL_URL); all traffic stays on it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROWS = int(os.environ.get("EC_BENCH_ROWS", "1000000"))
MAX_SECONDS = 600.0


class Writer(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        from sqlalchemy import create_engine

        self.engine = create_engine(url)
        self.latencies: list[float] = []
        self.failed = 0
        self.stop = threading.Event()

    def run(self) -> None:
        from sqlalchemy import text

        deadline = time.monotonic() + MAX_SECONDS
        i = 0
        while not self.stop.is_set() and time.monotonic() < deadline and i < 500_000:
            i += 1
            start = time.monotonic()
            try:
                with self.engine.begin() as conn:
                    for table in ("items", "reference"):
                        conn.execute(
                            text(f"INSERT INTO {table} (id, n, s) VALUES (:id, :n, 'new')"), {"id": ROWS + i, "n": i}
                        )
                        conn.execute(
                            text(f"UPDATE {table} SET n = n + 1 WHERE id = :id"), {"id": 1 + (i * 7919) % ROWS}
                        )
            except Exception:  # noqa: BLE001
                self.failed += 1
            self.latencies.append(time.monotonic() - start)
            time.sleep(0.005)
        self.engine.dispose()


def checksum(conn: object, table: str) -> tuple[int, int]:
    from sqlalchemy import text

    row = conn.execute(text(f"SELECT COUNT(*), SUM(CRC32(CONCAT_WS('|', id, n, s))) FROM {table}")).one()  # type: ignore[attr-defined]
    return int(row[0]), int(row[1] or 0)


def main() -> None:
    from sqlalchemy.engine import make_url

    base = os.environ.get("EC_BENCH_MYSQL_URL") or os.environ.get("EC_TEST_MYSQL_URL")
    if not base:
        print("bench_online: set EC_BENCH_MYSQL_URL (or EC_TEST_MYSQL_URL) to a MySQL/MariaDB server; skipped")
        return
    with contextlib.ExitStack() as stack:
        server = make_url(base)
        if os.environ.get("EC_GHOST_BIN") and not _has_binlog(server):
            import tempfile

            from tests.mariadb_server import private_mariadbd

            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ec-bench-mariadb-")))
            server = stack.enter_context(private_mariadbd(directory))
            print(f"(a private binlog-enabled mariadbd on {server.host}:{server.port}, for gh-ost)")
        run(server)


def _has_binlog(server: object) -> bool:
    from sqlalchemy import create_engine, text

    engine = create_engine(server)  # type: ignore[call-overload]
    try:
        with engine.connect() as conn:
            return bool(int(conn.execute(text("SELECT @@log_bin")).scalar() or 0))
    finally:
        engine.dispose()


def run(server: object) -> None:
    from sqlalchemy import create_engine, text

    name = f"ec_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")  # type: ignore[call-overload]
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = server.set(database=name).render_as_string(hide_password=False)  # type: ignore[attr-defined]
    engine = create_engine(url)
    engines = [("plain ALGORITHM=COPY", "copy"), ("ec + pt-online-schema-change", "pt-online-schema-change")]
    if os.environ.get("EC_GHOST_BIN"):
        engines.append(("ec + gh-ost", "gh-ost"))
    notes: list[str] = []
    print(f"{ROWS:,} rows; one writer; ALTER: MODIFY COLUMN n BIGINT NOT NULL")
    print(f"{'method':<30} {'total s':>8} {'writes':>7} {'failed':>6} {'max ms':>8} {'p99 ms':>8} checksums")
    try:
        for label, method in engines:
            with engine.begin() as conn:
                for table in ("items", "reference", "_items_old", "_items_del"):
                    conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
                for table in ("items", "reference"):
                    conn.execute(text(f"CREATE TABLE {table} (id INT PRIMARY KEY, n INT NOT NULL, s VARCHAR(20))"))
                    conn.execute(text(f"INSERT INTO {table} SELECT seq, seq, 'row' FROM seq_1_to_{ROWS}"))
            writer = Writer(url)
            writer.start()
            time.sleep(1.0)
            start = time.monotonic()
            if method == "copy":
                with engine.begin() as conn:
                    conn.execute(text("ALTER TABLE items MODIFY COLUMN n BIGINT NOT NULL, ALGORITHM=COPY"))
            else:
                from expandcontract.config import settings_from_mapping
                from expandcontract.online.api import alter

                result = alter(
                    "items",
                    "MODIFY COLUMN n BIGINT NOT NULL",
                    engine=method,
                    url=url,
                    settings=settings_from_mapping({"online-threshold-rows": 1000}),
                )
                if result.verification:
                    notes.append(f"{label}: {result.verification}")
            total = time.monotonic() - start
            time.sleep(1.0)
            writer.stop.set()
            writer.join()
            with engine.connect() as conn:
                same = checksum(conn, "items") == checksum(conn, "reference")
            lat = sorted(writer.latencies)
            p99 = lat[int(len(lat) * 0.99) - 1] if lat else 0.0
            flag = ""
            if method != "copy":
                flag = "  ok" if lat and lat[-1] < 2.5 and writer.failed == 0 and same else "  MISSES TARGET"
            print(
                f"{label:<30} {total:>8.1f} {len(lat):>7} {writer.failed:>6} {lat[-1] * 1000:>8.0f} "
                f"{p99 * 1000:>8.1f} {'equal' if same else 'DIFFER'}{flag}"
            )
        for note in notes:
            print(note)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


if __name__ == "__main__":
    main()
