"""Capturing revisions in a disposable process: revision code never runs inside ec.

``ec lint`` imports and runs each revision's ``upgrade()`` (offline) to see what it does. That
code is untrusted in a pre-merge job: it may ``sys.exit()``, ``os._exit()``, loop forever, print
over the report, monkeypatch ec, or read secrets from the environment. So the linter starts one
worker process (a fork server) with a scrubbed environment; the worker imports Alembic and
SQLAlchemy once, then forks a fresh child per revision. The child runs the capture with its
stdout/stderr sent to a file and its stdin closed, and sends back JSON (never a pickle) through
a pipe of its own; the worker kills it (and anything it started) when its time is up. Whatever
a revision does, it can only spoil its own capture, and the parent alone writes the report.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expandcontract.dialects import Target
from expandcontract.migrations.loader import RevisionFile
from expandcontract.sql import changes as c

#: Environment variables a capture keeps by default: what Python and locale need, nothing secret.
SAFE_ENV = (
    "PATH",
    "HOME",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONIOENCODING",
    "PYTHONUTF8",
    "VIRTUAL_ENV",
    "SYSTEMROOT",
)

#: How much of a revision's own output is kept.
OUTPUT_LIMIT = 20_000


def capture_environment(pass_env: Iterable[str] = (), *, inherit: bool = False) -> dict[str, str]:
    """The environment a capture runs in: only :data:`SAFE_ENV`, ``LC_*`` and ``pass_env``
    (names or ``PREFIX_*``), unless ``inherit`` (the runner, whose revisions run anyway)."""
    if inherit:
        return dict(os.environ)
    keep = set(SAFE_ENV)
    prefixes = tuple(p[:-1] for p in pass_env if p.endswith("*"))
    keep |= {p for p in pass_env if not p.endswith("*")}
    return {k: v for k, v in os.environ.items() if k in keep or k.startswith(("LC_", *prefixes))}


@dataclass
class CaptureResult:
    changes: list[c.Change]
    #: What the revision printed (stdout and stderr), truncated.
    output: str = ""
    #: Project files (under the project's sys.path entries) the revision imported.
    deps: tuple[str, ...] = ()


class CaptureWorker:
    """A fork server for captures; use as a context manager, call :meth:`capture` per revision."""

    def __init__(self, *, timeout: float = 30.0, env: dict[str, str] | None = None) -> None:
        self.timeout = timeout
        self.env = capture_environment() if env is None else env
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> CaptureWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            if proc.stdin:
                proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            env = dict(self.env)
            # The worker must import this very ec, wherever it is installed or checked out.
            here = str(Path(__file__).resolve().parents[2])
            env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "expandcontract.migrations.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        return self._proc

    def capture(
        self, rev: RevisionFile, target: Target, sys_path: list[Path], config_file: Path | None = None
    ) -> CaptureResult:
        return self.capture_many([rev], target, sys_path, config_file)[0]

    def capture_many(
        self, revs: list[RevisionFile], target: Target, sys_path: list[Path], config_file: Path | None = None
    ) -> list[CaptureResult]:
        """Capture each revision in a child of its own; as many at a time as there are cores."""
        if not revs:
            return []
        parallel = max(1, min(os.cpu_count() or 1, 8))
        shared = {
            "project_paths": [str(p) for p in sys_path],
            "config_file": str(config_file) if config_file else None,
            "dialect": target.dialect,
            "version": list(target.version),
            "sys_path": [str(p) for p in sys_path] + [p for p in sys.path if p],
            "timeout": self.timeout,
        }
        request = {"batch": [{**shared, "path": str(rev.path)} for rev in revs], "parallel": parallel}
        rounds = -(-len(revs) // parallel)
        line = b""
        for _attempt in (1, 2):
            proc = self._start()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write((json.dumps(request) + "\n").encode())
                proc.stdin.flush()
                line = _read_line(proc.stdout, rounds * self.timeout + 30)
            except (OSError, TimeoutError):
                line = b""
            if line:
                break
            # The worker itself died or hung (it never runs revision code): start a new one.
            self.close()
        try:
            replies = json.loads(line)["batch"] if line else None
            if not isinstance(replies, list) or len(replies) != len(revs):
                raise ValueError("the capture worker failed")
        except (ValueError, KeyError, TypeError):
            failed = c.RenderFailed(reason="the capture worker failed; rerun ec lint", line=1)
            return [CaptureResult([failed]) for _ in revs]
        return [_result(reply) for reply in replies]


def _result(reply: Any) -> CaptureResult:
    from expandcontract.sql.codec import CodecError, decode_changes

    try:
        changes = decode_changes(reply["changes"])
    except (KeyError, TypeError, CodecError) as error:
        changes = [c.RenderFailed(reason=f"the capture sent back something ec cannot read ({error})", line=1)]
        reply = {}
    deps = reply.get("deps") or []
    deps = tuple(str(d) for d in deps) if isinstance(deps, list) else ()
    output = str(reply.get("output", ""))[:OUTPUT_LIMIT]
    if output.strip():
        changes.append(c.Printed(text=output, line=1))
    return CaptureResult(changes, output, deps)


_WORKERS: dict[tuple[tuple[tuple[str, str], ...], float], CaptureWorker] = {}


def shared_worker(env: dict[str, str], timeout: float) -> CaptureWorker:
    """One worker per environment and time limit for the life of this process: starting one
    costs an interpreter and an Alembic import, and the worker itself never runs revision code
    (each revision gets a fresh fork), so reusing it is safe."""
    key = (tuple(sorted(env.items())), timeout)
    worker = _WORKERS.get(key)
    if worker is None:
        if not _WORKERS:
            atexit.register(_close_all)
        while len(_WORKERS) >= 4:  # environments change (tests, long-lived hosts): keep a few
            _WORKERS.pop(next(iter(_WORKERS))).close()
        worker = _WORKERS[key] = CaptureWorker(timeout=timeout, env=env)
    return worker


def _close_all() -> None:
    for worker in _WORKERS.values():
        worker.close()
    _WORKERS.clear()


def _read_line(stream: Any, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    chunks = []
    fd = stream.fileno()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        data = os.read(fd, 1 << 16)
        if not data:
            return b""
        chunks.append(data)
        if data.endswith(b"\n"):
            return b"".join(chunks)


# --- the worker side ------------------------------------------------------------------------------


def _serve() -> None:
    # The protocol channel is a private copy of stdout; fd 1 itself goes nowhere, so a stray
    # print in the worker (or a child that finds fd 1) cannot forge a reply.
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)
    _warm_up()
    # Children share the warm heap copy-on-write: keep the collector from touching (and so
    # copying) it in every child.
    import gc

    gc.collect()
    gc.freeze()
    gc.disable()

    scratch = tempfile.mkdtemp(prefix="ec-capture-")
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            request = json.loads(line)
            if "batch" in request:
                parallel = max(1, min(int(request.get("parallel", 1)), 16))
                reply = {"batch": _many(request["batch"], scratch, channel.fileno(), devnull, parallel)}
            else:
                reply = _one(request, scratch, channel.fileno(), devnull)
            channel.write(json.dumps(reply) + "\n")
            channel.flush()
    finally:
        with contextlib.suppress(OSError):
            for name in os.listdir(scratch):
                os.unlink(os.path.join(scratch, name))
            os.rmdir(scratch)


def _warm_up() -> None:
    """Import and initialise, once, everything a capture touches (Alembic, SQLAlchemy and
    sqlglot for each dialect, ec's converters and rules): each forked child then starts warm
    instead of repeating those imports for every revision."""
    import io

    import sqlalchemy as sa
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    from expandcontract.dialects import Target
    from expandcontract.migrations import capture, optypes
    from expandcontract.rules import all_rules
    from expandcontract.sql.normalize import parse_sql

    all_rules()
    for dialect in ("postgresql", "mysql", "mariadb"):
        target = Target.default(dialect)
        parse_sql("ALTER TABLE t ADD COLUMN c integer NOT NULL DEFAULT 0; CREATE INDEX ix ON t (c)", target)
        optypes.compile_type(sa.String(10), target)
        ctx = MigrationContext.configure(
            dialect_name=target.alembic_dialect, opts={"as_sql": True, "output_buffer": io.StringIO()}
        )
        Operations(ctx).add_column("t", sa.Column("c", sa.Integer()))
    # A real capture of a typical revision per dialect: the lazy parts (parsers, compiled
    # patterns, Alembic's renderers) are then initialised before any fork.
    with tempfile.TemporaryDirectory(prefix="ec-warm-") as scratch:
        path = Path(scratch) / "warm_rev.py"
        path.write_text(_WARM_REVISION, encoding="utf-8")
        from expandcontract.migrations.loader import read_revision

        for dialect in ("postgresql", "mysql", "mariadb"):
            with contextlib.suppress(Exception):
                capture.capture(read_revision(path), Target.default(dialect), [])  # type: ignore[arg-type]


_WARM_REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "warm"
down_revision = None


def upgrade():
    op.create_table("w", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("n", sa.String(20)))
    op.add_column("w", sa.Column("c", sa.String(50), nullable=True, server_default="x"))
    op.alter_column("w", "c", type_=sa.Text(), existing_type=sa.String(50), nullable=False)
    with op.get_context().autocommit_block():
        op.create_index("ix_w_c", "w", ["c"], postgresql_concurrently=True)
    op.create_foreign_key("fk", "w", "v", ["n"], ["id"])
    op.execute("UPDATE w SET c = 'a' WHERE id < 100")
    op.execute("ALTER TABLE w DROP COLUMN n")
    op.drop_index("ix_w_c", table_name="w")
    with op.batch_alter_table("w") as batch:
        batch.add_column(sa.Column("d", sa.Integer()))
"""


def _one(request: dict[str, Any], scratch: str, channel: int, devnull: int) -> dict[str, Any]:
    return _many([request], scratch, channel, devnull, 1)[0]


@dataclass
class _Child:
    index: int
    pid: int
    fd: int
    output: str
    deadline: float
    timeout: float
    chunks: list[bytes]


def _many(
    requests: list[dict[str, Any]], scratch: str, channel: int, devnull: int, parallel: int
) -> list[dict[str, Any]]:
    """Capture each request in a child of its own, ``parallel`` children at a time."""
    from expandcontract.sql.codec import encode_changes

    if not hasattr(os, "fork"):  # pragma: no cover - Windows: capture here, with less isolation
        from expandcontract.migrations.capture import capture_request

        return [{"changes": encode_changes(capture_request(r)), "output": ""} for r in requests]
    replies: list[dict[str, Any] | None] = [None] * len(requests)
    pending = list(enumerate(requests))
    running: dict[int, _Child] = {}
    while pending or running:
        while pending and len(running) < parallel:
            index, request = pending.pop(0)
            child = _spawn(index, request, scratch, channel, devnull)
            running[child.fd] = child
        now = time.monotonic()
        wait = max(0.0, min(child.deadline for child in running.values()) - now)
        ready, _, _ = select.select(list(running), [], [], wait)
        for fd in ready:
            child = running[fd]
            data = os.read(fd, 1 << 16)
            if data:
                child.chunks.append(data)
                continue
            del running[fd]
            replies[child.index] = _finish(child, timed_out=False)
        now = time.monotonic()
        for fd, child in list(running.items()):
            if now >= child.deadline:
                del running[fd]
                replies[child.index] = _finish(child, timed_out=True)
    return [r if r is not None else {"changes": [], "output": ""} for r in replies]


def _spawn(index: int, request: dict[str, Any], scratch: str, channel: int, devnull: int) -> _Child:
    from expandcontract.sql.codec import encode_changes

    timeout = float(request.get("timeout", 30))
    output_path = os.path.join(scratch, f"output-{index}")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: runs the revision, then leaves without cleanup
        try:
            os.close(read_end)
            os.close(channel)
            os.setsid()
            out = os.open(output_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(devnull, 0)
            os.dup2(out, 1)
            os.dup2(out, 2)
            from expandcontract.migrations.capture import capture_request

            before = set(sys.modules)
            changes = capture_request(request)
            deps = _project_imports(before, request.get("project_paths") or [])
            data = json.dumps({"changes": encode_changes(changes), "deps": deps}).encode()
        except BaseException as error:  # noqa: BLE001 - the child reports everything
            reason = f"the capture failed: {type(error).__name__}: {error}".splitlines()[0][:500]
            data = json.dumps({"changes": encode_changes([c.RenderFailed(reason=reason, line=1)])}).encode()
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
            view = memoryview(data)
            while view:
                view = view[os.write(write_end, view) :]
        os._exit(0)
    os.close(write_end)
    return _Child(index, pid, read_end, output_path, time.monotonic() + timeout, timeout, [])


def _project_imports(before: set[str], roots: list[str]) -> list[str]:
    """Files of the modules the capture imported from the project's own directories."""
    if not roots:
        return []
    prefixes = tuple(os.path.join(os.path.abspath(r), "") for r in roots)
    files = set()
    for name in set(sys.modules) - before:
        path = getattr(sys.modules.get(name), "__file__", None)
        if path and os.path.abspath(path).startswith(prefixes):
            files.add(os.path.abspath(path))
    return sorted(files)


def _finish(child: _Child, *, timed_out: bool) -> dict[str, Any]:
    from expandcontract.sql.codec import encode_changes

    os.close(child.fd)
    if timed_out:
        with contextlib.suppress(OSError):
            os.killpg(child.pid, signal.SIGKILL)  # the revision and anything it started
    _, status = os.waitpid(child.pid, 0)
    output = _output(child.output)
    with contextlib.suppress(OSError):
        os.unlink(child.output)
    received = b"".join(child.chunks)
    if timed_out:
        reason = f"capturing the revision timed out after {child.timeout:g}s (a loop at import or in upgrade()?)"
        return {"changes": encode_changes([c.RenderFailed(reason=reason, line=1)]), "output": output}
    if not received:
        code = os.waitstatus_to_exitcode(status)
        reason = f"the revision ended the capture process (exit status {code}: os._exit() or a crash)"
        return {"changes": encode_changes([c.RenderFailed(reason=reason, line=1)]), "output": output}
    try:
        reply = json.loads(received)
    except ValueError:
        reason = "the revision's capture process sent back something that is not a capture"
        return {"changes": encode_changes([c.RenderFailed(reason=reason, line=1)]), "output": output}
    reply["output"] = output
    return dict(reply)


def _output(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read(OUTPUT_LIMIT + 1)
    except OSError:
        return ""
    text = data[:OUTPUT_LIMIT].decode("utf-8", errors="replace")
    return text + ("\n[... truncated]" if len(data) > OUTPUT_LIMIT else "")


if __name__ == "__main__":
    _serve()
