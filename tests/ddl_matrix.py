"""Measuring what one DDL statement does on a real server (tests/test_ddl_matrix.py).

Each statement runs against the same seeded table ``t`` (the "v1" schema):

    t(id bigint PK, a int NOT NULL, b text, c varchar(20), d int, f int NOT NULL DEFAULT 0,
      m enum('a','b'))  with ROWS rows;  p(id PK) referenced by t.d;  index t_d on t(d)

and we record what the server did and what the old application version (v1) can still do:

- PostgreSQL: whether the table was rewritten (its relfilenode changed), whether it was read
  whole (sequential scans counted in the DDL's transaction), the strongest lock the DDL holds on
  ``t``, which v1 statements another session can run meanwhile (tried with a short
  lock_timeout while the DDL's transaction is open), and which v1 statements fail afterwards.
- MariaDB: the cheapest ALGORITHM the server accepts (INSTANT, NOCOPY, INPLACE, COPY), the
  weakest LOCK (NONE, SHARED, EXCLUSIVE), and which v1 statements fail afterwards.

Statements that cannot run in a transaction (``CONCURRENTLY``) are observed from outside while
an open write transaction holds them in their wait phase.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import pymysql

ROWS = 20_000

#: What the old version runs, with values valid before any change (edge of every type).
V1 = {
    "insert": "INSERT INTO t (id, a) VALUES ({id}, 1)",
    "insert all": "INSERT INTO t (id, a, b, c, d, f, m) VALUES ({id}, 2, 'b', '12345678901234567890', NULL, 0, 'b')",
    "update": "UPDATE t SET b = 'x', c = 'y', m = 'a' WHERE id = 1",
    "select": "SELECT id, a, b, c, d, f, m FROM t WHERE id = 2",
}

PG_SEED = f"""
CREATE TYPE mood AS ENUM ('a', 'b');
CREATE TABLE p (id bigint PRIMARY KEY);
INSERT INTO p SELECT g FROM generate_series(1, {ROWS}) g;
CREATE TABLE t (id bigint PRIMARY KEY, a integer NOT NULL, b text, c varchar(20), d integer,
                f integer NOT NULL DEFAULT 0, m mood);
INSERT INTO t (id, a, b, c, d, m) SELECT g, g, 'b', 'c', g, 'a' FROM generate_series(1, {ROWS}) g;
CREATE INDEX t_d ON t (d);
ANALYZE t;
"""

MARIADB_SEED = f"""
CREATE TABLE p (id int PRIMARY KEY) ENGINE=InnoDB;
INSERT INTO p SELECT seq FROM seq_1_to_{ROWS};
CREATE TABLE t (id bigint PRIMARY KEY, a int NOT NULL, b text, c varchar(20), d int,
                f int NOT NULL DEFAULT 0, m enum('a','b'), KEY t_d (d))
    ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO t (id, a, b, c, d, m) SELECT seq, seq, 'b', 'c', seq, 'a' FROM seq_1_to_{ROWS};
"""

_PG_MODES = [
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
]


@dataclass
class Measured:
    #: PostgreSQL: rewrite / scan / strongest lock; MariaDB: algorithm / lock.
    rewrite: bool = False
    scan: bool = False
    lock: str = ""
    algorithm: str = ""
    #: v1 statements another session could not run while the DDL held its lock (PostgreSQL).
    blocked: tuple[str, ...] = ()
    #: v1 statements that fail once the change is committed.
    breaks: tuple[str, ...] = ()
    #: The statement itself failed on the seeded table (its error), if it did.
    error: str = ""


def _pg_connect(dsn: str, schema: str) -> psycopg.Connection:
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute(f"SET search_path TO {schema}")
    return conn


def _v1_breaks(run: Callable[[str], None]) -> tuple[str, ...]:
    failed = []
    for n, (name, sql) in enumerate(V1.items()):
        try:
            run(sql.format(id=10_000_000 + n))
        except Exception:  # noqa: BLE001 - any refusal is a break
            failed.append(name)
    return tuple(failed)


def measure_postgres(dsn: str, schema: str, statement: str, *, setup: str = "", transactional: bool = True) -> Measured:
    """Seed ``schema`` afresh, run ``statement`` and measure it (see the module docstring)."""
    admin = psycopg.connect(dsn, autocommit=True)
    admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    admin.execute(f"CREATE SCHEMA {schema}")
    admin.close()
    ddl = _pg_connect(dsn, schema)
    other = _pg_connect(dsn, schema)
    try:
        ddl.execute(PG_SEED)
        for part in filter(None, (s.strip() for s in setup.split(";"))):
            ddl.execute(part)
        oid, before = ddl.execute("SELECT oid, relfilenode FROM pg_class WHERE oid = 't'::regclass").fetchone()  # type: ignore[misc]
        out = Measured()
        if transactional:
            _pg_in_transaction(ddl, other, statement, out, oid)
        else:
            _pg_outside_transaction(dsn, schema, ddl, other, statement, out, oid)
        if out.error:
            return out
        after = ddl.execute("SELECT relfilenode FROM pg_class WHERE oid = %s", [oid]).fetchone()
        out.rewrite = after is not None and before != after[0]

        def run(sql: str) -> None:
            with other.transaction():
                other.execute(sql)

        out.breaks = _v1_breaks(run)
        return out
    finally:
        ddl.close()
        other.close()
        admin = psycopg.connect(dsn, autocommit=True)
        admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.close()


def _pg_scans(conn: psycopg.Connection, oid: int) -> int:
    """Sequential scans of the table so far: flushed to the shared statistics, plus this
    backend's pending ones (a flush moves counts from one to the other; the sum holds)."""
    conn.execute("SELECT pg_stat_clear_snapshot()")
    row = conn.execute("SELECT pg_stat_get_numscans(%s) + pg_stat_get_xact_numscans(%s)", [oid, oid]).fetchone()
    return int(row[0]) if row else 0


def _pg_in_transaction(
    ddl: psycopg.Connection, other: psycopg.Connection, statement: str, out: Measured, oid: int
) -> None:
    scans_before = _pg_scans(ddl, oid)
    ddl.execute("BEGIN")
    try:
        ddl.execute(statement)
    except Exception as error:  # noqa: BLE001
        ddl.execute("ROLLBACK")
        out.error = str(error).splitlines()[0]
        return
    out.scan = _pg_scans(ddl, oid) > scans_before
    modes = ddl.execute("SELECT mode FROM pg_locks WHERE pid = pg_backend_pid() AND relation = %s", [oid]).fetchall()
    out.lock = max((m[0] for m in modes), key=_PG_MODES.index, default="")
    out.blocked = _pg_blocked(other)
    ddl.execute("COMMIT")


def _pg_blocked(other: psycopg.Connection) -> tuple[str, ...]:
    """Which v1 statements wait on the DDL's lock (each tried with a 100 ms lock_timeout)."""
    blocked = []
    other.execute("SET lock_timeout = '100ms'")
    for n, (name, sql) in enumerate(V1.items()):
        try:
            other.execute("BEGIN")
            other.execute(sql.format(id=20_000_000 + n))
        except psycopg.errors.LockNotAvailable:
            blocked.append(name)
        except Exception:  # noqa: BLE001 - an error other than waiting is not blocking
            pass
        finally:
            other.execute("ROLLBACK")
    other.execute("RESET lock_timeout")
    return tuple(blocked)


def _pg_outside_transaction(
    dsn: str, schema: str, ddl: psycopg.Connection, other: psycopg.Connection, statement: str, out: Measured, oid: int
) -> None:
    """CONCURRENTLY: an open write transaction keeps the statement in its wait phase, where we
    look at the locks it holds and at what v1 can do meanwhile."""
    holder = _pg_connect(dsn, schema)
    holder.execute("BEGIN")
    holder.execute("INSERT INTO t (id, a) VALUES (30000000, 1)")
    pid = ddl.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
    scans_before = _pg_scans(ddl, oid)
    errors: list[str] = []

    def run() -> None:
        try:
            ddl.execute(statement)
        except Exception as error:  # noqa: BLE001
            errors.append(str(error).splitlines()[0])

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 10
    modes: list[str] = []
    while time.monotonic() < deadline and thread.is_alive():
        waiting = other.execute("SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted", [pid]).fetchone()
        if waiting:
            # What it holds on t, or waits for (a VACUUM FULL queues for ACCESS EXCLUSIVE).
            modes = [
                m[0]
                for m in other.execute(
                    "SELECT mode FROM pg_locks WHERE pid = %s AND relation = %s", [pid, oid]
                ).fetchall()
            ]
            out.blocked = _pg_blocked(other)
            break
        time.sleep(0.01)
    holder.execute("ROLLBACK")
    holder.close()
    thread.join(30)
    if errors:
        out.error = errors[0]
        return
    out.lock = max(modes, key=_PG_MODES.index, default="")
    out.scan = _pg_scans(ddl, oid) > scans_before


_ALGORITHMS = ("INSTANT", "NOCOPY", "INPLACE", "COPY")
_LOCKS = ("NONE", "SHARED", "EXCLUSIVE")


def measure_mariadb(
    conn_args: dict[str, object], statement: str, *, setup: str = "", session: str = "", alter: bool = True
) -> Measured:
    """``statement`` is an ALTER TABLE (``alter``: ALGORITHM/LOCK are tried, cheapest first) or
    any other statement (run as it is)."""
    out = Measured()
    for algorithm in _ALGORITHMS if alter else ("",):
        for lock in _LOCKS if alter else ("",):
            conn = _mariadb_seeded(conn_args, setup)
            try:
                clause = f", ALGORITHM={algorithm}, LOCK={lock}" if alter else ""
                if session:
                    with conn.cursor() as cur:
                        cur.execute(session)
                try:
                    with conn.cursor() as cur:
                        cur.execute(statement + clause)
                except pymysql.MySQLError as error:
                    code = error.args[0] if error.args else 0
                    # 1845/1846: this ALGORITHM or LOCK is not supported for the operation.
                    if alter and code in (1845, 1846):
                        continue
                    message = str(error.args[1] if len(error.args) > 1 else error)
                    out.error = re.sub(r"`[^`]+`\.`", "`", message)  # without the (per-test) database
                    return out
                out.algorithm, out.lock = algorithm, lock

                def run(sql: str, conn: pymysql.connections.Connection = conn) -> None:
                    with conn.cursor() as cur:
                        cur.execute(sql)

                out.breaks = _v1_breaks(run)
                return out
            finally:
                conn.close()
    out.error = "no ALGORITHM/LOCK combination was accepted"
    return out


def _mariadb_seeded(conn_args: dict[str, object], setup: str) -> pymysql.connections.Connection:
    conn = pymysql.connect(**conn_args, autocommit=True)  # type: ignore[arg-type]
    with conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'")
        cur.execute("SET FOREIGN_KEY_CHECKS = 0")
        cur.execute("DROP TABLE IF EXISTS t, t2, p")
        cur.execute("SET FOREIGN_KEY_CHECKS = 1")
        for part in filter(None, (s.strip() for s in (MARIADB_SEED + ";" + setup).split(";"))):
            cur.execute(part)
    return conn


@dataclass(frozen=True)
class Case:
    """One statement kind: what it is, the statement on the seeded table, and setup it needs."""

    kind: str
    sql: str
    setup: str = ""
    #: PostgreSQL: False for statements that cannot run in a transaction block.
    transactional: bool = True
    #: MariaDB: try ALGORITHM/LOCK clauses (an ALTER TABLE).
    alter: bool = True
    #: Session settings run just before the statement (and linted with it, as a migration would).
    session: str = ""
    #: Linted between BEGIN and COMMIT: the statements ran in one transaction (PostgreSQL).
    one_transaction: bool = False


PG_CASES = [
    Case("add column, nullable", "ALTER TABLE t ADD COLUMN e integer"),
    Case("add column, NOT NULL with constant default", "ALTER TABLE t ADD COLUMN e integer NOT NULL DEFAULT 0"),
    Case("add column, NOT NULL without default", "ALTER TABLE t ADD COLUMN e integer NOT NULL"),
    Case("add column, volatile default", "ALTER TABLE t ADD COLUMN e double precision DEFAULT random()"),
    Case("add column, identity", "ALTER TABLE t ADD COLUMN e bigint GENERATED BY DEFAULT AS IDENTITY"),
    Case("add column, generated stored", "ALTER TABLE t ADD COLUMN e integer GENERATED ALWAYS AS (a * 2) STORED"),
    Case("drop column", "ALTER TABLE t DROP COLUMN d"),
    Case("rename column", "ALTER TABLE t RENAME COLUMN b TO b2"),
    Case("rename table", "ALTER TABLE t RENAME TO t2"),
    Case("type: varchar widened", "ALTER TABLE t ALTER COLUMN c TYPE varchar(40)"),
    Case("type: varchar narrowed", "ALTER TABLE t ALTER COLUMN c TYPE varchar(10)"),
    Case("type: integer to bigint", "ALTER TABLE t ALTER COLUMN a TYPE bigint"),
    Case("type: enum to text", "ALTER TABLE t ALTER COLUMN m TYPE text"),
    Case("set default", "ALTER TABLE t ALTER COLUMN d SET DEFAULT 5"),
    Case("drop default on a NOT NULL column", "ALTER TABLE t ALTER COLUMN f DROP DEFAULT"),
    Case("set not null", "ALTER TABLE t ALTER COLUMN d SET NOT NULL"),
    Case(
        "set not null with a validated CHECK (d IS NOT NULL)",
        "ALTER TABLE t ALTER COLUMN d SET NOT NULL",
        setup="UPDATE t SET d = 1 WHERE d IS NULL; ALTER TABLE t ADD CONSTRAINT d_nn CHECK (d IS NOT NULL)",
    ),
    Case("drop not null", "ALTER TABLE t ALTER COLUMN a DROP NOT NULL"),
    Case("set statistics", "ALTER TABLE t ALTER COLUMN a SET STATISTICS 500"),
    Case("set storage", "ALTER TABLE t ALTER COLUMN b SET STORAGE EXTERNAL"),
    Case("add CHECK", "ALTER TABLE t ADD CONSTRAINT ck CHECK (a > 0)"),
    Case("add CHECK NOT VALID", "ALTER TABLE t ADD CONSTRAINT ck CHECK (a > 0) NOT VALID"),
    Case(
        "add CHECK NOT VALID and VALIDATE in one transaction",
        "ALTER TABLE t ADD CONSTRAINT ck CHECK (a > 0) NOT VALID; ALTER TABLE t VALIDATE CONSTRAINT ck",
        one_transaction=True,
    ),
    Case("add CHECK that existing rows violate", "ALTER TABLE t ADD CONSTRAINT ck CHECK (a > 5)"),
    Case(
        "validate constraint",
        "ALTER TABLE t VALIDATE CONSTRAINT ck",
        setup="ALTER TABLE t ADD CONSTRAINT ck CHECK (a > 0) NOT VALID",
    ),
    Case("add FOREIGN KEY", "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (d) REFERENCES p (id)"),
    Case("add FOREIGN KEY NOT VALID", "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (d) REFERENCES p (id) NOT VALID"),
    Case("add UNIQUE", "ALTER TABLE t ADD CONSTRAINT uq UNIQUE (d)"),
    Case(
        "add UNIQUE USING INDEX",
        "ALTER TABLE t ADD CONSTRAINT uq UNIQUE USING INDEX t_d_key",
        setup="CREATE UNIQUE INDEX t_d_key ON t (d)",
    ),
    Case("drop constraint", "ALTER TABLE t DROP CONSTRAINT ck", setup="ALTER TABLE t ADD CONSTRAINT ck CHECK (a > 0)"),
    Case("add EXCLUDE", "ALTER TABLE t ADD CONSTRAINT ex EXCLUDE USING btree (d WITH =)"),
    Case("add PRIMARY KEY", "ALTER TABLE t ADD PRIMARY KEY (id)", setup="ALTER TABLE t DROP CONSTRAINT t_pkey"),
    Case(
        "add PRIMARY KEY USING INDEX",
        "ALTER TABLE t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_id_key",
        setup="ALTER TABLE t DROP CONSTRAINT t_pkey; CREATE UNIQUE INDEX t_id_key ON t (id)",
    ),
    Case("create index", "CREATE INDEX ix ON t (a)"),
    Case("create unique index", "CREATE UNIQUE INDEX ix ON t (id, a)"),
    Case("create partial index", "CREATE INDEX ix ON t (a) WHERE d IS NOT NULL"),
    Case("create expression GIN index", "CREATE INDEX ix ON t USING gin (to_tsvector('simple', b))"),
    Case("create BRIN index", "CREATE INDEX ix ON t USING brin (id)"),
    Case("create index concurrently", "CREATE INDEX CONCURRENTLY ix ON t (a)", transactional=False),
    Case("drop index", "DROP INDEX t_d"),
    Case("drop index concurrently", "DROP INDEX CONCURRENTLY t_d", transactional=False),
    Case("reindex table", "REINDEX TABLE t"),
    Case("reindex concurrently", "REINDEX TABLE CONCURRENTLY t", transactional=False),
    Case("set fillfactor", "ALTER TABLE t SET (fillfactor = 70)"),
    Case("set column option n_distinct", "ALTER TABLE t ALTER COLUMN a SET (n_distinct = 100)"),
    Case("set compression", "ALTER TABLE t ALTER COLUMN b SET COMPRESSION pglz"),
    Case("add identity to a column", "ALTER TABLE t ALTER COLUMN a ADD GENERATED BY DEFAULT AS IDENTITY"),
    Case(
        "drop identity",
        "ALTER TABLE t ALTER COLUMN a DROP IDENTITY",
        setup="ALTER TABLE t ALTER COLUMN a ADD GENERATED BY DEFAULT AS IDENTITY",
    ),
    Case(
        "rename constraint",
        "ALTER TABLE t RENAME CONSTRAINT ck TO ck2",
        setup="ALTER TABLE t ADD CONSTRAINT ck CHECK (a > 0)",
    ),
    Case(
        "alter constraint deferrable",
        "ALTER TABLE t ALTER CONSTRAINT fk DEFERRABLE",
        setup="ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (d) REFERENCES p (id)",
    ),
    Case("replica identity full", "ALTER TABLE t REPLICA IDENTITY FULL"),
    Case("enable row level security", "ALTER TABLE t ENABLE ROW LEVEL SECURITY"),
    Case("cluster on", "ALTER TABLE t CLUSTER ON t_pkey"),
    Case("owner to", "ALTER TABLE t OWNER TO postgres"),
    Case(
        "drop expression",
        "ALTER TABLE t ALTER COLUMN g DROP EXPRESSION",
        setup="ALTER TABLE t ADD COLUMN g integer GENERATED ALWAYS AS (a * 2) STORED",
    ),
    Case("inherit", "ALTER TABLE t INHERIT p2", setup="CREATE TABLE p2 (id bigint, a integer NOT NULL)"),
    # heap is the only table access method a stock server has: measured as the no-op it is.
    Case("set access method (the same)", "ALTER TABLE t SET ACCESS METHOD heap"),
    Case("set unlogged", "ALTER TABLE t SET UNLOGGED", setup="ALTER TABLE t DROP CONSTRAINT IF EXISTS t_d_fkey"),
    Case("disable trigger", "ALTER TABLE t DISABLE TRIGGER ALL"),
    Case("cluster", "CLUSTER t USING t_pkey"),
    Case("vacuum full", "VACUUM FULL t", transactional=False),
    Case("update every row", "UPDATE t SET b = 'z'"),
    Case("truncate", "TRUNCATE t"),
    Case("lock table", "LOCK TABLE t IN ACCESS EXCLUSIVE MODE"),
    Case("drop table", "DROP TABLE t"),
    Case("enum: add value", "ALTER TYPE mood ADD VALUE 'c'"),
    Case("enum: rename value", "ALTER TYPE mood RENAME VALUE 'a' TO 'z'"),
]

MARIADB_CASES = [
    Case("add column, nullable, last", "ALTER TABLE t ADD COLUMN e int"),
    Case("add column, nullable, first", "ALTER TABLE t ADD COLUMN e int FIRST"),
    Case("add column, NOT NULL with default", "ALTER TABLE t ADD COLUMN e int NOT NULL DEFAULT 0"),
    Case("add column, NOT NULL without default", "ALTER TABLE t ADD COLUMN e int NOT NULL"),
    Case("add column, auto-increment", "ALTER TABLE t ADD COLUMN e int AUTO_INCREMENT UNIQUE"),
    Case("add column, expression default", "ALTER TABLE t ADD COLUMN e char(36) DEFAULT (uuid())"),
    Case("add column, virtual generated", "ALTER TABLE t ADD COLUMN e int AS (a * 2) VIRTUAL"),
    Case("add column, stored generated", "ALTER TABLE t ADD COLUMN e int AS (a * 2) STORED"),
    Case("drop column", "ALTER TABLE t DROP COLUMN b"),
    Case("drop indexed column", "ALTER TABLE t DROP COLUMN d"),
    Case("rename column", "ALTER TABLE t RENAME COLUMN b TO b2"),
    Case("rename column with CHANGE", "ALTER TABLE t CHANGE b b2 text"),
    Case("rename table", "RENAME TABLE t TO t2", alter=False),
    Case("type: varchar widened (same length bytes)", "ALTER TABLE t MODIFY c varchar(40)"),
    Case("type: varchar widened past 255 bytes", "ALTER TABLE t MODIFY c varchar(100)"),
    Case("type: varchar narrowed", "ALTER TABLE t MODIFY c varchar(10)"),
    Case("type: int to bigint", "ALTER TABLE t MODIFY a bigint NOT NULL"),
    Case("type: enum value appended", "ALTER TABLE t MODIFY m enum('a','b','c')"),
    Case("type: enum value removed", "ALTER TABLE t MODIFY m enum('a')"),
    Case("set default", "ALTER TABLE t ALTER COLUMN d SET DEFAULT 5"),
    Case("drop default on a NOT NULL column", "ALTER TABLE t ALTER COLUMN f DROP DEFAULT"),
    Case("set not null", "ALTER TABLE t MODIFY d int NOT NULL"),
    Case("drop not null", "ALTER TABLE t MODIFY a int NULL"),
    Case("add CHECK", "ALTER TABLE t ADD CONSTRAINT ck CHECK (a > 0)"),
    Case("add CHECK that existing rows violate", "ALTER TABLE t ADD CONSTRAINT ck CHECK (a > 5)"),
    Case("drop CHECK", "ALTER TABLE t DROP CONSTRAINT ck", setup="ALTER TABLE t ADD CONSTRAINT ck CHECK (a > 0)"),
    Case("add FOREIGN KEY", "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (d) REFERENCES p (id)"),
    Case(
        "add FOREIGN KEY, foreign_key_checks off",
        "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (d) REFERENCES p (id)",
        session="SET SESSION foreign_key_checks = 0",
    ),
    Case(
        "drop FOREIGN KEY",
        "ALTER TABLE t DROP FOREIGN KEY fk",
        setup="ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (d) REFERENCES p (id)",
    ),
    Case("add primary key", "ALTER TABLE t ADD PRIMARY KEY (id)", setup="ALTER TABLE t DROP PRIMARY KEY"),
    Case("drop primary key", "ALTER TABLE t DROP PRIMARY KEY"),
    Case("add index", "ALTER TABLE t ADD INDEX ix (a)"),
    Case("add prefix index", "ALTER TABLE t ADD INDEX ix (b(10))"),
    Case("add unique index", "ALTER TABLE t ADD UNIQUE INDEX ix (id, a)"),
    Case("add fulltext index", "ALTER TABLE t ADD FULLTEXT INDEX ix (b)"),
    Case("drop index", "ALTER TABLE t DROP INDEX t_d"),
    Case("rename index", "ALTER TABLE t RENAME INDEX t_d TO t_d2"),
    Case("reorder column", "ALTER TABLE t MODIFY b text AFTER f"),
    Case("convert character set", "ALTER TABLE t CONVERT TO CHARACTER SET latin1"),
    Case("engine, the same", "ALTER TABLE t ENGINE=InnoDB"),
    Case("engine, another", "ALTER TABLE t ENGINE=Aria"),
    Case("row format", "ALTER TABLE t ROW_FORMAT=COMPACT"),
    Case("force rebuild", "ALTER TABLE t FORCE"),
    Case("auto_increment value", "ALTER TABLE t AUTO_INCREMENT = 100000"),
    Case("optimize table", "OPTIMIZE TABLE t", alter=False),
    Case("truncate", "TRUNCATE TABLE t", alter=False),
    Case("drop table", "DROP TABLE t", alter=False),
]
