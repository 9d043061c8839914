"""HAProxy: the runtime API over the admin socket, or a config rewrite plus graceful reload.

Measured on HAProxy 2.6 (shared/reference/switch.md): enabling the new color *before*
draining the old one lost 0 of ~81,000 requests; the other order lost thousands. A runtime
change is lost on a plain reload unless server state is saved (``state_file`` here, with
``server-state-file`` / ``load-server-state-from-file`` in the config).
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from expandcontract.errors import ConfigError
from expandcontract.fileio import write_text
from expandcontract.linesocket import send_line
from expandcontract.traffic.base import (
    ColorTraffic,
    ProxyConfigError,
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
#: ``show servers state`` srv_check_state bit: a health check is configured for the server.
_CHECK_CONFIGURED = 0x02


def parse_health(status: str, check_status: str) -> tuple[str, bool | None]:
    """``(admin, healthy)`` from ``show stat``'s ``status`` and ``check_status`` (HAProxy 2.x).

    Measured on 2.6: a check in progress is shown as ``* L7OK`` (the last result, still
    valid); right after ``state ready`` a server shows ``UP 1/2`` with the check result it had
    *before* maintenance (stale: a dead server reads ``UP 1/2 L7OK`` until its first check);
    ``UP n/m`` and ``DOWN n/m`` are transitions. So healthy means a plain ``UP`` (or ``DRAIN``)
    with a passing check, down means ``DOWN``/``NOLB``, and everything else is unknown."""
    status = status.strip()
    check = check_status.strip().removeprefix("*").strip()
    base = re.split(r"[\s(]", status, maxsplit=1)[0].upper()
    transitional = re.search(r"\d+/\d+", status) is not None
    admin = {"MAINT": "maint", "DRAIN": "drain"}.get(base, "ready")
    if base in ("DOWN", "NOLB"):
        return admin, False
    if base in ("UP", "DRAIN") and not transitional and check in _PASSING:
        return admin, True
    return admin, None


#: srv_admin_state bits: forced/inherited/resolution maintenance, forced/inherited drain.
#: 0x04 (maintenance from the configuration) stays set after ``state ready``, so it is ignored.
_ADMIN_MAINT, _ADMIN_DRAIN = 0x01 | 0x02 | 0x20, 0x08 | 0x10


def _server_states(sock: HaproxySocket, backend: str) -> dict[str, dict[str, str]]:
    """``show servers state <backend>`` by server name (admin bits, check configuration)."""
    text = sock.send(f"show servers state {backend}")
    lines = text.splitlines()
    if not lines or not lines[0].strip().startswith("1"):
        raise SwitchError(f"unexpected answer to 'show servers state': {text[:200]!r}")
    header = next((line[1:].split() for line in lines if line.startswith("#")), [])
    out = {}
    for line in lines[1:]:
        if line.strip() and not line.startswith("#"):
            fields = dict(zip(header, line.split(), strict=False))
            if "srv_name" in fields:
                out[fields["srv_name"]] = fields
    return out


def _int(fields: Mapping[str, str], key: str) -> int:
    try:
        return int(fields.get(key) or 0)
    except ValueError:
        return 0


def _observe(sock: HaproxySocket, backend: str, servers: Mapping[str, str], name: str) -> TrafficState:
    rows = {r["svname"]: r for r in sock.stats() if r.get("pxname") == backend}
    flags = _server_states(sock, backend)
    raw: dict[str, int] = {}
    states: dict[str, tuple[str, bool | None, int | None]] = {}
    for color, server in servers.items():
        row = rows.get(server)
        if row is None:
            raise ProxyConfigError(
                f"HAProxy has no server {backend}/{server} (for {color}); "
                f"it has {', '.join(sorted(k for k in rows if k not in ('FRONTEND', 'BACKEND'))) or 'none'}"
            )
        admin, healthy = parse_health(row.get("status") or "", row.get("check_status") or "")
        # A drained or maintained server that fails its checks shows "DOWN": the admin bits
        # still say what it is told to do.
        bits = _int(flags.get(server, {}), "srv_admin_state")
        if bits & _ADMIN_MAINT:
            admin = "maint"
        elif bits & _ADMIN_DRAIN and admin == "ready":
            admin = "drain"
        weight = int(row.get("weight") or 0)
        # The share is what the proxy is told to route (admin state and weight); health is
        # reported beside it, so a check in flight never reads as a change of routing.
        raw[color] = weight if admin == "ready" else 0
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
            "checking": {c: (rows[s].get("check_status") or "").startswith("*") for c, s in servers.items()},
            "weights": {c: int(rows[s].get("weight") or 0) for c, s in servers.items()},
            "check_failures": {c: int(rows[s].get("chkfail") or 0) for c, s in servers.items()},
        },
    )


def _checks_configured(sock: HaproxySocket, backend: str, servers: Mapping[str, str]) -> dict[str, bool]:
    """Which servers have a health check configured (known even while in maintenance)."""
    states = _server_states(sock, backend)
    return {c: bool(_int(states.get(s, {}), "srv_check_state") & _CHECK_CONFIGURED) for c, s in servers.items()}


def _wait_healthy(
    observe: Callable[[], TrafficState],
    colors: list[str],
    timeout: float,
    *,
    unverifiable_ok: frozenset[str] = frozenset(),
    failures_before: Mapping[str, int] | None = None,
) -> TrafficState:
    """Poll until every color shows a current passing health check."""
    deadline = time.monotonic() + timeout
    while True:
        state = observe()
        waiting = [c for c in colors if not state.colors[c].healthy and c not in unverifiable_ok]
        if not waiting:
            return state
        if time.monotonic() >= deadline:
            checks: dict[str, str] = state.detail.get("checks", {})  # type: ignore[assignment]
            statuses: dict[str, str] = state.detail.get("statuses", {})  # type: ignore[assignment]
            failed: dict[str, int] = state.detail.get("check_failures", {})  # type: ignore[assignment]
            parts = []
            for c in waiting:
                since = failed.get(c, 0) - (failures_before or {}).get(c, 0)
                extra = f", {since} failed check(s)" if since > 0 else ""
                parts.append(f"{c}: {statuses.get(c) or '?'} {checks.get(c) or 'no check result'}{extra}")
            raise SwitchError(
                f"{', '.join(waiting)} showed no passing health check within {timeout:g}s ({'; '.join(parts)})",
                observed=state,
            )
        time.sleep(0.02)


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

    def _target(self, color: str) -> str:
        return f"{self.backend}/{self.servers[color]}"

    def _run(self, commands: list[str]) -> None:
        if not commands:
            return
        answer = self.sock.send("; ".join(commands)).strip()
        if answer:
            raise SwitchError(f"HAProxy refused '{'; '.join(commands)}': {answer.splitlines()[0]}")

    def observe(self) -> TrafficState:
        return _observe(self.sock, self.backend, self.servers, self.name)

    def confirms_health(self, color: str) -> bool:
        return _checks_configured(self.sock, self.backend, {color: self.servers[color]})[color]

    def apply(self, weights: Mapping[str, int], *, verified: frozenset[str] = frozenset()) -> None:
        before = self.observe()
        raw: dict[str, int] = before.detail["weights"]  # type: ignore[assignment]
        gaining = [c for c in self.colors if weights.get(c, 0) > 0]
        losing = [c for c in self.colors if weights.get(c, 0) == 0 and before.colors[c].admin == "ready"]
        checked = _checks_configured(self.sock, self.backend, {c: self.servers[c] for c in gaining})
        # A color that serves already and passes its checks keeps serving while its weight
        # changes; any other is brought up at weight 0 and must pass a check first.
        warm = [c for c in gaining if not (before.colors[c].weight > 0 and before.colors[c].healthy)]
        commands = []
        for color in warm:
            target = self._target(color)
            commands.append(f"set weight {target} 0")
            if before.colors[color].admin != "ready":
                commands.append(f"set server {target} state ready")
                if checked[color] and before.colors[color].admin == "maint":
                    # Leaving maintenance marks the server UP with the check result it had
                    # before; forcing it down makes it earn UP with a fresh passing check.
                    commands.append(f"set server {target} health down")
        try:
            self._run(commands)
            if warm:
                _wait_healthy(
                    self.observe,
                    warm,
                    self.ready_timeout,
                    unverifiable_ok=frozenset(c for c in warm if c in verified and not checked[c]),
                    failures_before=before.detail.get("check_failures"),  # type: ignore[arg-type]
                )
        except SwitchError as error:
            self._undo(warm, before, raw)
            raise SwitchError(f"{error}; nothing was moved", observed=error.observed, moved=False) from None
        self._run([f"set weight {self._target(c)} {int(weights[c])}" for c in gaining])
        self._run([f"set server {self._target(c)} state drain" for c in losing])

    def _undo(self, colors: list[str], before: TrafficState, raw: Mapping[str, int]) -> None:
        """Put warmed-up colors back as they were (best effort: the caller reports the failure)."""
        commands = []
        for color in colors:
            target = self._target(color)
            admin = before.colors[color].admin
            if admin in ("maint", "drain"):
                commands.append(f"set server {target} state {admin}")
            commands.append(f"set weight {target} {int(raw.get(color, 0))}")
        with contextlib.suppress(SwitchError):
            self._run(commands)

    def persist(self) -> None:
        if self.state_file is None:
            return
        state = self.sock.send("show servers state")
        if not state.startswith("1"):
            raise SwitchError(f"unexpected answer to 'show servers state': {state[:200]!r}")
        write_text(self.state_file, state)


_SECTION = re.compile(
    r"^(global|defaults|frontend|backend|listen|peers|resolvers|userlist|program|cache|ring|"
    r"mailers|http-errors)\b",
    re.M,
)


class HaproxyConfigBackend:
    """Rewrites the backend's ``server`` lines (``weight N`` / ``disabled``), checks the new file
    with ``haproxy -c``, replaces it in place of the old one and reloads gracefully. A config
    that fails the check never reaches the running proxy.

    A color gaining traffic is first enabled at weight 0 (one reload) and must pass its health
    check, read on the stats socket, before the weights move (a second reload). Reloading with
    ``-sf`` signals every process serving this config, not only the one in the pidfile: two
    overlapping reloads once left a process that no pidfile named serving the old config."""

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
        ready_timeout: float = 10.0,
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
        self.ready_timeout = ready_timeout
        if not self.pidfile and not self.reload_command:
            raise ConfigError("haproxy-config needs pidfile (to reload with -sf) or reload-command")

    # --- the file ------------------------------------------------------------------------

    def _read(self) -> str:
        try:
            return self.config.read_text(encoding="utf-8")
        except OSError as error:
            raise ProxyConfigError(f"cannot read {self.config}: {error.strerror or error}") from None

    def _server_lines(self, text: str) -> dict[str, tuple[int, bool]]:
        """Configured ``(weight, disabled)`` per color, as the file says."""
        found: dict[str, tuple[int, bool]] = {}
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
                        found[color] = (weight, "disabled" in tokens)
        return found

    def render(self, text: str, weights: Mapping[str, int], *, warm: frozenset[str] = frozenset()) -> str:
        """The config with each color's server at its weight (``disabled`` at 0); colors in
        ``warm`` enabled at weight 0, so their checks run while they take no traffic."""
        by_server = {s: (int(weights.get(c, 0)), c in warm) for c, s in self.servers.items()}
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
                weight, warming = by_server[m.group(2)]
                if warming:
                    kept += ["weight", "0"]
                else:
                    kept += ["weight", str(weight if weight > 0 else 1)] + (["disabled"] if weight == 0 else [])
                line = f"{m.group(1)}server {m.group(2)} {' '.join(kept)}\n"
                seen.add(m.group(2))
            out.append(line)
        missing = set(by_server) - seen
        if missing:
            raise ProxyConfigError(
                f"backend {self.backend} in {self.config} has no server line for {', '.join(sorted(missing))}"
            )
        return "".join(out)

    def _configured_weights(self, text: str) -> dict[str, int]:
        lines = self._server_lines(text)
        return {c: 0 if lines.get(c, (0, True))[1] else lines[c][0] for c in self.colors}

    # --- backend protocol ----------------------------------------------------------------

    def observe(self) -> TrafficState:
        if self.sock is not None:
            return _observe(self.sock, self.backend, self.servers, self.name)
        shares = normalise(self._configured_weights(self._read()))
        return TrafficState(self.name, {c: ColorTraffic(w) for c, w in shares.items()}, "configured")

    def confirms_health(self, color: str) -> bool:
        return self.sock is not None

    def apply(self, weights: Mapping[str, int], *, verified: frozenset[str] = frozenset()) -> None:
        original = self._read()
        current = self._configured_weights(original)
        gaining = [c for c in self.colors if weights.get(c, 0) > 0]
        warm = frozenset(c for c in gaining if current[c] == 0)
        if warm and self.sock is not None:
            self._install(self.render(original, current, warm=warm))
            try:
                _wait_healthy(self.observe, sorted(warm), self.ready_timeout)
            except SwitchError as error:
                self._install(original)
                raise SwitchError(f"{error}; nothing was moved", observed=error.observed, moved=False) from None
        self._install(self.render(self._read(), weights))

    def persist(self) -> None:
        return None  # the configuration file is the state

    # --- validate, write, reload ---------------------------------------------------------

    def _install(self, text: str) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.config.parent, prefix=f".{self.config.name}.", suffix=".check")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            check = self._exec([self.haproxy, "-c", "-f", tmp])
        finally:
            os.unlink(tmp)
        if check.returncode != 0:
            lines = [line.strip() for line in (check.stderr + check.stdout).splitlines() if line.strip()]
            alerts = [line for line in lines if "ALERT" in line] or lines
            raise ProxyConfigError(
                "the new HAProxy configuration does not validate, the running proxy is untouched: "
                + " | ".join(alert.replace(tmp, str(self.config)) for alert in alerts[:5])
            )
        write_text(self.config, text)
        self._reload()

    def _exec(self, cmd: list[str]) -> subprocess.CompletedProcess[str]:
        return run_command(cmd, self.timeout)

    def _reload(self) -> None:
        if self.reload_command:
            result = self._exec(list(self.reload_command))
            if result.returncode != 0:
                raise SwitchError(f"HAProxy reload failed: {(result.stderr or result.stdout).strip()[:300]}")
            return
        assert self.pidfile is not None
        old = sorted(set(_pids_in(self.pidfile)) | set(self.serving_processes()))
        soft_stop = ["-sf", *map(str, old)] if old else []
        # Take the listening sockets over from the old process (needs `expose-fd listeners` on
        # the stats socket): otherwise connections waiting in its accept queue are reset.
        handover = ["-x", self.sock.address] if old and self.sock and self.sock.address.startswith("/") else []
        command = [self.haproxy, "-f", str(self.config), "-D", "-p", str(self.pidfile)]
        result = self._exec([*command, *handover, *soft_stop])
        if handover and result.returncode != 0 and "Failed to get the sockets" in result.stderr + result.stdout:
            logging.getLogger("expandcontract.traffic").warning(
                "HAProxy could not hand its listening sockets over (add `expose-fd listeners` to the stats "
                "socket line): reloading without, so connections waiting to be accepted may be reset"
            )
            result = self._exec([*command, *soft_stop])
        if result.returncode != 0:
            raise SwitchError(f"HAProxy reload failed: {(result.stderr or result.stdout).strip()[:300]}")
        new = [pid for pid in _pids_in(self.pidfile) if pid not in old]
        if not new:
            raise SwitchError(f"HAProxy reload wrote no new process id to {self.pidfile}")

    def serving_processes(self) -> list[int]:
        """Every live haproxy process started on this config file (found in /proc)."""
        wanted = str(self.config)
        found = []
        for entry in Path("/proc").glob("[0-9]*") if Path("/proc/self").exists() else []:
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            args = [a.decode(errors="replace") for a in argv if a]
            if not args or Path(args[0]).name != Path(self.haproxy).name:
                continue
            if any(a == "-f" and i + 1 < len(args) and args[i + 1] == wanted for i, a in enumerate(args)):
                found.append(int(entry.name))
        return found


def _pids_in(pidfile: Path) -> list[int]:
    try:
        text = pidfile.read_text()
    except FileNotFoundError:
        return []
    pids = []
    for token in text.split():
        if token.isdigit():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(token), 0)
                pids.append(int(token))
    return pids
