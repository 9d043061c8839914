"""Write availability during an expand migration on PostgreSQL: naive `alembic upgrade` vs
the ec runner, in the lock-queue scenario (printed figures, never asserted).

A 1,000,000-row table takes a steady stream of INSERTs (one writer, ~200/s, each its own
transaction) while a long read transaction holds the table (ACCESS SHARE) for 3 s. Then:

  (a) ADD COLUMN                 naive: waits behind the reader, and every writer queues behind it
                                 ec: lock_timeout (the default) + retries, so writers pass in between
  (b) CREATE INDEX               naive: plain build (SHARE lock: writes blocked for the build)
                                 ec: CREATE INDEX CONCURRENTLY in an autocommit block
  (c) ADD FOREIGN KEY            naive: validates every row under SHARE ROW EXCLUSIVE
                                 ec: NOT VALID, then VALIDATE in its own transaction

Targets for ec: zero failed writes in every scenario; the stall of (a) is the lock timeout.

Then a sweep of runner.lock-timeout for (a), with the default retry policy (5 retries, backoff
0.5 s doubling to 10 s), behind a 3 s reader and a 30 s one: the write stall each value costs,
how many retries the migration needed, and whether it got through at all. The default
(runner.lock-timeout) is chosen from this table.
Needs EC_BENCH_POSTGRES_URL (or EC_TEST_POSTGRES_URL), e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test.
All traffic stays on that server; loops are bounded in count and time.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path

ROWS = int(os.environ.get("EC_BENCH_ROWS", "1000000"))
READER_HOLD = 3.0
WRITE_INTERVAL = 0.005
MAX_SECONDS = 60.0

ENV_PY = """
import os
from alembic import context
from sqlalchemy import create_engine
with create_engine(os.environ["BENCH_URL"]).connect() as connection:
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
"""

SCENARIOS = {
    "add column": (
        'op.add_column("events", sa.Column("note", sa.Text()))',
        'op.add_column("events", sa.Column("note", sa.Text()))',
        "ALTER TABLE events DROP COLUMN IF EXISTS note",
    ),
    "create index": (
        'op.create_index("ix_events_user", "events", ["user_id"])',
        "with op.get_context().autocommit_block():\n"
        '    op.create_index("ix_events_user", "events", ["user_id"], postgresql_concurrently=True)',
        "DROP INDEX IF EXISTS ix_events_user",
    ),
    "add foreign key": (
        'op.create_foreign_key("fk_events_user", "events", "users", ["user_id"], ["id"])',
        "from expandcontract import recipes\n"
        'recipes.add_foreign_key("fk_events_user", "events", "users", ["user_id"], ["id"])',
        "ALTER TABLE events DROP CONSTRAINT IF EXISTS fk_events_user",
    ),
}


def project(root: Path, body: str) -> Path:
    versions = root / "versions"
    versions.mkdir(parents=True)
    (root / "env.py").write_text(ENV_PY, encoding="utf-8")
    indented = textwrap.indent(body, "    ")
    (versions / "b1_rev.py").write_text(
        f'import sqlalchemy as sa\nfrom alembic import op\n\nrevision = "b1"\ndown_revision = None\n'
        f'phase = "expand"\n\n\ndef upgrade():\n{indented}\n',
        encoding="utf-8",
    )
    return versions


class Writer(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.latencies: list[float] = []
        self.failures = 0
        self.stop = threading.Event()

    def run(self) -> None:
        import psycopg

        deadline = time.monotonic() + MAX_SECONDS
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set() and time.monotonic() < deadline and len(self.latencies) < 100_000:
                start = time.monotonic()
                try:
                    conn.execute(
                        "INSERT INTO events (user_id, payload) VALUES (%s, 'x')", (1 + len(self.latencies) % 1000,)
                    )
                except Exception:  # noqa: BLE001
                    self.failures += 1
                self.latencies.append(time.monotonic() - start)
                time.sleep(WRITE_INTERVAL)


def reader(url: str, started: threading.Event, hold: float = READER_HOLD) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute("SELECT count(*) FROM events WHERE id < 100").fetchone()
        started.set()
        time.sleep(hold)
        conn.rollback()


def run_scenario(
    url: str,
    sa_url: str,
    name: str,
    body: str,
    reset: str,
    runner: str,
    runner_settings: dict[str, object] | None = None,
    hold: float = READER_HOLD,
) -> dict[str, float]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(reset)
        conn.execute("DROP TABLE IF EXISTS alembic_version")
        conn.execute("DELETE FROM ec_runs") if runner == "ec" and _has(conn, "ec_runs") else None
    with tempfile.TemporaryDirectory(prefix="ec-bench-") as tmp:
        versions = project(Path(tmp), body)
        writer = Writer(url)
        writer.start()
        time.sleep(1.0)  # steady state first
        started = threading.Event()
        holder = threading.Thread(target=reader, args=(url, started, hold), daemon=True)
        holder.start()
        started.wait(10)
        time.sleep(0.3)
        begun = time.monotonic()
        retries, applied = 0.0, 1.0
        if runner == "naive":
            from alembic import command
            from alembic.config import Config

            config = Config()
            config.set_main_option("script_location", tmp)
            config.set_main_option("version_locations", str(versions))
            config.set_main_option("path_separator", "os")
            os.environ["BENCH_URL"] = sa_url
            command.upgrade(config, "head")
        else:
            import expandcontract
            from expandcontract.config import settings_from_mapping
            from expandcontract.errors import MigrationFailed

            # The defaults unless a sweep sets them: the figures the docs quote.
            settings = settings_from_mapping({"runner": runner_settings or {}})
            try:
                retries = float(expandcontract.expand(url=sa_url, project=versions, settings=settings).retries)
            except MigrationFailed as error:
                retries, applied = float(error.attempts - 1), 0.0
        duration = time.monotonic() - begun
        holder.join()
        time.sleep(0.5)
        writer.stop.set()
        writer.join()
    lat = sorted(writer.latencies)
    return {
        "writes": len(lat),
        "failed": writer.failures,
        "max": lat[-1],
        "p99": lat[int(len(lat) * 0.99) - 1],
        "median": statistics.median(lat),
        "migration": duration,
        "retries": retries,
        "applied": applied,
    }


def _has(conn: object, table: str) -> bool:
    return bool(conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0])  # type: ignore[attr-defined]


def main() -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    base = os.environ.get("EC_BENCH_POSTGRES_URL") or os.environ.get("EC_TEST_POSTGRES_URL")
    if not base:
        print("bench_runner: set EC_BENCH_POSTGRES_URL (or EC_TEST_POSTGRES_URL) to a PostgreSQL server; skipped")
        return
    server = make_url(base)
    name = f"ec_bench_{uuid.uuid4().hex[:8]}"
    admin_url = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    sa_url = server.set(database=name).render_as_string(hide_password=False)
    url = server.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE users (id int PRIMARY KEY)")
            conn.execute("INSERT INTO users SELECT generate_series(1, 1000)")
            conn.execute("CREATE TABLE events (id bigserial PRIMARY KEY, user_id int NOT NULL, payload text)")
            t0 = time.monotonic()
            conn.execute(
                f"INSERT INTO events (user_id, payload) SELECT 1 + g % 1000, md5(g::text) "
                f"FROM generate_series(1, {ROWS}) g"
            )
            conn.execute("VACUUM ANALYZE events")
            print(
                f"table events: {ROWS:,} rows loaded in {time.monotonic() - t0:.1f} s; "
                f"reader holds it {READER_HOLD:.0f} s; one writer, ~{1 / WRITE_INTERVAL:.0f} inserts/s"
            )
        print(
            f"{'scenario':<16} {'runner':<6} {'writes':>6} {'failed':>6} {'max ms':>8} {'p99 ms':>8} "
            f"{'median ms':>9} {'migration s':>11}"
        )
        for scenario, (naive, safe, reset) in SCENARIOS.items():
            for runner, body in (("naive", naive), ("ec", safe)):
                r = run_scenario(url, sa_url, scenario, body, reset, runner)
                flag = ""
                if runner == "ec":
                    flag = "  ok" if r["failed"] == 0 else "  MISSES TARGET (0 failed writes)"
                print(
                    f"{scenario:<16} {runner:<6} {r['writes']:>6.0f} {r['failed']:>6.0f} {r['max'] * 1000:>8.0f} "
                    f"{r['p99'] * 1000:>8.1f} {r['median'] * 1000:>9.1f} {r['migration']:>11.2f}{flag}"
                )
        print()
        print("lock-timeout sweep, ADD COLUMN behind a reader, default retry policy:")
        print(f"{'lock-timeout':<13} {'reader s':>8} {'max stall ms':>12} {'failed':>6} {'retries':>7} {'outcome':>10}")
        naive, safe, reset = SCENARIOS["add column"]
        for timeout in ("100ms", "200ms", "500ms", "1s", "2s"):
            for hold in (READER_HOLD, 30.0):
                r = run_scenario(url, sa_url, "add column", safe, reset, "ec", {"lock-timeout": timeout}, hold)
                outcome = "applied" if r["applied"] else "gave up"
                print(
                    f"{timeout:<13} {hold:>8.0f} {r['max'] * 1000:>12.0f} {r['failed']:>6.0f} "
                    f"{r['retries']:>7.0f} {outcome:>10}"
                )
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    sys.exit(main())
