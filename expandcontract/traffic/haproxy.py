"""HAProxy: the runtime API over the admin socket, or a config rewrite plus graceful reload.

Measured on HAProxy 2.6 (shared/reference/switch.md): enabling the new color *before*
draining the old one lost 0 of ~81,000 requests; the other order lost thousands. A runtime
change is lost on a plain reload unless server state is saved (``state_file`` here, with
``server-state-file`` / ``load-server-state-from-file`` in the config).
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from expandcontract.linesocket import send_line
from expandcontract.traffic.base import (
    ColorTraffic,
    SwitchError,
    TrafficState,
    check_name,
    normalise,
    run_command,
)


class HaproxySocket:
    """One command per connection on the stats/admin socket (a path, or host:port)."""

    def __init__(self, address: str, timeout: float = 2.0) -> None:
        self.address = address
        self.timeout = timeout

    def send(self, line: str) -> str:
        if "\n" in line or "\r" in line:
            raise SwitchError("refusing a socket command with a line break")
        try:
            return send_line(self.address, line, self.timeout)
        except (OSError, ValueError) as error:
            raise SwitchError(f"cannot reach the HAProxy socket {self.address}: {error}") from None

    def stats(self) -> list[dict[str, str]]:
        text = self.send("show stat")
        lines = text.splitlines()
        if not lines or not lines[0].startswith("# "):
            raise SwitchError(f"unexpected answer to 'show stat': {text[:200]!r}")
        reader = csv.DictReader(io.StringIO("\n".join([lines[0][2:], *lines[1:]])))
        return list(reader)


_PASSING = {"L4OK", "L6OK", "L7OK", "L7OKC"}
_PENDING = {"INI", "UNK"}


def _observe(sock: HaproxySocket, backend: str, servers: Mapping[str, str], name: str) -> TrafficState:
    rows = {r["svname"]: r for r in sock.stats() if r.get("pxname") == backend}
    raw: dict[str, int] = {}
    states: dict[str, tuple[str, bool | None, int | None]] = {}
    for color, server in servers.items():
        row = rows.get(server)
        if row is None:
            raise SwitchError(f"HAProxy has no server {backend}/{server} (for {color})")
        status = row.get("status", "")
        admin = "maint" if status.startswith("MAINT") else "drain" if status.startswith("DRAIN") else "ready"
        check = row.get("check_status", "") or ""
        # `state ready` reports UP at once; only a passing check says the app answers.
        healthy = (status.startswith("UP") or status == "no check") and (check in _PASSING or check == "")
        weight = int(row.get("weight") or 0)
        raw[color] = weight if admin == "ready" and healthy else 0
        scur = row.get("scur")
        states[color] = (admin, healthy, int(scur) if scur and scur.isdigit() else None)
    shares = normalise(raw)
    return TrafficState(
        name,
        {c: ColorTraffic(shares[c], states[c][0], states[c][1], states[c][2]) for c in servers},
        "live",
        {
            "statuses": {c: rows[s].get("status") for c, s in servers.items()},
            "checks": {c: (rows[s].get("check_status") or "").lstrip("* ") for c, s in servers.items()},
        },
    )


class HaproxyRuntimeBackend:
    name = "haproxy-runtime"

    def __init__(
        self,
        socket_address: str,
        backend: str,
        servers: Mapping[str, str],
        *,
        state_file: str | None = None,
        timeout: float = 2.0,
        ready_timeout: float = 5.0,
    ) -> None:
        self.sock = HaproxySocket(socket_address, timeout)
        self.backend = check_name(backend, "HAProxy backend name")
        self.servers = {check_name(c, "color"): check_name(s, "HAProxy server name") for c, s in servers.items()}
        self.colors = tuple(self.servers)
        self.state_file = Path(state_file) if state_file else None
        self.ready_timeout = ready_timeout

    def _run(self, commands: list[str]) -> None:
        answer = self.sock.send("; ".join(commands)).strip()
        if answer:
            raise SwitchError(f"HAProxy refused '{'; '.join(commands)}': {answer.splitlines()[0]}")

    def observe(self) -> TrafficState:
        return _observe(self.sock, self.backend, self.servers, self.name)

    def apply(self, weights: Mapping[str, int]) -> None:
        gaining = [c for c in self.colors if weights.get(c, 0) > 0]
        losing = [c for c in self.colors if weights.get(c, 0) == 0]
        if gaining:
            commands = []
            for color in gaining:
                target = f"{self.backend}/{self.servers[color]}"
                commands += [f"set server {target} state ready", f"set weight {target} {int(weights[color])}"]
            self._run(commands)
            self._wait_up(gaining)
        if losing:
            self._run([f"set server {self.backend}/{self.servers[c]} state drain" for c in losing])

    def _wait_up(self, colors: list[str]) -> None:
        """Only drain the old color once the new one passed a health check: the order that
        lost no request. (HAProxy reports a server UP as soon as it is enabled.)"""
        deadline = time.monotonic() + self.ready_timeout
        while True:
            state = self.observe()
            if all(state.colors[c].admin == "ready" and state.colors[c].healthy for c in colors):
                return
            checks: dict[str, str] = state.detail.get("checks", {})  # type: ignore[assignment]
            failing = {c: checks[c] for c in colors if checks.get(c) and checks[c] not in _PASSING | _PENDING}
            if failing or time.monotonic() >= deadline:
                why = (
                    ", ".join(f"{c}: {v}" for c, v in failing.items()) or f"no passing check in {self.ready_timeout:g}s"
                )
                raise SwitchError(f"{', '.join(colors)} did not come UP ({why}); nothing was drained", observed=state)
            time.sleep(0.02)

    def persist(self) -> None:
        if self.state_file is None:
            return
        state = self.sock.send("show servers state")
        if not state.startswith("1"):
            raise SwitchError(f"unexpected answer to 'show servers state': {state[:200]!r}")
        _write_atomically(self.state_file, state)


_SECTION = re.compile(
    r"^(global|defaults|frontend|backend|listen|peers|resolvers|userlist|program|cache|ring|"
    r"mailers|http-errors)\b",
    re.M,
)


class HaproxyConfigBackend:
    """Rewrites the backend's ``server`` lines (``weight N`` / ``disabled``), checks the new file
    with ``haproxy -c``, replaces it atomically and reloads gracefully. A config that fails
    the check never reaches the running proxy."""

    name = "haproxy-config"

    def __init__(
        self,
        config: str,
        backend: str,
        servers: Mapping[str, str],
        *,
        haproxy: str = "haproxy",
        pidfile: str | None = None,
        reload_command: list[str] | None = None,
        socket_address: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.config = Path(config)
        self.backend = check_name(backend, "HAProxy backend name")
        self.servers = {check_name(c, "color"): check_name(s, "HAProxy server name") for c, s in servers.items()}
        self.colors = tuple(self.servers)
        self.haproxy = haproxy
        self.pidfile = Path(pidfile) if pidfile else None
        self.reload_command = reload_command
        self.sock = HaproxySocket(socket_address) if socket_address else None
        self.timeout = timeout
        if not self.pidfile and not self.reload_command:
            from expandcontract.errors import ConfigError

            raise ConfigError("haproxy-config needs pidfile (to reload with -sf) or reload-command")

    def render(self, text: str, weights: Mapping[str, int]) -> str:
        by_server = {s: weights.get(c, 0) for c, s in self.servers.items()}
        out, in_backend, seen = [], False, set()
        for line in text.splitlines(keepends=True):
            if _SECTION.match(line):
                in_backend = line.split()[:2] == ["backend", self.backend]
            m = re.match(r"^(\s*)server\s+(\S+)\s+(.*?)(\s*)$", line) if in_backend else None
            if m and m.group(2) in by_server:
                tokens = m.group(3).split()
                kept, skip = [], False
                for token in tokens:
                    if skip:
                        skip = False
                        continue
                    if token == "weight":
                        skip = True
                        continue
                    if token in ("disabled", "enabled"):
                        continue
                    kept.append(token)
                weight = int(by_server[m.group(2)])
                kept += ["weight", str(weight if weight > 0 else 1)] + (["disabled"] if weight == 0 else [])
                line = f"{m.group(1)}server {m.group(2)} {' '.join(kept)}\n"
                seen.add(m.group(2))
            out.append(line)
        missing = set(by_server) - seen
        if missing:
            raise SwitchError(
                f"backend {self.backend} in {self.config} has no server line for {', '.join(sorted(missing))}"
            )
        return "".join(out)

    def observe(self) -> TrafficState:
        if self.sock is not None:
            return _observe(self.sock, self.backend, self.servers, self.name)
        text = self.config.read_text(encoding="utf-8")
        raw = {}
        in_backend = False
        for line in text.splitlines():
            if _SECTION.match(line):
                in_backend = line.split()[:2] == ["backend", self.backend]
            m = re.match(r"^\s*server\s+(\S+)\s+(.*)$", line) if in_backend else None
            if m:
                for color, server in self.servers.items():
                    if server == m.group(1):
                        tokens = m.group(2).split()
                        weight = int(tokens[tokens.index("weight") + 1]) if "weight" in tokens else 1
                        raw[color] = 0 if "disabled" in tokens else weight
        shares = normalise({c: raw.get(c, 0) for c in self.servers})
        return TrafficState(self.name, {c: ColorTraffic(w) for c, w in shares.items()}, "configured")

    def apply(self, weights: Mapping[str, int]) -> None:
        new = self.render(self.config.read_text(encoding="utf-8"), weights)
        fd, tmp = tempfile.mkstemp(dir=self.config.parent, prefix=f".{self.config.name}.", suffix=".new")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(new)
        try:
            check = self._exec([self.haproxy, "-c", "-q", "-f", tmp])
            if check.returncode != 0:
                detail = (check.stderr or check.stdout).strip().splitlines()
                raise SwitchError(
                    "the new HAProxy configuration does not validate, the running proxy is untouched: "
                    + " | ".join(detail[-3:])
                )
            os.replace(tmp, self.config)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self._reload()

    def _exec(self, cmd: list[str]) -> subprocess.CompletedProcess[str]:
        return run_command(cmd, self.timeout)

    def _reload(self) -> None:
        if self.reload_command:
            result = self._exec(list(self.reload_command))
        else:
            assert self.pidfile is not None
            pids = self.pidfile.read_text().split() if self.pidfile.exists() else []
            result = self._exec([self.haproxy, "-f", str(self.config), "-D", "-p", str(self.pidfile), "-sf", *pids])
        if result.returncode != 0:
            raise SwitchError(f"HAProxy reload failed: {(result.stderr or result.stdout).strip()[:300]}")

    def persist(self) -> None:
        return None  # the configuration file is the state


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
