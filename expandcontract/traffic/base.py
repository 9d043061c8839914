"""Types shared by every traffic backend."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from expandcontract.errors import ConfigError, ExpandContractError

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class SwitchError(ExpandContractError):
    """The proxy refused a change, or did not show it in time; ``observed`` is what it reported.

    ``moved`` is False when the proxy was seen routing as before (nothing to put back);
    ``restored`` is True when traffic was put back and the proxy confirmed it, False when
    putting it back failed too (the proxy state is then ``observed``), None when not tried."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        observed: TrafficState | None = None,
        moved: bool | None = None,
        restored: bool | None = None,
    ) -> None:
        self.observed = observed
        self.moved = moved
        self.restored = restored
        super().__init__(message)


class ProxyConfigError(SwitchError):
    """The proxy and ec's switch configuration disagree (an unknown server, a config that does
    not validate): nothing was moved. A configuration error, so exit 2."""

    exit_code = 2

    def __init__(self, message: str, *, observed: TrafficState | None = None) -> None:
        super().__init__(message, observed=observed, moved=False)


def check_name(value: str, what: str) -> str:
    """Names end up in socket commands and config files: no spaces, newlines or separators."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ConfigError(f"invalid {what} {value!r}: use 1-64 letters, digits, '_', '.' or '-'")
    return value


def check_address(value: str, what: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_.:\[\]-]{1,255}", value):
        raise ConfigError(f"invalid {what} {value!r}: expected host:port")
    return value


@dataclass(frozen=True)
class ColorTraffic:
    #: Share of new requests, percent (0-100) across the colors the backend knows.
    weight: int
    #: ``ready`` (takes traffic when weighted), ``drain``, ``maint``/``down``, or ``unknown``.
    admin: str = "ready"
    #: True: a health check passed (and is current); False: it fails or the server is down;
    #: None: the backend cannot tell (no checks, in maintenance, or a check not yet run).
    healthy: bool | None = None
    #: Current sessions on the proxy (HAProxy ``scur``), when it can tell.
    sessions: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {"weight": self.weight, "admin": self.admin, "healthy": self.healthy, "sessions": self.sessions}


@dataclass(frozen=True)
class TrafficState:
    backend: str
    colors: dict[str, ColorTraffic]
    #: ``live`` (asked the proxy) or ``configured`` (read from its configuration).
    source: str = "live"
    detail: dict[str, object] = field(default_factory=dict)

    def weights(self) -> dict[str, int]:
        return {color: c.weight for color, c in self.colors.items()}

    def carries_traffic(self, color: str) -> bool:
        c = self.colors.get(color)
        return c is not None and c.weight > 0 and c.admin == "ready"

    @property
    def live(self) -> str | None:
        """The color taking all traffic, or None during a canary."""
        full = [color for color, c in self.colors.items() if c.weight == 100 and c.admin == "ready"]
        return full[0] if len(full) == 1 else None

    def to_dict(self) -> dict[str, object]:
        return {
            "backend": self.backend,
            "source": self.source,
            "colors": {k: v.to_dict() for k, v in self.colors.items()},
        }


class SwitchBackend(Protocol):
    name: str
    colors: tuple[str, ...]

    def observe(self) -> TrafficState: ...

    def apply(self, weights: Mapping[str, int], *, verified: frozenset[str] = frozenset()) -> None:
        """Route ``weights`` (percent, summing to 100): bring colors gaining traffic up and
        confirm a passing health check before they get weight, then take it from the others.
        ``verified``: colors whose health the caller already checked (a check URL)."""

    def persist(self) -> None:
        """Make the current routing survive a restart or reload."""

    def confirms_health(self, color: str) -> bool:
        """Whether this backend itself confirms ``color`` is healthy before or while it gets
        traffic (a proxy health check, a probe through the proxy)."""


def run_command(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """A proxy tool (``haproxy -c``, ``nginx -t``, a reload): missing or hanging is a SwitchError."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise SwitchError(f"{cmd[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise SwitchError(f"{cmd[0]} did not finish within {timeout:g}s") from None


def normalise(raw: Mapping[str, int]) -> dict[str, int]:
    """Raw weights (any scale) to percentages that sum to 100 (or all 0)."""
    total = sum(max(v, 0) for v in raw.values())
    if total == 0:
        return {k: 0 for k in raw}
    shares = {k: round(max(v, 0) * 100 / total) for k, v in raw.items()}
    drift = 100 - sum(shares.values())
    if drift and shares:
        top = max(shares, key=lambda k: shares[k])
        shares[top] += drift
    return shares
