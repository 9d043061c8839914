"""nginx: an upstream file rewritten, checked with ``nginx -t``, then a graceful reload.

Open-source nginx has no runtime API. Its reload is asynchronous: right after
``nginx -s reload`` returns, a new request can still reach the old color, so the switch is
confirmed by probing a URL that names the color, not by the exit code.
"""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from expandcontract.errors import ConfigError
from expandcontract.fileio import write_text
from expandcontract.traffic.base import (
    ColorTraffic,
    ProxyConfigError,
    SwitchError,
    TrafficState,
    check_address,
    check_name,
    normalise,
    run_command,
)


class NginxUpstreamBackend:
    name = "nginx"

    def __init__(
        self,
        upstream_file: str,
        upstream: str,
        servers: Mapping[str, str],
        nginx_conf: str,
        *,
        nginx: str = "nginx",
        probe_url: str | None = None,
        extra: list[str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.upstream_file = Path(upstream_file)
        self.upstream = check_name(upstream, "nginx upstream name")
        self.servers = {check_name(c, "color"): check_address(a, "upstream server address") for c, a in servers.items()}
        self.colors = tuple(self.servers)
        self.nginx_conf = nginx_conf
        self.nginx = nginx
        self.probe_url = probe_url
        self.extra = [e for e in (extra or []) if _safe_directive(e)]
        self.timeout = timeout

    def render(self, weights: Mapping[str, int]) -> str:
        lines = [f"# written by expandcontract; weights {dict(weights)}", f"upstream {self.upstream} {{"]
        for color, address in self.servers.items():
            weight = int(weights.get(color, 0))
            lines.append(f"    server {address} weight={weight};" if weight > 0 else f"    server {address} down;")
        lines += [f"    {e}" for e in self.extra]
        lines.append("}")
        return "\n".join(lines) + "\n"

    def observe(self) -> TrafficState:
        try:
            text = self.upstream_file.read_text(encoding="utf-8")
        except OSError as error:
            raise SwitchError(f"cannot read {self.upstream_file}: {error}") from None
        raw = {}
        for color, address in self.servers.items():
            m = re.search(rf"^\s*server\s+{re.escape(address)}(\s[^;]*)?;", text, re.M)
            options = (m.group(1) or "") if m else " down"
            weight = re.search(r"weight=(\d+)", options)
            raw[color] = 0 if "down" in options.split() else int(weight.group(1)) if weight else 1
        shares = normalise(raw)
        return TrafficState(
            self.name, {c: ColorTraffic(w, "ready" if w else "down") for c, w in shares.items()}, "configured"
        )

    def confirms_health(self, color: str) -> bool:
        return bool(self.probe_url)

    def apply(self, weights: Mapping[str, int], *, verified: frozenset[str] = frozenset()) -> None:
        previous = self.upstream_file.read_text(encoding="utf-8") if self.upstream_file.exists() else None
        self._write(self.render(weights))
        test = self._exec([self.nginx, "-t", "-q", "-c", self.nginx_conf])
        if test.returncode != 0:
            self._restore(previous)
            detail = [line for line in (test.stderr or test.stdout).strip().splitlines() if line.strip()]
            raise ProxyConfigError(
                "the new nginx configuration does not validate, the running nginx is untouched: "
                + " | ".join(detail[-3:])
            )
        reload = self._exec([self.nginx, "-c", self.nginx_conf, "-s", "reload"])
        if reload.returncode != 0:
            self._restore(previous)
            raise ProxyConfigError(f"nginx reload failed: {(reload.stderr or reload.stdout).strip()[:300]}")

    def confirm(self, weights: Mapping[str, int], timeout: float) -> None:
        """Probe until responses come only from colors that should get traffic."""
        if not self.probe_url:
            return
        wanted = {c for c, w in weights.items() if w > 0}
        deadline = time.monotonic() + timeout
        streak = 0
        while streak < 10:
            try:
                with urllib.request.urlopen(self.probe_url, timeout=2) as response:
                    color = response.read(64).decode(errors="replace").strip()
            except OSError:
                color = ""
            streak = streak + 1 if color in wanted else 0
            if time.monotonic() >= deadline:
                raise SwitchError(f"nginx still answers from {color or 'nowhere'} after {timeout:g}s")
            if streak < 10:
                time.sleep(0.02)

    def persist(self) -> None:
        return None  # the upstream file is the state

    def _write(self, text: str) -> None:
        write_text(self.upstream_file, text)

    def _restore(self, previous: str | None) -> None:
        if previous is None:
            self.upstream_file.unlink(missing_ok=True)
        else:
            self._write(previous)

    def _exec(self, cmd: list[str]) -> subprocess.CompletedProcess[str]:
        return run_command(cmd, self.timeout)


def _safe_directive(text: str) -> bool:
    if not re.fullmatch(r"[A-Za-z_]+( [A-Za-z0-9_.:=-]+)*;", text.strip()):
        raise ConfigError(f"invalid extra upstream directive {text!r}")
    if text.split()[0] in ("server", "zone", "include"):
        # A server ec does not manage would get traffic that no switch, check or retire sees.
        raise ConfigError(f"extra upstream directive {text!r}: ec writes the server lines itself (servers = ...)")
    return True
