"""Ground truth for every statement kind: what PostgreSQL 15 and MariaDB 10.11 do, measured on a
seeded table (tests/ddl_matrix.py), and what ec's rules claim about the same statement.

Three checks per statement:
1. the server still does what docs/reference/measured.md says (the recorded outcome);
2. every claim ec makes is backed by that outcome (a rule that says "rewrites" or "copies" or
   "breaks the old version" when the server does not is a bug), and
3. every hazard measured is claimed (a rewrite, a scan or a copy under a lock that blocks the old
   version's writes, a v1 statement that fails afterwards).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pymysql
import pytest
from sqlalchemy.engine import URL

from expandcontract.config import settings_from_mapping
from expandcontract.linter.engine import lint
from tests.ddl_matrix import (
    MARIADB_CASES,
    MARIADB_SEED,
    PG_CASES,
    PG_SEED,
    Case,
    measure_mariadb,
    measure_postgres,
)

ROOT = Path(__file__).resolve().parent.parent
MEASURED_PAGE = ROOT / "docs" / "reference" / "measured.md"
SECTION = "## Every statement kind"

ALL = ("insert", "insert all", "update", "select")
WRITES = ("insert", "insert all", "update")


@dataclass(frozen=True)
class Outcome:
    rewrite: bool = False
    scan: bool = False
    lock: str = "-"
    blocked: tuple[str, ...] = ()
    breaks: tuple[str, ...] = ()
    algorithm: str = ""
    error: str = ""


AX = "ACCESS EXCLUSIVE"
SUE = "SHARE UPDATE EXCLUSIVE"

PG_EXPECTED = {
    "add column, nullable": Outcome(lock=AX, blocked=ALL),
    "add column, NOT NULL with constant default": Outcome(lock=AX, blocked=ALL),
    "add column, NOT NULL without default": Outcome(error='column "e" of relation "t" contains null values'),
    "add column, volatile default": Outcome(rewrite=True, scan=True, lock=AX, blocked=ALL),
    "add column, identity": Outcome(rewrite=True, scan=True, lock=AX, blocked=ALL),
    "add column, generated stored": Outcome(rewrite=True, scan=True, lock=AX, blocked=ALL),
    "drop column": Outcome(lock=AX, blocked=ALL, breaks=("insert all", "select")),
    "rename column": Outcome(lock=AX, blocked=ALL, breaks=("insert all", "update", "select")),
    "rename table": Outcome(lock=AX, blocked=ALL, breaks=ALL),
    "type: varchar widened": Outcome(lock=AX, blocked=ALL),
    "type: varchar narrowed": Outcome(rewrite=True, scan=True, lock=AX, blocked=ALL, breaks=("insert all",)),
    "type: integer to bigint": Outcome(rewrite=True, scan=True, lock=AX, blocked=ALL),
    "type: enum to text": Outcome(rewrite=True, scan=True, lock=AX, blocked=ALL),
    "set default": Outcome(lock=AX, blocked=ALL),
    "drop default on a NOT NULL column": Outcome(lock=AX, blocked=ALL, breaks=("insert",)),
    "set not null": Outcome(scan=True, lock=AX, blocked=ALL, breaks=("insert", "insert all")),
    "set not null with a validated CHECK (d IS NOT NULL)": Outcome(
        lock=AX, blocked=ALL, breaks=("insert", "insert all")
    ),
    "drop not null": Outcome(lock=AX, blocked=ALL),
    "set statistics": Outcome(lock=SUE),
    "set storage": Outcome(lock=AX, blocked=ALL),
    "add CHECK": Outcome(scan=True, lock=AX, blocked=ALL),
    "add CHECK NOT VALID": Outcome(lock=AX, blocked=ALL),
    # The add's ACCESS EXCLUSIVE is held through the validation scan.
    "add CHECK NOT VALID and VALIDATE in one transaction": Outcome(scan=True, lock=AX, blocked=ALL),
    "add CHECK that existing rows violate": Outcome(
        error='check constraint "ck" of relation "t" is violated by some row'
    ),
    "validate constraint": Outcome(scan=True, lock=SUE),
    "add FOREIGN KEY": Outcome(scan=True, lock="SHARE ROW EXCLUSIVE", blocked=WRITES),
    "add FOREIGN KEY NOT VALID": Outcome(lock="SHARE ROW EXCLUSIVE", blocked=WRITES),
    "add UNIQUE": Outcome(scan=True, lock=AX, blocked=ALL),
    "add UNIQUE USING INDEX": Outcome(lock=AX, blocked=ALL),
    "drop constraint": Outcome(lock=AX, blocked=ALL),
    "add EXCLUDE": Outcome(scan=True, lock=AX, blocked=ALL),
    "add PRIMARY KEY": Outcome(scan=True, lock=AX, blocked=ALL),
    "add PRIMARY KEY USING INDEX": Outcome(lock=AX, blocked=ALL),
    "create index": Outcome(scan=True, lock="SHARE", blocked=WRITES),
    "create unique index": Outcome(scan=True, lock="SHARE", blocked=WRITES),
    "create partial index": Outcome(scan=True, lock="SHARE", blocked=WRITES),
    "create expression GIN index": Outcome(scan=True, lock="SHARE", blocked=WRITES),
    "create BRIN index": Outcome(scan=True, lock="SHARE", blocked=WRITES),
    "create index concurrently": Outcome(scan=True, lock=SUE),
    "drop index": Outcome(lock=AX, blocked=ALL),
    "drop index concurrently": Outcome(lock=SUE),
    # The SELECT goes through the primary key's index, which REINDEX locks exclusively.
    "reindex table": Outcome(scan=True, lock="SHARE", blocked=ALL),
    "reindex concurrently": Outcome(scan=True, lock=SUE),
    "set fillfactor": Outcome(lock=SUE),
    "set column option n_distinct": Outcome(lock=SUE),
    "set compression": Outcome(lock=AX, blocked=ALL),
    "add identity to a column": Outcome(lock=AX, blocked=ALL),
    "drop identity": Outcome(lock=AX, blocked=ALL),
    "rename constraint": Outcome(lock=AX, blocked=ALL),
    "alter constraint deferrable": Outcome(lock=AX, blocked=ALL),
    "replica identity full": Outcome(lock=AX, blocked=ALL),
    "enable row level security": Outcome(lock=AX, blocked=ALL),
    "cluster on": Outcome(lock=SUE),
    "owner to": Outcome(lock=AX, blocked=ALL),
    "drop expression": Outcome(lock=AX, blocked=ALL),
    "inherit": Outcome(lock=AX, blocked=ALL),
    "set access method (the same)": Outcome(lock=AX, blocked=ALL),
    "set unlogged": Outcome(rewrite=True, scan=True, lock=AX, blocked=ALL),
    "disable trigger": Outcome(lock="SHARE ROW EXCLUSIVE", blocked=WRITES),
    "cluster": Outcome(rewrite=True, scan=True, lock=AX, blocked=ALL),
    "vacuum full": Outcome(rewrite=True, scan=True, lock=AX, blocked=ALL),
    # Row locks: the old version's UPDATE of a touched row waits until commit.
    "update every row": Outcome(scan=True, lock="ROW EXCLUSIVE", blocked=("update",)),
    "truncate": Outcome(rewrite=True, scan=True, lock=AX, blocked=ALL),
    "lock table": Outcome(lock=AX, blocked=ALL),
    "drop table": Outcome(lock=AX, blocked=ALL, breaks=ALL),
    # The enum type is locked, not the table.
    "enum: add value": Outcome(),
    "enum: rename value": Outcome(breaks=("update",)),
}

MARIADB_EXPECTED = {
    "add column, nullable, last": Outcome(algorithm="INSTANT", lock="NONE"),
    "add column, nullable, first": Outcome(algorithm="INSTANT", lock="NONE"),
    "add column, NOT NULL with default": Outcome(algorithm="INSTANT", lock="NONE"),
    "add column, NOT NULL without default": Outcome(algorithm="INSTANT", lock="NONE", breaks=("insert", "insert all")),
    "add column, auto-increment": Outcome(algorithm="INPLACE", lock="SHARED"),
    "add column, expression default": Outcome(algorithm="COPY", lock="SHARED"),
    "add column, virtual generated": Outcome(algorithm="INSTANT", lock="NONE"),
    "add column, stored generated": Outcome(algorithm="COPY", lock="SHARED"),
    "drop column": Outcome(algorithm="INSTANT", lock="NONE", breaks=("insert all", "update", "select")),
    "drop indexed column": Outcome(algorithm="NOCOPY", lock="NONE", breaks=("insert all", "select")),
    "rename column": Outcome(algorithm="INSTANT", lock="NONE", breaks=("insert all", "update", "select")),
    "rename column with CHANGE": Outcome(algorithm="INSTANT", lock="NONE", breaks=("insert all", "update", "select")),
    "rename table": Outcome(breaks=ALL),
    "type: varchar widened (same length bytes)": Outcome(algorithm="INSTANT", lock="NONE"),
    "type: varchar widened past 255 bytes": Outcome(algorithm="INSTANT", lock="NONE"),
    "type: varchar narrowed": Outcome(algorithm="COPY", lock="SHARED", breaks=("insert all",)),
    "type: int to bigint": Outcome(algorithm="COPY", lock="SHARED"),
    "type: enum value appended": Outcome(algorithm="INSTANT", lock="NONE"),
    "type: enum value removed": Outcome(algorithm="COPY", lock="SHARED", breaks=("insert all",)),
    "set default": Outcome(algorithm="INSTANT", lock="NONE"),
    "drop default on a NOT NULL column": Outcome(algorithm="INSTANT", lock="NONE", breaks=("insert",)),
    "set not null": Outcome(algorithm="INPLACE", lock="NONE", breaks=("insert", "insert all")),
    "drop not null": Outcome(algorithm="INPLACE", lock="NONE"),
    "add CHECK": Outcome(algorithm="COPY", lock="SHARED"),
    "add CHECK that existing rows violate": Outcome(error="CONSTRAINT `ck` failed for `t`"),
    "drop CHECK": Outcome(algorithm="INSTANT", lock="NONE"),
    "add FOREIGN KEY": Outcome(algorithm="COPY", lock="SHARED"),
    "add FOREIGN KEY, foreign_key_checks off": Outcome(algorithm="INSTANT", lock="NONE"),
    "drop FOREIGN KEY": Outcome(algorithm="INSTANT", lock="NONE"),
    "add primary key": Outcome(algorithm="INPLACE", lock="NONE"),
    "drop primary key": Outcome(algorithm="COPY", lock="SHARED"),
    "add index": Outcome(algorithm="NOCOPY", lock="NONE"),
    "add prefix index": Outcome(algorithm="NOCOPY", lock="NONE"),
    "add unique index": Outcome(algorithm="NOCOPY", lock="NONE"),
    "add fulltext index": Outcome(algorithm="INPLACE", lock="SHARED"),
    "drop index": Outcome(algorithm="NOCOPY", lock="NONE"),
    "rename index": Outcome(algorithm="INSTANT", lock="NONE"),
    "reorder column": Outcome(algorithm="INSTANT", lock="NONE"),
    "convert character set": Outcome(algorithm="COPY", lock="SHARED"),
    "engine, the same": Outcome(algorithm="INPLACE", lock="NONE"),
    # Accepted as INSTANT only with LOCK=SHARED: the server copies into the other engine, writes wait.
    "engine, another": Outcome(algorithm="INSTANT", lock="SHARED"),
    "row format": Outcome(algorithm="INPLACE", lock="NONE"),
    "force rebuild": Outcome(algorithm="INPLACE", lock="NONE"),
    "auto_increment value": Outcome(algorithm="INSTANT", lock="NONE"),
    "optimize table": Outcome(),
    "truncate": Outcome(),
    "drop table": Outcome(breaks=ALL),
}

#: Contract by design although the v1 statements still run: the rows are gone.
CONTRACT_WITHOUT_BREAK = {"truncate": "TRUNCATE loses the old version's data"}

#: ec's lock rules on PostgreSQL and what each claims.
PG_REWRITE_RULES = {"EC207", "EC208"}
PG_SCAN_RULES = {"EC201", "EC204", "EC205", "EC206", "EC209"}
#: EC210: rewrites (VACUUM FULL, CLUSTER, SET LOGGED/UNLOGGED) or rebuilds every index (REINDEX).
PG_LONG_RULES = PG_REWRITE_RULES | PG_SCAN_RULES | {"EC210"}
PG_BLOCK_RULES = {"EC202", "EC211"}

#: Table locks that conflict with the old version's reads or writes (what EC501 is about).
DML_BLOCKING = {AX, "EXCLUSIVE", "SHARE ROW EXCLUSIVE", "SHARE"}

_PG_MODES = {
    "AccessExclusiveLock": AX,
    "ExclusiveLock": "EXCLUSIVE",
    "RowExclusiveLock": "ROW EXCLUSIVE",
    "ShareUpdateExclusiveLock": SUE,
    "ShareLock": "SHARE",
    "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE",
    "": "-",
}


def _pg_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _mariadb_args(url: URL) -> dict[str, object]:
    return {
        "host": url.host or "127.0.0.1",
        "port": url.port or 3306,
        "user": url.username or "root",
        "password": url.password or "",
        "database": url.database,
    }


def ec_verdict(tmp_path: Path, dialect: str, seed: str, case: Case) -> tuple[str, set[str], list[str]]:
    """ec's phase, rule codes and messages for the statement, the seeded schema known (--schema).
    Session settings of the case are part of the linted migration, as they would be."""
    schema = tmp_path / "schema.sql"
    schema.write_text(f"{seed};\n{case.setup};\n", encoding="utf-8")
    migration = tmp_path / "migration.sql"
    body = f"{case.session};\n{case.sql};\n" if case.session else f"{case.sql};\n"
    migration.write_text(f"BEGIN;\n{body}COMMIT;\n" if case.one_transaction else body, encoding="utf-8")
    settings = settings_from_mapping({"dialect": dialect, "select": ["ALL"]})
    report = lint([migration], settings=settings, schema=schema, use_cache=False)
    phase = report.revisions[0].phase if report.revisions else "empty"
    return phase, {f.code for f in report.findings}, [f"{f.code} {f.message}" for f in report.findings]


@pytest.mark.postgres
@pytest.mark.parametrize("case", PG_CASES, ids=[c.kind for c in PG_CASES])
def test_postgres_statement(postgres_url: URL, tmp_path: Path, case: Case) -> None:
    schema = f"ec_matrix_{uuid.uuid4().hex[:8]}"
    measured = measure_postgres(
        _pg_dsn(postgres_url), schema, case.sql, setup=case.setup, transactional=case.transactional
    )
    got = Outcome(
        rewrite=measured.rewrite,
        scan=measured.scan,
        lock=_PG_MODES.get(measured.lock, measured.lock),
        blocked=measured.blocked,
        breaks=measured.breaks,
        error=measured.error,
    )
    expected = PG_EXPECTED[case.kind]
    assert got == expected, f"{case.kind}: the server did {got}, docs/reference/measured.md says {expected}"

    phase, codes, messages = ec_verdict(tmp_path, "postgresql", PG_SEED, case)
    assert "EC001" not in codes, f"ec does not understand {case.sql}: {messages}"
    if expected.error:
        assert codes - {"EC501", "EC504"}, f"{case.kind} fails on a table with rows; ec says nothing"
        return
    # Contract exactly when the old version's statements fail afterwards.
    contract = phase == "contract"
    assert contract == bool(expected.breaks or case.kind in CONTRACT_WITHOUT_BREAK), (case.kind, phase, messages)
    # Every lock claim is backed, and every table-sized operation under a write-blocking lock claimed.
    long_claims = codes & PG_LONG_RULES
    if codes & PG_REWRITE_RULES:
        assert expected.rewrite, (case.kind, messages)
    if codes & PG_SCAN_RULES:
        assert expected.scan, (case.kind, messages)
    if long_claims:
        assert set(WRITES) <= set(expected.blocked), (case.kind, messages)
    heavy = (expected.rewrite or expected.scan) and set(WRITES) <= set(expected.blocked)
    if heavy and case.kind not in CONTRACT_WITHOUT_BREAK:
        assert long_claims, f"{case.kind}: measured a rewrite/scan that blocks writes; ec claims none: {messages}"
    if codes & PG_BLOCK_RULES:
        assert expected.blocked, (case.kind, messages)
    if "EC212" in codes:
        assert "update" in expected.blocked, (case.kind, messages)
    # The lock-queue claim (EC501) exactly where the statement's table lock makes the old version wait.
    assert ("EC501" in codes) == (expected.lock in DML_BLOCKING), (case.kind, messages)


@pytest.mark.mysql
@pytest.mark.parametrize("case", MARIADB_CASES, ids=[c.kind for c in MARIADB_CASES])
def test_mariadb_statement(mysql_url: URL, tmp_path: Path, case: Case) -> None:
    measured = measure_mariadb(
        _mariadb_args(mysql_url), case.sql, setup=case.setup, session=case.session, alter=case.alter
    )
    got = Outcome(algorithm=measured.algorithm, lock=measured.lock or "-", breaks=measured.breaks, error=measured.error)
    expected = MARIADB_EXPECTED[case.kind]
    expected_got = Outcome(
        algorithm=expected.algorithm,
        lock=expected.lock if expected.algorithm else "-",
        breaks=expected.breaks,
        error=expected.error,
    )
    assert got == expected_got, f"{case.kind}: the server did {got}, docs/reference/measured.md says {expected}"

    phase, codes, messages = ec_verdict(tmp_path, "mariadb", MARIADB_SEED, case)
    assert "EC001" not in codes, f"ec does not understand {case.sql}: {messages}"
    if expected.error:
        assert codes - {"EC501"}, f"{case.kind} fails on a table with rows; ec says nothing"
        return
    contract = phase == "contract"
    assert contract == bool(expected.breaks or case.kind in CONTRACT_WITHOUT_BREAK), (case.kind, phase, messages)
    # EC401 (EC403 for an expression default): a table copy, or a rebuild that blocks writes
    # (LOCK=SHARED) - exactly then.
    blocks_writes = expected.algorithm == "COPY" or expected.lock in ("SHARED", "EXCLUSIVE")
    assert bool(codes & {"EC401", "EC403"}) == blocks_writes, (case.kind, messages)
    # Every statement here waits for the table's metadata lock (see the queue test).
    assert "EC501" in codes, (case.kind, messages)


@pytest.mark.mysql
def test_mariadb_metadata_lock_queue(mysql_url: URL) -> None:
    """The claim behind EC501 on MariaDB: an instant ALTER that waits for the metadata lock (one
    open transaction read the table) makes every later query on the table wait behind it."""
    args = _mariadb_args(mysql_url)
    setup = pymysql.connect(**args, autocommit=True)  # type: ignore[arg-type]
    with setup.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS q")
        cur.execute("CREATE TABLE q (id int PRIMARY KEY, a int) ENGINE=InnoDB")
        cur.execute("INSERT INTO q VALUES (1, 1)")
    holder = pymysql.connect(**args)  # type: ignore[arg-type]
    with holder.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("SELECT * FROM q")
    alter = pymysql.connect(**args, autocommit=True)  # type: ignore[arg-type]
    thread = threading.Thread(
        target=lambda: alter.cursor().execute("ALTER TABLE q ADD COLUMN b int, ALGORITHM=INSTANT")
    )
    thread.start()
    time.sleep(0.3)
    reader = pymysql.connect(**args, autocommit=True)  # type: ignore[arg-type]
    with reader.cursor() as cur:
        cur.execute("SET SESSION lock_wait_timeout = 1")
        with pytest.raises(pymysql.err.OperationalError) as waited:
            cur.execute("SELECT * FROM q")
    assert waited.value.args[0] == 1205  # lock wait timeout: the reader queued behind the ALTER
    # lock_wait_timeout bounds the ALTER's own wait the same way.
    bounded = pymysql.connect(**args, autocommit=True)  # type: ignore[arg-type]
    with bounded.cursor() as cur:
        cur.execute("SET SESSION lock_wait_timeout = 1")
        started = time.monotonic()
        with pytest.raises(pymysql.err.OperationalError) as gave_up:
            cur.execute("ALTER TABLE q ADD COLUMN c int, ALGORITHM=INSTANT")
        waited_for = time.monotonic() - started
    bounded.close()
    assert gave_up.value.args[0] == 1205 and 0.9 <= waited_for < 10, waited_for
    holder.rollback()
    thread.join(10)
    for conn in (holder, alter, reader, setup):
        conn.close()


@pytest.mark.mysql
def test_mariadb_sql_mode_decides_what_old_inserts_do(mysql_url: URL) -> None:
    """The claim behind EC107/EC111's MySQL messages: an INSERT that leaves out a NOT NULL column
    without default fails under a strict sql_mode, and silently stores the implicit default
    (0 here) under a non-strict one."""
    args = _mariadb_args(mysql_url)
    outcomes = {}
    for mode in ("STRICT_TRANS_TABLES", ""):
        conn = pymysql.connect(**args, autocommit=True)  # type: ignore[arg-type]
        with conn.cursor() as cur:
            cur.execute("SET SESSION sql_mode = %s", (mode,))
            cur.execute("DROP TABLE IF EXISTS s")
            cur.execute("CREATE TABLE s (id int PRIMARY KEY, f int NOT NULL DEFAULT 7) ENGINE=InnoDB")
            cur.execute("INSERT INTO s VALUES (1, 1)")
            cur.execute("ALTER TABLE s ADD COLUMN e int NOT NULL, ALTER COLUMN f DROP DEFAULT")
            try:
                cur.execute("INSERT INTO s (id) VALUES (2)")
                cur.execute("SELECT e, f FROM s WHERE id = 2")
                outcomes[mode or "not strict"] = cur.fetchone()
            except pymysql.err.OperationalError as error:
                outcomes[mode or "not strict"] = error.args[0]
        conn.close()
    assert outcomes == {"STRICT_TRANS_TABLES": 1364, "not strict": (0, 0)}  # 1364: no default value


@pytest.mark.mysql
def test_mariadb_optimize_rebuilds_with_writes_going_on(mysql_url: URL) -> None:
    """OPTIMIZE TABLE on InnoDB: the server says it recreates the table (ALTER TABLE ... FORCE),
    and an INSERT from another session goes through while it runs; the same rebuild forced to
    ALGORITHM=COPY makes the INSERT wait (lock_wait_timeout)."""
    args = _mariadb_args(mysql_url)
    conn = pymysql.connect(**args, autocommit=True)  # type: ignore[arg-type]
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS big")
        cur.execute("CREATE TABLE big (id int PRIMARY KEY, a int, b varchar(100)) ENGINE=InnoDB")
        cur.execute("INSERT INTO big SELECT seq, seq, repeat('x', 100) FROM seq_1_to_400000")
    outcomes = {}
    for name, statement in (("optimize", "OPTIMIZE TABLE big"), ("copy", "ALTER TABLE big FORCE, ALGORITHM=COPY")):
        ran: list[object] = []
        rebuild = pymysql.connect(**args, autocommit=True)  # type: ignore[arg-type]

        def run(
            rebuild: pymysql.connections.Connection = rebuild, statement: str = statement, ran: list[object] = ran
        ) -> None:
            with rebuild.cursor() as cur:
                cur.execute(statement)
                ran.extend(cur.fetchall())

        thread = threading.Thread(target=run)
        writer = pymysql.connect(**args, autocommit=True)  # type: ignore[arg-type]
        with writer.cursor() as cur:
            cur.execute("SET SESSION lock_wait_timeout = 1")
            thread.start()
            # Once the rebuild is under way, insert until it ends (bounded): one INSERT that
            # completes while the rebuild still runs proves writes go on.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and thread.is_alive():
                cur.execute(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE %s "
                    "AND STATE IN ('copy to tmp table', 'altering table')",
                    ("%big%",),
                )
                if cur.fetchone()[0]:  # type: ignore[index]
                    break
            outcomes[name] = "rebuild too quick to tell"
            for n in range(200):
                if not thread.is_alive():
                    break
                try:
                    cur.execute("INSERT INTO big VALUES (%s, 1, 'y')", (10_000_000 + 1000 * len(outcomes) + n,))
                except pymysql.err.OperationalError as error:
                    outcomes[name] = f"insert waited ({error.args[0]})"
                    break
                if thread.is_alive():
                    outcomes[name] = "insert ran"
                    break
        thread.join(60)
        if name == "optimize":
            assert any("recreate" in str(row) for row in ran), ran
        for each in (writer, rebuild):
            each.close()
    conn.close()
    assert outcomes == {"optimize": "insert ran", "copy": "insert waited (1205)"}


@pytest.mark.postgres
def test_postgres_set_tablespace_rewrites(postgres_url: URL, tmp_path: Path) -> None:
    """SET TABLESPACE to another tablespace copies the table's files (a new relfilenode) under
    ACCESS EXCLUSIVE: the claim EC210 makes."""
    import os
    import pwd
    import shutil
    import tempfile

    dsn = _pg_dsn(postgres_url)
    # A folder of our own the server can reach (pytest's tmp_path is private to root): the
    # tablespace lives there, owned by the server's user, and goes with the test.
    try:
        server = pwd.getpwnam("postgres")
    except KeyError:
        server = None
    if server is None or postgres_url.host not in ("127.0.0.1", "localhost", None) or os.geteuid() != 0:
        pytest.skip("a tablespace needs a folder on the server's machine that ec can hand to its user")
    location = tempfile.mkdtemp(prefix="ec-tablespace-")
    os.chown(location, server.pw_uid, server.pw_gid)
    name = f"ec_ts_{uuid.uuid4().hex[:8]}"
    _pg_table_q(dsn, 20_000)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLESPACE {name} LOCATION '{location}'")
        try:
            before = conn.execute("SELECT relfilenode FROM pg_class WHERE relname = 'q'").fetchone()
            conn.execute("BEGIN")
            conn.execute(f"ALTER TABLE q SET TABLESPACE {name}")
            mode = conn.execute(
                "SELECT mode FROM pg_locks WHERE pid = pg_backend_pid() AND relation = 'q'::regclass"
            ).fetchall()
            conn.execute("COMMIT")
            after = conn.execute("SELECT relfilenode FROM pg_class WHERE relname = 'q'").fetchone()
            assert before != after and ("AccessExclusiveLock",) in mode
        finally:
            conn.execute("DROP TABLE IF EXISTS q")
            conn.execute(f"DROP TABLESPACE IF EXISTS {name}")
            shutil.rmtree(location, ignore_errors=True)
    migration = tmp_path / "m.sql"
    migration.write_text(f"ALTER TABLE q SET TABLESPACE {name};\n", encoding="utf-8")
    report = lint([migration], settings=settings_from_mapping({"dialect": "postgresql"}), use_cache=False)
    assert {f.code for f in report.findings} >= {"EC210"}


@pytest.mark.postgres
def test_postgres_partitions(postgres_url: URL, tmp_path: Path) -> None:
    """ATTACH PARTITION takes SHARE UPDATE EXCLUSIVE on the parent (its reads and writes go on)
    and ACCESS EXCLUSIVE on the table it attaches, which it reads whole; DETACH PARTITION takes
    ACCESS EXCLUSIVE on the parent; DETACH ... CONCURRENTLY cannot run in a transaction block."""
    dsn = _pg_dsn(postgres_url)
    with psycopg.connect(dsn, autocommit=True) as setup:
        setup.execute("DROP TABLE IF EXISTS pt, pt2 CASCADE")
        setup.execute("CREATE TABLE pt (id bigint NOT NULL, a int) PARTITION BY RANGE (id)")
        setup.execute("CREATE TABLE pt1 PARTITION OF pt FOR VALUES FROM (1) TO (100001)")
        setup.execute("INSERT INTO pt SELECT g, g FROM generate_series(1, 20000) g")
        setup.execute("CREATE TABLE pt2 (LIKE pt)")
        setup.execute("INSERT INTO pt2 SELECT g, g FROM generate_series(100001, 120000) g")
    ddl = psycopg.connect(dsn, autocommit=True)
    other = psycopg.connect(dsn, autocommit=True)
    other.execute("SET lock_timeout = '100ms'")

    def held(table: str) -> set[str]:
        rows = ddl.execute(
            "SELECT mode FROM pg_locks WHERE pid = pg_backend_pid() AND relation = %s::regclass", [table]
        ).fetchall()
        return {row[0] for row in rows}

    def parent_waits() -> bool:
        try:
            other.execute("SELECT count(*) FROM pt WHERE id = 5")
            return False
        except psycopg.errors.LockNotAvailable:
            return True

    ddl.execute("BEGIN")
    scans = ddl.execute("SELECT pg_stat_get_numscans('pt2'::regclass) + pg_stat_get_xact_numscans('pt2'::regclass)")
    before = scans.fetchone()[0]  # type: ignore[index]
    ddl.execute("ALTER TABLE pt ATTACH PARTITION pt2 FOR VALUES FROM (100001) TO (200001)")
    after = ddl.execute("SELECT pg_stat_get_xact_numscans('pt2'::regclass)").fetchone()[0]  # type: ignore[index]
    attach = (held("pt"), "AccessExclusiveLock" in held("pt2"), parent_waits())
    ddl.execute("COMMIT")
    ddl.execute("BEGIN")
    ddl.execute("ALTER TABLE pt DETACH PARTITION pt2")
    detach = (held("pt"), parent_waits())
    ddl.execute("ROLLBACK")
    ddl.execute("BEGIN")
    with pytest.raises(psycopg.errors.ActiveSqlTransaction):
        ddl.execute("ALTER TABLE pt DETACH PARTITION pt2 CONCURRENTLY")
    ddl.execute("ROLLBACK")
    ddl.execute("DROP TABLE IF EXISTS pt, pt2 CASCADE")
    ddl.close()
    other.close()
    assert attach == ({"ShareUpdateExclusiveLock"}, True, False) and after > 0 and before >= 0
    assert detach == ({"AccessExclusiveLock"}, True)
    # ec: attaching is no lock-queue hazard for the parent, detaching is; CONCURRENTLY in a
    # transaction is refused by the server, and by the lint.
    verdicts = {}
    for name, sql in (
        ("attach", "ALTER TABLE pt ATTACH PARTITION pt2 FOR VALUES FROM (100001) TO (200001);"),
        ("detach", "ALTER TABLE pt DETACH PARTITION pt2;"),
        ("detach concurrently in a transaction", "BEGIN;\nALTER TABLE pt DETACH PARTITION pt2 CONCURRENTLY;\nCOMMIT;"),
    ):
        migration = tmp_path / f"{name.replace(' ', '_')}.sql"
        migration.write_text(sql + "\n", encoding="utf-8")
        settings = settings_from_mapping({"dialect": "postgresql", "select": ["ALL"]})
        verdicts[name] = sorted({f.code for f in lint([migration], settings=settings, use_cache=False).findings})
    assert verdicts == {
        "attach": [],
        "detach": ["EC501", "EC504"],
        "detach concurrently in a transaction": ["EC203"],
    }


def _pg_table_q(dsn: str, rows: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as setup:
        setup.execute("DROP TABLE IF EXISTS q")
        setup.execute("CREATE TABLE q (id int PRIMARY KEY, a int)")
        setup.execute(f"INSERT INTO q SELECT g, g FROM generate_series(1, {rows}) g")


@pytest.mark.postgres
def test_postgres_lock_queue(postgres_url: URL) -> None:
    """The claim behind EC501 on PostgreSQL: an ALTER waiting for ACCESS EXCLUSIVE (one open
    transaction read the table) makes every later query on the table wait behind it."""
    dsn = _pg_dsn(postgres_url)
    _pg_table_q(dsn, 1)
    holder = psycopg.connect(dsn)
    holder.execute("SELECT * FROM q")
    alter = psycopg.connect(dsn, autocommit=True)
    thread = threading.Thread(target=lambda: alter.execute("ALTER TABLE q ADD COLUMN b int"))
    thread.start()
    time.sleep(0.3)
    with psycopg.connect(dsn, autocommit=True) as reader:
        reader.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            reader.execute("SELECT * FROM q")
    holder.rollback()
    thread.join(10)
    holder.close()
    alter.close()


@pytest.mark.postgres
def test_postgres_session_timeouts(postgres_url: URL) -> None:
    """SET lock_timeout makes a queued ALTER give up (and the queue behind it move on); SET
    statement_timeout cancels a rewrite that runs longer than it."""
    dsn = _pg_dsn(postgres_url)
    _pg_table_q(dsn, 200_000)
    holder = psycopg.connect(dsn)
    holder.execute("SELECT * FROM q WHERE id = 1")
    with psycopg.connect(dsn, autocommit=True) as alter:
        alter.execute("SET lock_timeout = '300ms'")
        started = time.monotonic()
        with pytest.raises(psycopg.errors.LockNotAvailable):
            alter.execute("ALTER TABLE q ADD COLUMN b int")
        assert 0.25 <= time.monotonic() - started < 5
        # Nothing queues behind it any more: a reader gets through at once.
        with psycopg.connect(dsn, autocommit=True) as reader:
            reader.execute("SET lock_timeout = '200ms'")
            assert reader.execute("SELECT count(*) FROM q WHERE id = 2").fetchone() == (1,)
    holder.rollback()
    holder.close()
    with psycopg.connect(dsn, autocommit=True) as rewrite:
        rewrite.execute("SET statement_timeout = '5ms'")
        with pytest.raises(psycopg.errors.QueryCanceled):
            rewrite.execute("ALTER TABLE q ALTER COLUMN a TYPE bigint")
        rewrite.execute("RESET statement_timeout")
        # Canceled means rolled back: the column kept its type.
        row = rewrite.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'q'::regclass AND attname = 'a'"
        ).fetchone()
        assert row == ("integer",)


def test_the_measured_page_lists_every_statement() -> None:
    """docs/reference/measured.md carries the outcome of every statement measured here
    (rewrite it with ``python -m tests.test_ddl_matrix``)."""
    page = MEASURED_PAGE.read_text(encoding="utf-8")
    assert SECTION in page and page[page.index(SECTION) :] == measured_section(), "run python -m tests.test_ddl_matrix"


def measured_section() -> str:
    from tests.ddl_matrix import ROWS, V1

    v1 = "\n".join(f"- {name}: `{sql.format(id='N')}`" for name, sql in V1.items())
    pg_rows = "\n".join(pg_row(case, PG_EXPECTED[case.kind]) for case in PG_CASES)
    mariadb_rows = "\n".join(mariadb_row(case, MARIADB_EXPECTED[case.kind]) for case in MARIADB_CASES)
    return f"""{SECTION}

`tests/test_ddl_matrix.py` runs each statement below on a seeded table `t` ({ROWS:,} rows;
`t(id bigint PK, a int NOT NULL, b text, c varchar(20), d int, f int NOT NULL DEFAULT 0, m enum('a','b'))`,
an index on `d`, a table `p` that `d` can reference) and records what the server did and what the old
application version ("v1") can still do. The v1 statements use values valid before the change, at the edge
of each type:

{v1}

Then it lints the same statement with ec (the seeded schema passed with `--schema`) and checks both ways:
every claim a rule makes is backed by a row here (a rewrite, a scan, a copy, a lock the old version waits
for, a v1 statement that fails afterwards), and every hazard measured here is claimed. "Contract" is
exactly "a v1 statement fails afterwards" (TRUNCATE is contract because the rows are gone).

### PostgreSQL 15

"Rewrites": the table's relfilenode changed. "Reads every row": sequential scans of the table counted in
the statement's transaction. "Lock": the strongest lock the statement holds on the table (statements that
cannot run in a transaction - CONCURRENTLY, VACUUM - are observed while an open write transaction holds
them in their wait phase). "Waits": the v1 statements another session could not run (100 ms
`lock_timeout`) while the lock was held; "all" is every one of them, "writes" the INSERTs and the UPDATE.
"Fails after": the v1 statements that fail once the change is committed.

| kind | statement | rewrites | reads every row | lock | v1 waits | v1 fails after |
|---|---|---|---|---|---|---|
{pg_rows}

A statement waiting for its lock also makes every later statement that conflicts with that lock wait
behind it (measured: `test_postgres_lock_queue`, an `ALTER TABLE` queued behind one open transaction that
read the table blocks a plain `SELECT`) - the claim behind [EC501](../rules/EC501-missing-lock-timeout.md).
`SET TABLESPACE` to another tablespace rewrites the table under ACCESS EXCLUSIVE (measured:
`test_postgres_set_tablespace_rewrites`). Partitions (measured: `test_postgres_partitions`): `ATTACH PARTITION`
takes SHARE UPDATE EXCLUSIVE on the parent - its reads and writes go on - and ACCESS EXCLUSIVE on the table it
attaches, which it reads whole; `DETACH PARTITION` takes ACCESS EXCLUSIVE on the parent; `DETACH ...
CONCURRENTLY` cannot run in a transaction block.
`SET lock_timeout` bounds that wait (the ALTER gives up with `lock_not_available` after the timeout and
the queue behind it moves), and `SET statement_timeout` cancels a rewrite that runs longer (measured:
`test_postgres_session_timeouts`).

### MariaDB 10.11

"ALGORITHM" and "LOCK": the cheapest algorithm (INSTANT, NOCOPY, INPLACE, COPY) and the weakest lock
(NONE, SHARED, EXCLUSIVE) the server accepts for the statement on the seeded table; COPY, or LOCK=SHARED,
blocks writes for the whole operation. Statements that take no such clause show "-".

| kind | statement | ALGORITHM | LOCK | v1 fails after |
|---|---|---|---|---|
{mariadb_rows}

Every ALTER, RENAME, DROP and TRUNCATE waits for the table's metadata lock, and an ALTER waiting for it
blocks every later query on the table (measured: `test_mariadb_metadata_lock_queue`, an instant
`ADD COLUMN` queued behind one open transaction blocks a `SELECT`); `SET lock_wait_timeout` bounds that
wait (measured: the ALTER gives up with error 1205 after it).
`OPTIMIZE TABLE` on InnoDB is carried out as `ALTER TABLE ... FORCE` (the server says "doing recreate +
analyze instead"), and an INSERT from another session goes through while it runs, where the same rebuild
forced to `ALGORITHM=COPY` makes it wait (measured: `test_mariadb_optimize_rebuilds_with_writes_going_on`).
`SET foreign_key_checks = 0` before `ADD FOREIGN KEY` makes it instant (row above). The v1 statements run
with a strict `sql_mode` (MariaDB's default); under a non-strict one an INSERT that leaves out a NOT NULL
column without default does not fail but silently stores the implicit default (measured:
`test_mariadb_sql_mode_decides_what_old_inserts_do`), which EC107 and EC111 say when `--url` shows it.
`ENGINE=Aria` on an InnoDB table is accepted with `ALGORITHM=INSTANT` only together with `LOCK=SHARED`:
the rows are copied into the other engine while writes wait.
"""


def _who(statements: tuple[str, ...]) -> str:
    if not statements:
        return "-"
    if statements == ALL:
        return "all"
    if statements == WRITES:
        return "writes"
    return ", ".join(statements)


def pg_row(case: Case, outcome: Outcome) -> str:
    if outcome.error:
        return f"| {case.kind} | `{case.sql}` | fails on a table with rows: {outcome.error} | | | | |"
    return (
        f"| {case.kind} | `{case.sql}` | {'yes' if outcome.rewrite else 'no'} | {'yes' if outcome.scan else 'no'} | "
        f"{outcome.lock} | {_who(outcome.blocked)} | {_who(outcome.breaks)} |"
    )


def mariadb_row(case: Case, outcome: Outcome) -> str:
    if outcome.error:
        return f"| {case.kind} | `{case.sql}` | fails on a table with rows: {outcome.error} | | |"
    algorithm, lock = (outcome.algorithm, outcome.lock) if outcome.algorithm else ("-", "-")
    return f"| {case.kind} | `{case.sql}` | {algorithm} | {lock} | {_who(outcome.breaks)} |"


if __name__ == "__main__":
    text = MEASURED_PAGE.read_text(encoding="utf-8")
    head = text[: text.index(SECTION)] if SECTION in text else text.rstrip("\n") + "\n\n"
    MEASURED_PAGE.write_text(head + measured_section(), encoding="utf-8")
    print(f"wrote {MEASURED_PAGE}")
