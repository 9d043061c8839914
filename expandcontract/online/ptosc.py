"""Driving pt-online-schema-change (Debian ``percona-toolkit``): trigger-based, no socket.

On MariaDB >= 10.5.2 replica discovery needs a privilege most accounts lack, so
``--recursion-method=none`` is passed. An interrupted run leaves live triggers on the table:
they are removed (with the half-built ``_T_new`` table) on any failure.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from typing import Any

from expandcontract.online.preflight import OnlineRefused
from expandcontract.online.process import Interrupted, ToolProcess, interrupts_as_exception
from expandcontract.online.progress import Progress, parse_ptosc_line
from expandcontract.online.rundir import ConnectionInfo, RunDir

EXIT_MEANINGS = {
    1: "invalid parameters",
    2: "unsupported MySQL version",
    3: "minimum requirements not met",
    4: "no PRIMARY or UNIQUE key",
    5: "invalid plugin file",
    6: "invalid --alter-foreign-keys-method",
    7: "invalid key size",
    9: "cannot determine key size, or not safe to ascend",
    10: "error creating the new table",
    11: "error altering the new table",
    12: "error creating triggers",
    13: "error restoring triggers",
    14: "error swapping tables",
    15: "error updating foreign keys",
    16: "error dropping the old table",
    17: "unsupported operation",
    18: "MySQL connection error",
    19: "lost the MySQL connection",
}


def find_ptosc(explicit: str | None = None) -> str:
    found = explicit or shutil.which("pt-online-schema-change")
    if not found:
        raise OnlineRefused("-", ["pt-online-schema-change is not installed (apt-get install percona-toolkit)"])
    return found


def build_argv(
    binary: str,
    info: ConnectionInfo,
    run_dir: RunDir,
    table: str,
    alter: str,
    *,
    execute: bool,
    mariadb: bool,
    keep_old_table: bool,
    extra: list[str],
) -> list[str]:
    conf = run_dir.file("client.cnf")
    argv = [
        binary,
        "--alter",
        alter,
        f"h={info.host},P={info.port},D={info.database},t={table},F={conf}",
        "--progress",
        "time,1",
        "--set-vars",
        "lock_wait_timeout=5",
        "--pause-file",
        str(run_dir.file("pause.flag")),
        "--execute" if execute else "--dry-run",
    ]
    if mariadb:
        argv += ["--recursion-method", "none"]
    if keep_old_table:
        argv.append("--no-drop-old-table")
    return argv + extra


def run_ptosc(argv: list[str], on_progress: Callable[[Progress], None] | None) -> tuple[int, str | None, ToolProcess]:
    def stdout(line: str) -> None:
        progress = parse_ptosc_line(line)
        if progress is not None and on_progress:
            on_progress(progress)

    with interrupts_as_exception():
        # pt-osc writes its progress ("Copying `db`.`t`:  64% 00:01 remain") to stderr.
        process = ToolProcess(argv, on_stdout=stdout, on_stderr=stdout)
        try:
            code = process.wait()
        except Interrupted:
            process.proc.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.proc.kill()
                process.wait()
            raise
    if code == 0:
        return 0, None, process
    meaning = EXIT_MEANINGS.get(code, "failed")
    reason = process.last_error()
    return code, f"{meaning} (exit {code}){': ' + reason if reason else ''}", process


def cleanup_after_failure(conn: Any, table: str) -> list[str]:
    """Remove pt-osc's triggers from the production table and its half-built copy."""
    from sqlalchemy import text

    schema = conn.execute(text("SELECT DATABASE()")).scalar()
    removed = []
    for row in conn.execute(
        text(
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = :s "
            "AND EVENT_OBJECT_TABLE = :t AND TRIGGER_NAME LIKE 'pt\\_osc\\_%'"
        ),
        {"s": schema, "t": table},
    ).all():
        conn.execute(text(f"DROP TRIGGER IF EXISTS `{row[0]}`"))
        removed.append(f"trigger {row[0]}")
    new = f"_{table}_new"
    if conn.execute(
        text("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = :s AND TABLE_NAME = :t"),
        {"s": schema, "t": new},
    ).scalar():
        conn.execute(text(f"DROP TABLE IF EXISTS `{new}`"))
        removed.append(new)
    return removed


__all__ = ["Interrupted", "build_argv", "cleanup_after_failure", "find_ptosc", "run_ptosc"]
