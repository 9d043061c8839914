"""What the server and the table allow, checked before any tool runs; every refusal says why
in plain words and how to fix it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from expandcontract.errors import ExpandContractError

_TABLE = re.compile(r"[A-Za-z0-9_$]{1,58}")  # leaves room for gh-ost's _T_gho suffixes


class OnlineRefused(ExpandContractError):
    """The online change cannot run; ``reasons`` say why (nothing was changed)."""

    def __init__(self, table: str, reasons: list[str], *, cleaned: list[str] | None = None) -> None:
        self.table = table
        self.reasons = reasons
        #: Tables the tool's validation run left and ec dropped (the original is untouched).
        self.cleaned = list(cleaned or [])
        outcome = (
            f"the original table is untouched; removed what the tool's validation run left: {', '.join(self.cleaned)}"
            if self.cleaned
            else "nothing was changed"
        )
        super().__init__(f"online change of {table} refused, {outcome}:\n" + "\n".join(f"  - {r}" for r in reasons))


def check_table_name(table: str) -> str:
    if not _TABLE.fullmatch(table):
        raise OnlineRefused(
            table,
            [
                f"table name {table!r} has characters the online tools cannot handle safely (use letters, digits, "
                "'_' and '$', at most 58 characters)"
            ],
        )
    return table


@dataclass
class ServerFacts:
    version: str
    is_mariadb: bool
    version_tuple: tuple[int, ...]
    log_bin: bool
    binlog_format: str
    binlog_row_image: str
    #: performance_schema's metadata-lock instrument (gh-ost's cut-over check): True/False, or
    #: None when it cannot be read (no SELECT on performance_schema).
    mdl_instrument: bool | None = None
    #: Sessions whose own binlog_format is not ROW (``id: format``), where the server shows
    #: other sessions' variables (MySQL 5.7+: performance_schema.variables_by_thread); None
    #: where it does not (MariaDB).
    non_row_sessions: list[str] | None = None


#: Measured here with the real gh-ost (master) under writes on MariaDB 10.11.
SKIP_MDL_CHECK = (
    "--skip-metadata-lock-check is refused: without gh-ost's metadata-lock check a cut-over can lose a "
    "committed write (gh-ost PR #1536; measured here: 2 lost writes in 20 cut-overs under load, none in 20 "
    "with the check)"
)


def metadata_lock_problems(server: ServerFacts, extra: list[str]) -> list[str]:
    """gh-ost v1.1.8+ checks metadata locks at the cut-over through performance_schema."""
    flags = {a.split("=", 1)[0] for a in extra}
    if "--skip-metadata-lock-check" in flags:
        return [SKIP_MDL_CHECK]
    if server.mdl_instrument or "--allow-setup-metadata-lock-instruments" in flags:
        return []
    state = "cannot be read (grant SELECT on performance_schema.*)" if server.mdl_instrument is None else "is off"
    return [
        f"the metadata lock instrument (performance_schema, wait/lock/metadata/sql/mdl) {state}: gh-ost needs it "
        "to cut over safely. Start the server with --performance-schema=ON "
        "--performance-schema-instrument='wait/lock/metadata/sql/mdl=ON', or let gh-ost switch it on with "
        "--tool-arg=--allow-setup-metadata-lock-instruments (needs UPDATE on performance_schema.setup_instruments)"
    ]


@dataclass
class TableFacts:
    schema: str
    table: str
    rows: int
    bytes: int
    unique_keys: list[str] = field(default_factory=list)
    child_fks: list[str] = field(default_factory=list)
    parent_fks: list[str] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)


def server_facts(conn: Any) -> ServerFacts:
    from sqlalchemy import text

    version, log_bin, fmt, image = conn.execute(
        text("SELECT VERSION(), @@log_bin, @@binlog_format, @@binlog_row_image")
    ).one()
    numbers = tuple(int(x) for x in re.findall(r"\d+", str(version))[:3])
    facts = ServerFacts(
        str(version), "mariadb" in str(version).lower(), numbers, bool(int(log_bin)), str(fmt), str(image)
    )
    from sqlalchemy.exc import DBAPIError

    try:
        enabled = conn.execute(
            text(
                "SELECT @@performance_schema, (SELECT ENABLED FROM performance_schema.setup_instruments "
                "WHERE NAME = 'wait/lock/metadata/sql/mdl')"
            )
        ).one()
        facts.mdl_instrument = bool(int(enabled[0])) and str(enabled[1]).upper() == "YES"
    except DBAPIError:
        conn.rollback()
    try:
        rows = conn.execute(
            text(
                "SELECT t.PROCESSLIST_ID, v.VARIABLE_VALUE FROM performance_schema.variables_by_thread v "
                "JOIN performance_schema.threads t ON t.THREAD_ID = v.THREAD_ID "
                "WHERE v.VARIABLE_NAME = 'binlog_format' AND UPPER(v.VARIABLE_VALUE) <> 'ROW' "
                "AND t.PROCESSLIST_ID IS NOT NULL AND t.PROCESSLIST_ID <> CONNECTION_ID()"
            )
        ).all()
        facts.non_row_sessions = [f"{r[0]}: {r[1]}" for r in rows]
    except DBAPIError:
        conn.rollback()  # MariaDB does not show other sessions' variables
    return facts


def table_facts(conn: Any, table: str) -> TableFacts:
    from sqlalchemy import bindparam, text

    schema = conn.execute(text("SELECT DATABASE()")).scalar()
    row = conn.execute(
        text(
            "SELECT TABLE_ROWS, COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0) FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = :s AND TABLE_NAME = :t AND TABLE_TYPE = 'BASE TABLE'"
        ),
        {"s": schema, "t": table},
    ).first()
    if row is None:
        raise OnlineRefused(table, [f"there is no table {table} in database {schema}"])
    params = {"s": schema, "t": table}
    facts = TableFacts(str(schema), table, int(row[0] or 0), int(row[1] or 0))
    facts.unique_keys = [
        r[0]
        for r in conn.execute(
            text(
                "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS "
                "WHERE TABLE_SCHEMA = :s AND TABLE_NAME = :t AND NON_UNIQUE = 0"
            ),
            params,
        )
    ]
    facts.child_fks = [
        r[0]
        for r in conn.execute(
            text(
                "SELECT DISTINCT CONSTRAINT_NAME FROM information_schema.KEY_COLUMN_USAGE "
                "WHERE TABLE_SCHEMA = :s AND TABLE_NAME = :t AND REFERENCED_TABLE_NAME IS NOT NULL"
            ),
            params,
        )
    ]
    facts.parent_fks = [
        f"{r[0]}.{r[1]}"
        for r in conn.execute(
            text(
                "SELECT DISTINCT TABLE_NAME, CONSTRAINT_NAME FROM information_schema.KEY_COLUMN_USAGE "
                "WHERE REFERENCED_TABLE_SCHEMA = :s AND REFERENCED_TABLE_NAME = :t"
            ),
            params,
        )
    ]
    facts.triggers = [
        r[0]
        for r in conn.execute(
            text(
                "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = :s "
                "AND EVENT_OBJECT_TABLE = :t"
            ),
            params,
        )
    ]
    # (_T_ghk, gh-ost's checkpoint table, is not here: gh-ost drops and recreates it itself.
    # Nor is pt-osc's _T_old: its swap is one atomic RENAME, so _T_old only ever exists after a
    # success (kept on purpose), and pt-osc names the next one __T_old by itself.)
    candidates = [f"_{table}_{s}" for s in ("gho", "ghc", "del", "new")]
    facts.leftovers = [
        r[0]
        for r in conn.execute(
            text(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = :s AND TABLE_NAME IN :names"
            ).bindparams(bindparam("names", expanding=True)),
            {"s": schema, "names": candidates},
        )
    ]
    return facts


def ghost_problems(server: ServerFacts, table: TableFacts) -> list[str]:
    """Why gh-ost would refuse, each with the fix."""
    problems = []
    if not server.log_bin:
        problems.append(
            "binary logging is off; gh-ost reads the binlog. Start the server with log_bin, "
            "binlog_format=ROW and binlog_row_image=FULL (or use the pt-online-schema-change engine)"
        )
    elif server.binlog_format.upper() != "ROW":
        problems.append(
            f"binlog_format is {server.binlog_format}; gh-ost needs ROW. `SET GLOBAL binlog_format=ROW` is not "
            f"enough: sessions opened before keep writing {server.binlog_format} events, which gh-ost never "
            "sees (their writes would be lost in the copy). Set binlog_format=ROW in the server config and "
            "restart, or set it globally and make every application reconnect; ec also verifies the copy "
            "before the cut-over"
        )
    if server.non_row_sessions:
        problems.append(
            f"{len(server.non_row_sessions)} session(s) still write non-ROW binlog events "
            f"({', '.join(server.non_row_sessions[:5])}): gh-ost never sees those writes. Make those "
            "applications reconnect (their sessions keep the format they started with)"
        )
    if server.log_bin and server.binlog_row_image.upper() != "FULL":
        problems.append(f"binlog_row_image is {server.binlog_row_image}; gh-ost needs FULL")
    problems += common_problems(table, engine="gh-ost")
    if table.child_fks or table.parent_fks:
        fks = ", ".join(table.child_fks + table.parent_fks)
        problems.append(
            f"foreign keys ({fks}): gh-ost cannot keep them; use the pt-online-schema-change engine, "
            "which can (--alter-foreign-keys-method)"
        )
    if table.triggers:
        problems.append(
            f"triggers ({', '.join(table.triggers)}): gh-ost refuses tables with triggers before v1.1.8 "
            "and needs --include-triggers after; drop them first or use pt-online-schema-change"
        )
    return problems


def common_problems(table: TableFacts, *, engine: str) -> list[str]:
    problems = []
    if not table.unique_keys:
        problems.append(
            f"{table.table} has no PRIMARY or UNIQUE key; {engine} needs one to copy rows in chunks. "
            "Add a primary key first"
        )
    if table.leftovers:
        problems.append(
            f"leftover tables from an earlier online run: {', '.join(table.leftovers)}. "
            f"`ec online-abort {table.table}` removes what a failed or killed run left (gh-ost's "
            "_gho/_ghc, a cut-over sentry, pt-osc's triggers); an old table kept after a success is yours to drop"
        )
    return problems


def trigger_problem(conn: Any) -> str | None:
    """pt-osc works through triggers; on a server with binary logging, creating one needs SUPER
    or log_bin_trust_function_creators, which its dry run does not try. Create and drop one on
    a scratch table, so the refusal comes before any copy."""
    import secrets

    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    name = f"_ec_trigger_probe_{secrets.token_hex(4)}"
    try:
        conn.execute(text(f"CREATE TABLE `{name}` (id INT PRIMARY KEY)"))
        try:
            conn.execute(text(f"CREATE TRIGGER `{name}_t` AFTER INSERT ON `{name}` FOR EACH ROW SET @ec_probe = 1"))
        finally:
            conn.execute(text(f"DROP TABLE IF EXISTS `{name}`"))  # drops the trigger with it
    except DBAPIError as error:
        conn.rollback()
        detail = str(getattr(error, "orig", error)).splitlines()[0]
        return (
            f"this account cannot create triggers here ({detail}); pt-online-schema-change needs them. With binary "
            "logging on, grant SUPER or SET GLOBAL log_bin_trust_function_creators=1 (and in the server config)"
        )
    conn.commit()
    return None


def ptosc_problems(server: ServerFacts, table: TableFacts, extra: list[str] | None = None) -> list[str]:
    problems = common_problems(table, engine="pt-online-schema-change")
    if table.parent_fks and not any(a.startswith("--alter-foreign-keys-method") for a in extra or []):
        problems.append(
            f"other tables' foreign keys point at {table.table} ({', '.join(table.parent_fks)}): pt-online-schema-"
            "change must be told how to move them: --tool-arg=--alter-foreign-keys-method=rebuild_constraints "
            "(or auto, drop_swap; see its documentation)"
        )
    if table.triggers:
        problems.append(
            f"triggers ({', '.join(table.triggers)}): pt-online-schema-change installs its own; drop these first"
        )
    return problems
