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
from collections.abc import Callable, Iterable
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

    def __init__(self, *, timeout: float = 30.0, env: dict[str, str] | None = None, dialect: str | None = None) -> None:
        self.timeout = timeout
        self.env = capture_environment() if env is None else env
        #: The dialect to warm up for (None: every one); captures of another still work, slower.
        self.dialect = dialect
        self._proc: subprocess.Popen[bytes] | None = None
        self._used = False

    def start(self) -> None:
        """Start the worker now (it imports Alembic and SQLAlchemy while the caller goes on)."""
        self._start()

    def __enter__(self) -> CaptureWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if not self._used:
            # Started ahead of a need that never came (every revision was cached): don't wait
            # for it to finish warming up.
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
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
            self._used = False
            env = dict(self.env)
            # The worker must import this very ec, wherever it is installed or checked out.
            here = str(Path(__file__).resolve().parents[2])
            env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
            warm = [self.dialect] if self.dialect in ("postgresql", "mysql", "mariadb") else []
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "expandcontract.migrations.worker", *warm],
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
        self,
        revs: list[RevisionFile],
        target: Target,
        sys_path: list[Path],
        config_file: Path | None = None,
        on_result: Callable[[int, CaptureResult], None] | None = None,
    ) -> list[CaptureResult]:
        """Capture each revision (see :func:`_jobs`), as many children at a time as there are
        cores; ``on_result(index, result)`` is called as each revision is done, in any order."""
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
        from expandcontract.migrations.inert import is_inert

        # Which revisions may share a child is decided here, while the worker may still be
        # warming up (the worker would do it serially before forking anything).
        requests = [
            {**shared, "path": str(rev.path), **({"inert": is_inert(rev.text)} if rev.text else {})} for rev in revs
        ]
        results: dict[int, CaptureResult] = {}
        for _attempt in (1, 2):
            missing = [i for i in range(len(revs)) if i not in results]
            if not missing:
                break

            def deliver(k: int, result: CaptureResult, missing: list[int] = missing) -> None:
                results[missing[k]] = result
                if on_result is not None:
                    on_result(missing[k], result)

            request = {"batch": [requests[i] for i in missing], "parallel": parallel}
            try:
                proc = self._start()
                assert proc.stdin is not None and proc.stdout is not None
                self._used = True
                proc.stdin.write((json.dumps(request) + "\n").encode())
                proc.stdin.flush()
                if self._receive(proc.stdout, len(missing), deliver):
                    continue
            except (OSError, TimeoutError):
                pass
            # The worker itself died or hung (it never runs revision code): start a new one for
            # what it had not sent.
            self.close()
        failed = c.RenderFailed(reason="the capture worker failed; rerun ec lint", line=1)
        return [results.get(i) or CaptureResult([failed]) for i in range(len(revs))]

    def _receive(self, stream: Any, count: int, deliver: Callable[[int, CaptureResult], None]) -> bool:
        """Read the worker's lines (one per revision, then the end); False if it broke off."""
        reader = _LineReader(stream)
        received: set[int] = set()
        while True:
            # Each revision has the whole time limit, and one in a shared child that hangs is
            # run again alone: at most two limits between lines, plus some slack.
            line = reader.line(2 * self.timeout + 30)
            if not line:
                return False
            try:
                message = json.loads(line)
                if "end" in message:
                    return len(received) == count
                index = int(message["index"])
                if not 0 <= index < count:
                    raise ValueError
                result = _result(message["reply"])
            except (ValueError, KeyError, TypeError):
                return False
            received.add(index)
            deliver(index, result)


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


_WORKERS: dict[tuple[tuple[tuple[str, str], ...], float, str | None], CaptureWorker] = {}


def shared_worker(env: dict[str, str], timeout: float, dialect: str | None = None) -> CaptureWorker:
    """One worker per environment and time limit for the life of this process: starting one
    costs an interpreter and an Alembic import, and the worker itself never runs revision code
    (each revision gets a fresh fork), so reusing it is safe."""
    key = (tuple(sorted(env.items())), timeout, dialect)
    worker = _WORKERS.get(key)
    if worker is None:
        if not _WORKERS:
            atexit.register(_close_all)
        while len(_WORKERS) >= 4:  # environments change (tests, long-lived hosts): keep a few
            _WORKERS.pop(next(iter(_WORKERS))).close()
        worker = _WORKERS[key] = CaptureWorker(timeout=timeout, env=env, dialect=dialect)
    return worker


def _close_all() -> None:
    for worker in _WORKERS.values():
        worker.close()
    _WORKERS.clear()


class _LineReader:
    """Lines from a pipe, each within a time limit."""

    def __init__(self, stream: Any) -> None:
        self.fd = stream.fileno()
        self.buffer = b""

    def line(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                continue
            data = os.read(self.fd, 1 << 16)
            if not data:
                return b""
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line + b"\n"


# --- the worker side ------------------------------------------------------------------------------


def _serve() -> None:
    # The protocol channel is a private copy of stdout; fd 1 itself goes nowhere, so a stray
    # print in the worker (or a child that finds fd 1) cannot forge a reply.
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)
    _warm_up(tuple(sys.argv[1:]) or ("postgresql", "mysql", "mariadb"))
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
            parallel = max(1, min(int(request.get("parallel", 1)), 16))

            def emit(index: int, reply: dict[str, Any]) -> None:
                channel.write(json.dumps({"index": index, "reply": reply}) + "\n")
                channel.flush()

            _many(request["batch"], scratch, channel.fileno(), devnull, parallel, emit)
            channel.write(json.dumps({"end": len(request["batch"])}) + "\n")
            channel.flush()
    finally:
        with contextlib.suppress(OSError):
            for name in os.listdir(scratch):
                os.unlink(os.path.join(scratch, name))
            os.rmdir(scratch)


def _warm_up(dialects: tuple[str, ...]) -> None:
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
    for dialect in dialects:
        target = Target.default(dialect)  # type: ignore[arg-type]  # argv: one of the three
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

        for dialect in dialects:
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


@dataclass
class _Child:
    #: The requests this child captures, in order (one, or a chunk of inert revisions).
    job: list[int]
    pid: int
    fd: int
    deadline: float
    timeout: float
    #: What the child's revisions print, one file (unlinked) for all, and how far it is read.
    output: int = -1
    output_pos: int = 0
    #: Replies received so far (one line each) and the bytes of a line not yet complete.
    done: int = 0
    pending: bytes = b""


#: At most this many inert revisions share one child.
CHUNK = 50


def _jobs(requests: list[dict[str, Any]], parallel: int) -> list[list[int]]:
    """A child per revision, except inert ones (see :mod:`expandcontract.migrations.inert`),
    which share a child in chunks (at least two chunks per core, so the cores stay busy)."""
    from expandcontract.migrations.inert import is_inert

    inert: list[int] = []
    alone: list[int] = []
    for index, request in enumerate(requests):
        shareable = request.get("inert")
        if not isinstance(shareable, bool):
            try:
                shareable = is_inert(Path(request["path"]).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, KeyError, TypeError):
                shareable = False
        (inert if shareable else alone).append(index)
    size = max(1, min(CHUNK, -(-len(inert) // (2 * parallel))))
    chunks = [inert[i : i + size] for i in range(0, len(inert), size)]
    return [[i] for i in alone] + chunks


def _many(
    requests: list[dict[str, Any]],
    scratch: str,
    channel: int,
    devnull: int,
    parallel: int,
    emit: Callable[[int, dict[str, Any]], None],
) -> None:
    """Capture the requests in children, ``parallel`` at a time (see :func:`_jobs`), and
    ``emit`` each reply as soon as it is known."""
    from expandcontract.sql.codec import encode_changes

    if not hasattr(os, "fork"):  # pragma: no cover - Windows: capture here, with less isolation
        from expandcontract.migrations.capture import capture_request

        for index, r in enumerate(requests):
            emit(index, {"changes": encode_changes(capture_request(r)), "output": ""})
        return
    pending = _jobs(requests, parallel)
    running: dict[int, _Child] = {}
    while pending or running:
        while pending and len(running) < parallel:
            child = _spawn(pending.pop(0), requests, scratch, channel, devnull)
            running[child.fd] = child
        now = time.monotonic()
        wait = max(0.0, min(child.deadline for child in running.values()) - now)
        ready, _, _ = select.select(list(running), [], [], wait)
        for fd in ready:
            child = running[fd]
            data = os.read(fd, 1 << 16)
            if data:
                _received(child, data, emit)
                continue
            del running[fd]
            pending += _ended(child, emit, timed_out=False)
        now = time.monotonic()
        for fd, child in list(running.items()):
            if now >= child.deadline:
                del running[fd]
                pending += _ended(child, emit, timed_out=True)


def _received(child: _Child, data: bytes, emit: Callable[[int, dict[str, Any]], None]) -> None:
    """A child's reply lines: each completes the next revision of its job."""
    child.pending += data
    while b"\n" in child.pending and child.done < len(child.job):
        line, child.pending = child.pending.split(b"\n", 1)
        index = child.job[child.done]
        emit(index, _reply(line, child))
        child.done += 1
        child.deadline = time.monotonic() + child.timeout  # each revision has the whole time limit


def _ended(child: _Child, emit: Callable[[int, dict[str, Any]], None], *, timed_out: bool) -> list[list[int]]:
    """Reap a child; what it left undone is reported (one revision alone) or rerun alone."""
    from expandcontract.sql.codec import encode_changes

    os.close(child.fd)
    if timed_out:
        with contextlib.suppress(OSError):
            os.killpg(child.pid, signal.SIGKILL)  # the revision and anything it started
    _, status = os.waitpid(child.pid, 0)
    left = child.job[child.done :]
    output = _output(child, None)
    os.close(child.output)
    if len(child.job) > 1:
        # A shared child that ended early: every revision it did not finish gets a child of its own,
        # so whichever revision caused it is judged alone.
        return [[index] for index in left]
    for index in left:
        if timed_out:
            reason = f"capturing the revision timed out after {child.timeout:g}s (a loop at import or in upgrade()?)"
        else:
            code = os.waitstatus_to_exitcode(status)
            reason = f"the revision ended the capture process (exit status {code}: os._exit() or a crash)"
        emit(index, {"changes": encode_changes([c.RenderFailed(reason=reason, line=1)]), "output": output})
    return []


def _reply(line: bytes, child: _Child) -> dict[str, Any]:
    from expandcontract.sql.codec import encode_changes

    try:
        reply = json.loads(line)
        if not isinstance(reply, dict):
            raise ValueError
    except ValueError:
        reason = "the revision's capture process sent back something that is not a capture"
        return {"changes": encode_changes([c.RenderFailed(reason=reason, line=1)]), "output": _output(child, None)}
    end = reply.pop("output_end", None)
    reply["output"] = _output(child, end if isinstance(end, int) else None)
    return reply


def _spawn(job: list[int], requests: list[dict[str, Any]], scratch: str, channel: int, devnull: int) -> _Child:
    timeout = max(float(requests[i].get("timeout", 30)) for i in job)
    # One output file per child (creating a file costs about a millisecond here), unlinked at
    # once: each reply says where its revision's output ends.
    path = os.path.join(scratch, f"output-{job[0]}")
    output = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    os.unlink(path)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: runs the revisions, then leaves without cleanup
        try:
            os.close(read_end)
            os.close(channel)
            os.setsid()
            os.dup2(devnull, 0)
            os.dup2(output, 1)
            os.dup2(output, 2)
            os.close(output)
            for index in job:
                _capture_in_child(requests[index], write_end)
        finally:
            os._exit(0)
    os.close(write_end)
    return _Child(job, pid, read_end, time.monotonic() + timeout, timeout, output)


def _capture_in_child(request: dict[str, Any], write_end: int) -> None:
    """One revision in a child: its output to the child's output file, its reply as one line
    (with where that output ends)."""
    from expandcontract.sql.codec import encode_changes

    try:
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
    with contextlib.suppress(OSError):
        end = os.lseek(1, 0, os.SEEK_CUR)
        data = data[:-1] + f', "output_end": {end}}}'.encode()
    view = memoryview(data + b"\n")
    while view:
        view = view[os.write(write_end, view) :]


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


def _output(child: _Child, end: int | None) -> str:
    """What the child printed since the last reply, up to ``end`` (None: all there is)."""
    try:
        size = os.fstat(child.output).st_size
        end = size if end is None or not child.output_pos <= end <= size else end
        data = os.pread(child.output, min(end - child.output_pos, OUTPUT_LIMIT + 1), child.output_pos)
    except OSError:
        return ""
    child.output_pos = end
    text = data[:OUTPUT_LIMIT].decode("utf-8", errors="replace")
    return text + ("\n[... truncated]" if len(data) > OUTPUT_LIMIT else "")


if __name__ == "__main__":
    _serve()
