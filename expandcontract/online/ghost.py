"""Driving gh-ost: its documented command line, stdout progress and one-line socket protocol.

Every run gets a private directory for the credentials file (0600, via ``--conf``, naming
``${EC_GHOST_USER}``/``${EC_GHOST_PASSWORD}``, which gh-ost expands from its environment), the
serve socket and the postpone, panic, throttle and throttle-additional flag files (the
default ``/tmp/gh-ost.throttle`` is shared by every gh-ost on the host). A noop run (no
``--execute``) validates everything first. Cut-over is released by removing the postpone
flag file *and* sending ``unpostpone=<table>``: ``unpostpone`` alone is one-shot, and gh-ost
goes back to postponing while the file exists if that attempt fails.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expandcontract.linesocket import send_line
from expandcontract.online.preflight import OnlineRefused, ServerFacts
from expandcontract.online.process import Interrupted, ToolProcess, interrupts_as_exception
from expandcontract.online.progress import Progress, parse_ghost_line
from expandcontract.online.rundir import ConnectionInfo, RunDir


def ghost_socket_send(path: str | Path, line: str, timeout: float = 5.0) -> str:
    """One command per connection; the reply is everything gh-ost writes before closing."""
    return send_line(path, line, timeout)


@dataclass
class GhostBinary:
    path: str
    version: str = ""

    @classmethod
    def find(cls, explicit: str | None = None) -> GhostBinary:
        import shutil

        candidate = explicit or os.environ.get("EC_GHOST_BIN") or shutil.which("gh-ost")
        if not candidate:
            raise OnlineRefused(
                "-",
                [
                    "gh-ost is not installed: download a release binary or build it "
                    "(see docs), then set EC_GHOST_BIN or put gh-ost on PATH"
                ],
            )
        binary = cls(candidate)
        try:
            result = subprocess.run([candidate, "--version"], capture_output=True, text=True, timeout=30, check=False)
        except (FileNotFoundError, PermissionError) as error:
            raise OnlineRefused(
                "-", [f"gh-ost is not installed or not executable at {candidate} ({error.strerror})"]
            ) from None
        binary.version = (
            (result.stdout or result.stderr).strip().splitlines()[0] if (result.stdout or result.stderr) else "unknown"
        )
        return binary

    def check_flags(self, args: list[str]) -> str | None:
        """Why this build rejects ``args`` (``--check-flag`` with the flags exactly as they will
        be passed: real gh-ost exits 2 on an unknown flag *and* on a value flag with no value),
        or None when it takes them all."""
        for arg in args:
            result = subprocess.run(
                [self.path, "--check-flag", arg], capture_output=True, text=True, timeout=30, check=False
            )
            if result.returncode != 0:
                said = (result.stderr or result.stdout).strip().splitlines()
                return f"{arg}: {said[0] if said else f'exit {result.returncode}'}"
        return None

    def features(self) -> dict[str, bool]:
        """What this build can do, probed by flag (source builds print no version)."""
        probes = ("checkpoint", "revert", "attempt-instant-ddl")
        return {flag: self.check_flags([f"--{flag}"]) is None for flag in probes}

    def describe(self) -> str:
        """The version, or for a source build ('unversioned') what its flags show."""
        if self.version_tuple() is not None:
            return f"gh-ost {self.version}"
        has = [f"--{flag}" for flag, present in self.features().items() if present]
        return f"gh-ost {self.version.split(' ')[0]} build" + (f" with {', '.join(has)}" if has else "")

    def version_tuple(self) -> tuple[int, ...] | None:
        m = re.match(r"v?(\d+)\.(\d+)\.(\d+)", self.version)
        return tuple(int(x) for x in m.groups()) if m else None


MARIADB_SUPPORT = (
    "this gh-ost build predates MariaDB support: v1.1.6 to v1.1.10 (and source builds of that time) fail on "
    "MariaDB before 11.1; use a build of gh-ost master from after 2026-06-22 (PR #1724) or v1.1.5"
)


def explain_failure(reason: str) -> str:
    """gh-ost's FATAL line, with what it means when that is not obvious."""
    if "transaction_isolation" in reason and "1193" in reason:
        return f"{reason} - {MARIADB_SUPPORT}"
    return reason


def mariadb_incompatible(binary: GhostBinary, server: ServerFacts) -> str | None:
    """gh-ost v1.1.6 to v1.1.10 die at once on MariaDB before 11.1 (transaction_isolation)."""
    version = binary.version_tuple()
    if server.is_mariadb and server.version_tuple < (11, 1) and version and (1, 1, 6) <= version <= (1, 1, 10):
        return (
            f"gh-ost {binary.version} fails at once on MariaDB {'.'.join(map(str, server.version_tuple))} "
            "(Error 1193: Unknown system variable 'transaction_isolation'); use a build of gh-ost master from "
            "after 2026-06-22 (MariaDB support, PR #1724) or v1.1.5"
        )
    return None


@dataclass
class GhostRun:
    """One gh-ost process; ``progress`` is the last status line seen."""

    table: str
    run_dir: RunDir
    process: ToolProcess | None = None
    progress: Progress | None = None
    done: bool = False
    history: list[Progress] = field(default_factory=list)

    @property
    def socket_path(self) -> Path:
        return self.run_dir.file("gh-ost.sock")

    @property
    def postpone_flag(self) -> Path:
        return self.run_dir.file("postpone.flag")

    @property
    def panic_flag(self) -> Path:
        return self.run_dir.file("panic.flag")

    def command(self, line: str) -> str:
        return ghost_socket_send(self.socket_path, line)

    def cut_over(self) -> str:
        """Release a postponed cut-over: remove the flag file (so a failed attempt is retried,
        not postponed again), then ask for it now."""
        self.postpone_flag.unlink(missing_ok=True)
        try:
            return self.command(f"unpostpone={self.table}")
        except OSError as error:
            return f"(socket: {error}; gh-ost will notice the flag file is gone)"

    def panic(self) -> None:
        try:
            self.command(f"panic={self.table}")
        except OSError:
            self.panic_flag.touch()


def build_argv(
    binary: GhostBinary,
    info: ConnectionInfo,
    run: GhostRun,
    alter: str,
    *,
    execute: bool,
    postpone: bool,
    keep_old_table: bool,
    extra: list[str],
    replica_server_id: int | None = None,
    cut_over_lock_timeout: int = 1,
    checkpoint_seconds: int | None = None,
    resume: bool = False,
) -> list[str]:
    conf = run.run_dir.file("ghost.cnf")
    argv = [
        binary.path,
        f"--host={info.host}",
        f"--port={info.port}",
        f"--conf={conf}",
        f"--database={info.database}",
        f"--table={run.table}",
        f"--alter={alter}",
        "--allow-on-master",
        "--assume-rbr",
        f"--serve-socket-file={run.socket_path}",
        f"--panic-flag-file={run.panic_flag}",
        f"--throttle-flag-file={run.run_dir.file('throttle.flag')}",
        # The default /tmp/gh-ost.throttle is shared by every gh-ost on the host.
        f"--throttle-additional-flag-file={run.run_dir.file('throttle-additional.flag')}",
        f"--replica-server-id={replica_server_id or random.randint(100_000, 4_000_000_000)}",
        "--default-retries=60",
        # gh-ost holds the cut-over lock up to twice this: the longest write stall per attempt.
        f"--cut-over-lock-timeout-seconds={cut_over_lock_timeout}",
        "--verbose",
    ]
    if postpone:
        argv.append(f"--postpone-cut-over-flag-file={run.postpone_flag}")
    if checkpoint_seconds:
        # A killed run can then go on from its last checkpoint (`--resume`) instead of over.
        argv += ["--checkpoint", f"--checkpoint-seconds={checkpoint_seconds}"]
    if resume:
        argv.append("--resume")
    argv.append("--timestamp-old-table" if keep_old_table else "--ok-to-drop-table")
    argv += extra
    if execute:
        argv.append("--execute")
    return argv


def run_ghost(
    argv: list[str],
    run: GhostRun,
    on_progress: Callable[[Progress], None] | None,
    on_postponed: Callable[[GhostRun], None] | None = None,
) -> tuple[int, str | None]:
    """Run to the end; returns (exit code, gh-ost's reason on failure)."""
    notified = False

    def stdout(line: str) -> None:
        nonlocal notified
        if line.strip() == "# Done":
            run.done = True
        progress = parse_ghost_line(line)
        if progress is not None:
            run.progress = progress
            run.history.append(progress)
            if on_progress:
                # Whatever the progress reader does, the postponed hand-off below must happen.
                with contextlib.suppress(Exception):
                    on_progress(progress)
            if progress.postponing and not notified and on_postponed:
                notified = True
                on_postponed(run)

    if run.postpone_flag.name in " ".join(argv):
        run.postpone_flag.touch()
    with interrupts_as_exception():
        run.process = ToolProcess(argv, on_stdout=stdout, env={**os.environ, **run.run_dir.env})
        try:
            code = run.process.wait()
        except Interrupted:
            run.panic()
            try:
                run.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                run.process.proc.kill()
                run.process.wait()
            raise
    reason = None if code == 0 else run.process.last_error()
    if code == 2:
        # Go's flag package: the error first, then the usage text (whose last line says nothing).
        said = next((line for line in run.process.stderr_tail if line.strip()), "")
        reason = f"gh-ost rejected its command line (exit 2): {said or 'unknown flag'}"
    return code, reason


def cleanup_after_failure(conn: Any, table: str) -> list[str]:
    """Drop what a failed gh-ost leaves: the ghost and changelog tables always; the old-table
    name only when it is the empty cut-over sentry. The original table is never touched."""
    from sqlalchemy import text

    schema = conn.execute(text("SELECT DATABASE()")).scalar()
    dropped = []
    for suffix in ("gho", "ghc", "ghk"):  # with the ghost table gone, its checkpoint is no use
        name = f"_{table}_{suffix}"
        if _exists(conn, schema, name):
            conn.execute(text(f"DROP TABLE IF EXISTS `{name}`"))
            dropped.append(name)
    # The sentry carries the old table's name: _T_del, or _T_<YYYYMMDDhhmmss>_del with
    # --timestamp-old-table (ec's default). Only a table with the sentry's comment is dropped.
    old_names = re.compile(rf"_{re.escape(table)}_(\d{{14}}_)?del")
    for name, comment in conn.execute(
        text("SELECT TABLE_NAME, TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = :s"),
        {"s": schema},
    ).all():
        if old_names.fullmatch(name) and comment == "ghost-cut-over-sentry":
            conn.execute(text(f"DROP TABLE IF EXISTS `{name}`"))
            dropped.append(name)
    return dropped


def _exists(conn: Any, schema: str, name: str) -> bool:
    from sqlalchemy import text

    return bool(
        conn.execute(
            text("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = :s AND TABLE_NAME = :t"),
            {"s": schema, "t": name},
        ).scalar()
    )


def wait_for_socket(run: GhostRun, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run.socket_path.exists():
            return True
        if run.process is not None and run.process.proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False
