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
        from expandcontract.sql.codec import CodecError, decode_changes

        request = {
            "config_file": str(config_file) if config_file else None,
            "path": str(rev.path),
            "dialect": target.dialect,
            "version": list(target.version),
            "sys_path": [str(p) for p in sys_path] + [p for p in sys.path if p],
            "timeout": self.timeout,
        }
        for attempt in (1, 2):
            proc = self._start()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write((json.dumps(request) + "\n").encode())
                proc.stdin.flush()
                line = _read_line(proc.stdout, self.timeout + 30)
            except (OSError, TimeoutError):
                line = b""
            if line:
                break
            # The worker itself died or hung (it never runs revision code): start a new one.
            self.close()
            if attempt == 2:
                return CaptureResult([c.RenderFailed(reason="the capture worker failed; rerun with -v", line=1)])
        try:
            reply = json.loads(line)
            changes = decode_changes(reply["changes"])
        except (ValueError, KeyError, TypeError, CodecError) as error:
            changes = [c.RenderFailed(reason=f"the capture sent back something ec cannot read ({error})", line=1)]
            reply = {}
        return CaptureResult(changes, str(reply.get("output", ""))[:OUTPUT_LIMIT])


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
    # Preload what every capture needs, so each fork starts warm.
    import alembic.operations  # noqa: F401
    import sqlalchemy  # noqa: F401

    import expandcontract.migrations.capture  # noqa: F401

    scratch = tempfile.mkdtemp(prefix="ec-capture-")
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            reply = _one(json.loads(line), scratch, channel.fileno(), devnull)
            channel.write(json.dumps(reply) + "\n")
            channel.flush()
    finally:
        with contextlib.suppress(OSError):
            for name in os.listdir(scratch):
                os.unlink(os.path.join(scratch, name))
            os.rmdir(scratch)


def _one(request: dict[str, Any], scratch: str, channel: int, devnull: int) -> dict[str, Any]:
    from expandcontract.sql.codec import encode_changes

    timeout = float(request.get("timeout", 30))
    output_path = os.path.join(scratch, "output")
    if not hasattr(os, "fork"):  # pragma: no cover - Windows: capture here, with less isolation
        from expandcontract.migrations.capture import capture_request

        return {"changes": encode_changes(capture_request(request)), "output": ""}
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

            changes = capture_request(request)
            data = json.dumps({"changes": encode_changes(changes)}).encode()
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
    received, timed_out = _collect(read_end, timeout)
    os.close(read_end)
    if timed_out:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)  # the revision and anything it started
    _, status = os.waitpid(pid, 0)
    output = _output(output_path)
    if timed_out:
        reason = f"capturing the revision timed out after {timeout:g}s (a loop at import or in upgrade()?)"
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


def _collect(fd: int, timeout: float) -> tuple[bytes, bool]:
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"".join(chunks), True
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        data = os.read(fd, 1 << 16)
        if not data:
            return b"".join(chunks), False
        chunks.append(data)


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
