"""The one place the safe order lives: check, apply, verify by observing, put back on failure."""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

from expandcontract.errors import ConfigError
from expandcontract.traffic.base import ProxyConfigError, SwitchBackend, SwitchError, TrafficState

log = logging.getLogger("expandcontract.traffic")


@dataclass(frozen=True)
class SwitchResult:
    desired: dict[str, int]
    before: TrafficState
    after: TrafficState
    #: Colors that got traffic without any health confirmation (``allow_unchecked``).
    unchecked: tuple[str, ...] = ()


def validate_weights(backend: SwitchBackend, weights: Mapping[str, int]) -> dict[str, int]:
    unknown = [c for c in weights if c not in backend.colors]
    if unknown:
        raise ConfigError(
            f"the {backend.name} backend has no color {', '.join(unknown)} (it knows {', '.join(backend.colors)})"
        )
    desired = {c: int(weights.get(c, 0)) for c in backend.colors}
    if any(not 0 <= w <= 100 for w in desired.values()) or sum(desired.values()) != 100:
        raise ConfigError(f"weights must be 0-100 and sum to 100, got {desired}")
    return desired


def smoke_check(url: str, color: str | None = None, timeout: float = 5.0) -> None:
    """A color's own health URL must answer 2xx before it gets any traffic."""
    who = f"{color}'s " if color else ""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise SwitchError(f"{who}check {url} failed before any traffic moved: {reason}", moved=False) from None
    if not 200 <= status < 300:
        raise SwitchError(f"{who}check {url} answered {status}; no traffic was moved", moved=False)


def matches(state: TrafficState, desired: Mapping[str, int]) -> bool:
    for color, weight in desired.items():
        observed = state.colors.get(color)
        if observed is None:
            return False
        if weight == 0:
            if state.carries_traffic(color):
                return False
        elif observed.admin != "ready" or abs(observed.weight - weight) > 1 or observed.healthy is False:
            return False
    return True


def set_weights(
    backend: SwitchBackend,
    weights: Mapping[str, int],
    *,
    verify_timeout: float = 5.0,
    checks: Mapping[str, str] | None = None,
    allow_unchecked: bool = False,
    fallback: Mapping[str, int] | None = None,
) -> SwitchResult:
    """Move traffic to ``weights`` and confirm it on the proxy.

    Every color gaining traffic must be confirmed healthy: by its check URL (``checks``,
    before anything moves) or by the backend's own health checks; a color neither can
    confirm is refused unless ``allow_unchecked``. On failure, traffic is put back to what
    the proxy showed before (or ``fallback``, the recorded weights, when the proxy showed
    no color taking traffic), and the put-back is verified too. Does not persist."""
    desired = validate_weights(backend, weights)
    before = backend.observe()
    gaining = [c for c, w in desired.items() if w > 0]
    checks = dict(checks or {})
    unchecked = []
    for color in gaining:
        if color in checks:
            smoke_check(checks[color], color)
        elif not backend.confirms_health(color):
            unchecked.append(color)
    if unchecked and not allow_unchecked:
        raise ConfigError(
            f"nothing confirms that {', '.join(unchecked)} is healthy before it gets traffic: "
            f"set check-url (e.g. 'http://{{color}}.internal:8080/health'), pass --check, "
            f"{_backend_hint(backend)}or set allow-unchecked = true to switch blind"
        )
    for color in unchecked:
        log.warning("UNCHECKED: sending traffic to %s without any health confirmation (allow-unchecked)", color)
    try:
        backend.apply(desired, verified=frozenset(checks) & frozenset(gaining))
        after = verify(backend, desired, verify_timeout)
    except ProxyConfigError:
        raise
    except SwitchError as error:
        raise _put_back(backend, error, before, fallback, verify_timeout) from None
    return SwitchResult(desired, before, after, tuple(unchecked))


def _backend_hint(backend: SwitchBackend) -> str:
    if backend.name == "nginx":
        return "set probe-url (a URL through nginx answering the color's name), "
    if backend.name == "haproxy-config":
        return "set socket (the stats socket, to read HAProxy's health checks), "
    if backend.name == "haproxy-runtime":
        return "add `check` to the server line, "
    return ""


def _put_back(
    backend: SwitchBackend,
    error: SwitchError,
    before: TrafficState,
    fallback: Mapping[str, int] | None,
    timeout: float,
) -> SwitchError:
    """Judge from the proxy whether anything moved; if it did, restore and confirm."""
    try:
        now = backend.observe()
    except SwitchError as unreadable:
        now = None
        error = SwitchError(f"{error}; and the proxy cannot be read now: {unreadable}", observed=error.observed)
    restore = before.weights() if sum(before.weights().values()) == 100 else dict(fallback or {})
    if now is not None and now.weights() == before.weights():
        message = str(error) if error.moved is False else f"{error}; traffic is unchanged"
        return SwitchError(message, observed=now, moved=False)
    if sum(restore.values()) != 100:
        return SwitchError(
            f"{error}; the proxy showed no color taking traffic before, so there is nothing safe to put "
            f"back: it now shows {now.weights() if now else 'nothing readable'}; set the weights by hand",
            observed=now,
            moved=True,
            restored=False,
        )
    try:
        backend.apply(restore)
        restored = verify(backend, restore, timeout)
    except SwitchError as second:
        try:
            shown = backend.observe().weights()
        except SwitchError:
            shown = None
        return SwitchError(
            f"{error}; putting traffic back to {_fmt(restore)} FAILED: {second} (the proxy shows "
            f"{_fmt(shown) if shown else 'nothing readable'})",
            observed=second.observed,
            moved=True,
            restored=False,
        )
    return SwitchError(
        f"{error}; traffic was put back to {_fmt(restore)} (confirmed on the proxy)",
        observed=restored,
        moved=True,
        restored=True,
    )


def _fmt(weights: Mapping[str, int]) -> str:
    return ", ".join(f"{c} {w}%" for c, w in weights.items())


def verify(backend: SwitchBackend, desired: Mapping[str, int], timeout: float) -> TrafficState:
    """Poll the proxy until it shows ``desired`` (and a probe confirms it, where configured)."""
    deadline = time.monotonic() + timeout
    while True:
        state = backend.observe()
        if matches(state, desired):
            break
        if time.monotonic() >= deadline:
            raise SwitchError(
                f"the proxy does not show {_fmt(desired)} after {timeout:g}s (it shows {_fmt(state.weights())}"
                f"{_health(state)})",
                observed=state,
            )
        time.sleep(0.02)
    confirm = getattr(backend, "confirm", None)
    if confirm is not None:
        confirm(desired, max(deadline - time.monotonic(), 1.0))
    return state


def _health(state: TrafficState) -> str:
    down = [c for c, t in state.colors.items() if t.healthy is False]
    return f"; failing health checks: {', '.join(down)}" if down else ""
