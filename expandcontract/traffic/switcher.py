"""The one place the safe order lives: check, apply, verify by observing, roll back on failure."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

from expandcontract.errors import ConfigError
from expandcontract.traffic.base import SwitchBackend, SwitchError, TrafficState


@dataclass(frozen=True)
class SwitchResult:
    desired: dict[str, int]
    before: TrafficState
    after: TrafficState


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


def smoke_check(url: str, timeout: float = 5.0) -> None:
    """The idle color's own address must answer 2xx before any traffic moves."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (OSError, ValueError) as error:
        raise SwitchError(f"smoke check {url} failed before any traffic moved: {error}") from None
    if not 200 <= status < 300:
        raise SwitchError(f"smoke check {url} answered {status}; no traffic was moved")


def matches(state: TrafficState, desired: Mapping[str, int]) -> bool:
    for color, weight in desired.items():
        observed = state.colors.get(color)
        if observed is None:
            return False
        if weight == 0:
            if state.carries_traffic(color):
                return False
        elif observed.admin != "ready" or abs(observed.weight - weight) > 1:
            return False
    return True


def set_weights(
    backend: SwitchBackend, weights: Mapping[str, int], *, verify_timeout: float = 5.0, check_url: str | None = None
) -> SwitchResult:
    desired = validate_weights(backend, weights)
    before = backend.observe()
    if check_url:
        smoke_check(check_url)
    try:
        backend.apply(desired)
        after = _verify(backend, desired, verify_timeout)
    except SwitchError as error:
        try:
            restore = before.weights()
            if sum(restore.values()) == 100:
                backend.apply(restore)
        except SwitchError as second:
            raise SwitchError(
                f"{error}; rolling back to {before.weights()} failed too: {second}", observed=error.observed
            ) from None
        raise SwitchError(f"{error}; traffic was put back to {before.weights()}", observed=error.observed) from None
    backend.persist()
    return SwitchResult(desired, before, after)


def _verify(backend: SwitchBackend, desired: dict[str, int], timeout: float) -> TrafficState:
    deadline = time.monotonic() + timeout
    while True:
        state = backend.observe()
        if matches(state, desired):
            break
        if time.monotonic() >= deadline:
            raise SwitchError(
                f"the proxy does not show {desired} after {timeout:g}s (it shows {state.weights()})", observed=state
            )
        time.sleep(0.02)
    confirm = getattr(backend, "confirm", None)
    if confirm is not None:
        confirm(desired, max(deadline - time.monotonic(), 1.0))
    return state
