"""Running an online tool: argv lists only, stdout parsed line by line, a tail of stderr kept
for the error message, and Ctrl-C / SIGTERM turned into a clean abort."""

from __future__ import annotations

import collections
import contextlib
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from typing import Any


class Interrupted(Exception):
    """Ctrl-C or SIGTERM arrived while the tool ran."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


class ToolProcess:
    def __init__(
        self,
        argv: list[str],
        *,
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.argv = argv
        self.on_stdout = on_stdout
        self.stdout_tail: collections.deque[str] = collections.deque(maxlen=50)
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=200)
        try:
            self.proc = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                bufsize=1,
                env=env,
                stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            from expandcontract.online.preflight import OnlineRefused

            raise OnlineRefused("-", [f"{argv[0]} is not installed or not executable"]) from None
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout_tail, on_stdout), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr_tail, on_stderr), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _pump(stream: Any, tail: collections.deque[str], callback: Callable[[str], None] | None) -> None:
        for line in stream:
            line = line.rstrip("\n")
            tail.append(line)
            if callback is not None:
                with contextlib.suppress(Exception):
                    callback(line)

    def wait(self, timeout: float | None = None) -> int:
        code = self.proc.wait(timeout=timeout)
        for thread in self._threads:
            thread.join(timeout=5)
        return code

    def last_error(self) -> str | None:
        """The tool's own reason: gh-ost's last FATAL/ERROR log line, or the last stderr line."""
        for line in reversed(self.stderr_tail):
            if " FATAL " in f" {line} " or " ERROR " in f" {line} " or line.startswith(("FATAL", "ERROR")):
                return line
        # stderr carries the tool's logs and errors; stdout only progress.
        for tail in (self.stderr_tail, self.stdout_tail):
            for line in reversed(tail):
                if line.strip():
                    return line.strip()
        return None


_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name))
_guard = {"depth": 0, "raised": False}


@contextlib.contextmanager
def interrupts_as_exception() -> Iterator[None]:
    """While the tool runs and while it is cleaned up after, SIGTERM, SIGINT and SIGHUP (a
    dropped ssh session) raise Interrupted - once. Later signals are ignored until the
    outermost guard exits, so a burst of Ctrl-Cs cannot cut the cleanup short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if _guard["raised"]:
            return  # already aborting: let the cleanup finish
        _guard["raised"] = True
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in _SIGNALS}
    _guard["depth"] += 1
    try:
        yield
    finally:
        _guard["depth"] -= 1
        for s, h in previous.items():
            signal.signal(s, h)
        if _guard["depth"] == 0:
            _guard["raised"] = False
