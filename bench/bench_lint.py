"""Performance figures for `ec lint` (printed, never asserted; targets from the issue).

1. Plain SQL: one 10,000-statement migration file; statements/second and wall time, beside
   squawk's wall time on the same file when `squawk` is installed (target: within 5x).
2. Alembic: a generated 500-revision project; cold `ec lint` (target < 3 s) and a repeated run
   with nothing changed (target < 0.5 s, served by the analysis cache).
3. Start-up: `import expandcontract` and `ec --help` (target < 0.3 s).
4. Schema model: what replaying the history costs a cold lint of the 500 revisions (target: at
   most 20% more than with the model switched off), and reading a 1,000-table catalog with
   `--url` (target < 1 s) on PostgreSQL and MariaDB when EC_TEST_POSTGRES_URL / EC_TEST_MYSQL_URL
   point at servers (a scratch database is created and dropped).

Each figure is the best of several runs of a fresh process, so interpreter start-up counts.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STATEMENTS = [
    "ALTER TABLE users ADD COLUMN c{i} text",
    "CREATE INDEX CONCURRENTLY ix_{i} ON orders (user_id, created_at)",
    "ALTER TABLE orders ADD CONSTRAINT fk_{i} FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID",
    "ALTER TABLE orders VALIDATE CONSTRAINT fk_{i}",
    "UPDATE users SET c{i} = 'x' WHERE id BETWEEN {i} AND {i} + 1000",
    "ALTER TABLE users ALTER COLUMN c{i} SET DEFAULT 'y'",
    "ALTER TABLE users DROP COLUMN IF EXISTS old_{i}",
    "CREATE TABLE t_{i} (id bigint PRIMARY KEY, payload jsonb NOT NULL DEFAULT '{{}}')",
    "ALTER TABLE users RENAME COLUMN a_{i} TO b_{i}",
    "SET lock_timeout = '2s'",
]

CLEAN_STATEMENTS = [
    "SET lock_timeout = '2s'",
    "ALTER TABLE users ADD COLUMN c{i} bigint",
    "ALTER TABLE orders VALIDATE CONSTRAINT fk_{i}",
    "CREATE TABLE t_{i} (id bigint PRIMARY KEY)",
]

REVISION = '''"""revision {n}"""
import sqlalchemy as sa
from alembic import op

revision = "r{n:04d}"
down_revision = {down}
phase = "expand"


def upgrade():
    op.add_column("t{table}", sa.Column("c{n}", sa.String(50), nullable=True))
    with op.get_context().autocommit_block():
        op.create_index("ix_{n}", "t{table}", ["c{n}"], postgresql_concurrently=True)
    op.execute("UPDATE t{table} SET c{n} = 'a' WHERE id < 100")
'''


def best_wall(cmd: list[str], runs: int, env: dict[str, str] | None = None, setup=None) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        if setup:
            setup()
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
        times.append(time.perf_counter() - start)
    return min(times), times


def ec_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "expandcontract.cli", *args]


def bench_sql(tmp: Path, runs: int) -> None:
    for label, statements in (("mixed", STATEMENTS), ("mostly clean", CLEAN_STATEMENTS)):
        sql = tmp / f"{label.replace(' ', '_')}.sql"
        with sql.open("w", encoding="utf-8") as handle:
            for i in range(10_000):
                handle.write(statements[i % len(statements)].format(i=i) + ";\n")
        _bench_sql_file(sql, label, runs)


def _bench_sql_file(sql: Path, label: str, runs: int) -> None:
    ec_best, _ = best_wall(ec_cmd("lint", str(sql), "--no-cache", "--exit-zero", "--format", "json"), runs)
    print(f"plain SQL, 10,000 statements ({label}): ec {ec_best:.2f} s wall ({10_000 / ec_best:,.0f} statements/s)")
    squawk = shutil.which("squawk", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if squawk:
        sq_best, _ = best_wall([squawk, str(sql)], runs)
        print(
            f"  squawk {sq_best:.2f} s wall on the same file; ratio ec/squawk = {ec_best / sq_best:.1f}x (target <= 5x)"
        )
    else:
        print("  squawk not installed (pip install squawk-cli) - no ratio")
    from importlib import metadata

    try:
        print(f"  parser: sqlglotc {metadata.version('sqlglotc')} (compiled)")
    except metadata.PackageNotFoundError:
        print("  parser: pure-Python sqlglot (pip install 'expandcontract[fast]' for the compiled one)")


def bench_alembic(tmp: Path, runs: int) -> None:
    versions = tmp / "project" / "versions"
    versions.mkdir(parents=True)
    for n in range(500):
        down = "None" if n == 0 else f'"r{n - 1:04d}"'
        (versions / f"r{n:04d}_rev.py").write_text(REVISION.format(n=n, down=down, table=n % 20), encoding="utf-8")
    cache = tmp / "cache"
    env = {**os.environ, "EC_CACHE_DIR": str(cache)}
    cmd = ec_cmd("lint", str(versions), "--exit-zero", "--format", "json")
    cold, _ = best_wall(cmd, runs, env=env, setup=lambda: shutil.rmtree(cache, ignore_errors=True))
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=False)
    warm, warm_all = best_wall(cmd, runs, env=env)
    print(
        f"Alembic, 500 revisions: cold {cold:.2f} s (target < 3 s); warm {warm:.2f} s "
        f"(median {statistics.median(warm_all):.2f} s, target < 0.5 s)"
    )
    # Recorded on this 2-core CI VM: before the isolated capture 1.7-2.3 s; with one fresh child
    # per revision (and a cache file per entry) 4.4-6.8 s cold, 0.5-0.6 s warm.
    print("  before this change: cold 4.4-6.8 s, warm 0.5-0.6 s (one child per revision, a cache file per entry)")
    # Real histories mix in revisions that import the app (not installed in a lint job): those
    # are read statically, each in a child of its own.
    mixed = tmp / "mixed" / "versions"
    mixed.mkdir(parents=True)
    for n in range(500):
        down = "None" if n == 0 else f'"r{n - 1:04d}"'
        text = REVISION.format(n=n, down=down, table=n % 20)
        if n % 5 == 0:
            text = text.replace("from alembic import op\n", "from alembic import op\nfrom myapp.db import helpers\n")
        (mixed / f"r{n:04d}_rev.py").write_text(text, encoding="utf-8")
    cmd = ec_cmd("lint", str(mixed), "--exit-zero", "--format", "json")
    mixed_cold, _ = best_wall(cmd, runs, env=env, setup=lambda: shutil.rmtree(cache, ignore_errors=True))
    print(f"  with 100 of the 500 importing an app that is not installed (read statically): cold {mixed_cold:.2f} s")
    # The model's share: the same cold lint in-process, with SchemaModel.apply as a no-op.
    code = (
        "import sys, time\n"
        "from expandcontract.schema.model import SchemaModel\n"
        "if sys.argv[1] == 'off': SchemaModel.apply = lambda self, change: None\n"
        "from expandcontract.linter.engine import lint\n"
        "start = time.perf_counter(); lint([sys.argv[2]], use_cache=False); print(time.perf_counter() - start)"
    )
    figures = {}
    for mode in ("off", "on"):
        results = [
            float(
                subprocess.run(
                    [sys.executable, "-c", code, mode, str(versions)], capture_output=True, text=True, check=True
                ).stdout
            )
            for _ in range(runs)
        ]
        figures[mode] = min(results)
    print(
        f"  schema replay: lint {figures['on']:.2f} s with the model, {figures['off']:.2f} s without "
        f"(+{100 * (figures['on'] / figures['off'] - 1):.0f}%, target <= 20%)"
    )


def bench_catalog(runs: int) -> None:
    """--url on a 1,000-table database."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from expandcontract.schema.sources import from_catalog

    for env, quote in (("EC_TEST_POSTGRES_URL", '"'), ("EC_TEST_MYSQL_URL", "`")):
        base = os.environ.get(env)
        if not base:
            print(f"catalog: {env} not set; skipped")
            continue
        server = make_url(base)
        name = f"ec_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {quote}{name}{quote}"))
        url = server.set(database=name).render_as_string(hide_password=False)
        try:
            engine = create_engine(url)
            with engine.begin() as conn:
                for i in range(1000):
                    conn.execute(
                        text(
                            f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, a VARCHAR(50) NOT NULL, b INTEGER, "
                            f"c TEXT, d INTEGER DEFAULT 0)"
                        )
                    )
                    conn.execute(text(f"CREATE INDEX ix_t{i}_b ON t{i} (b)"))
            engine.dispose()
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                model, target = from_catalog(url)
                times.append(time.perf_counter() - start)
            print(
                f"catalog --url, {len(model.tables)} tables on {target.describe()}: {min(times):.2f} s (target < 1 s)"
            )
        finally:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {quote}{name}{quote}"))
            admin.dispose()


def bench_startup(runs: int) -> None:
    imp, _ = best_wall([sys.executable, "-c", "import expandcontract"], runs)
    hlp, _ = best_wall(ec_cmd("--help"), runs)
    base, _ = best_wall([sys.executable, "-c", "pass"], runs)
    print(
        f"start-up: import expandcontract {imp:.3f} s, ec --help {hlp:.3f} s (target < 0.3 s); "
        f"bare interpreter {base:.3f} s"
    )


def main() -> None:
    runs = int(os.environ.get("EC_BENCH_RUNS", "5"))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, best of {runs} runs")
    with tempfile.TemporaryDirectory(prefix="ec-bench-") as tmp:
        bench_startup(runs)
        bench_sql(Path(tmp), runs)
        bench_alembic(Path(tmp), runs)
    bench_catalog(runs)


if __name__ == "__main__":
    main()
