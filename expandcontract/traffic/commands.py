"""``ec switch``, ``ec canary``, ``ec rollback`` and ``ec switch --status``: traffic moved by the
configured backend, verified, and recorded in the ledger with desired and observed weights."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from expandcontract.errors import ConfigError
from expandcontract.ledger.commands import Target, check_weights, record_weights, resolve_target
from expandcontract.ledger.store import ColorState
from expandcontract.traffic.backends import backend_settings, build_backend
from expandcontract.traffic.base import SwitchBackend, TrafficState
from expandcontract.traffic.switcher import SwitchResult, set_weights


@dataclass
class SwitchOutcome:
    recorded: list[ColorState]
    result: SwitchResult | None  # None: no backend configured, recorded only
    #: Postponed online schema changes released after the switch (``cutover=True``).
    cutovers: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "recorded": [c.to_dict() for c in self.recorded],
            "desired": self.result.desired if self.result else None,
            "before": self.result.before.to_dict() if self.result else None,
            "observed": self.result.after.to_dict() if self.result else None,
            "cutovers": self.cutovers,
        }


def _backend(target: Target) -> SwitchBackend | None:
    return build_backend(target.settings, target.environment)


def _options(target: Target) -> dict[str, Any]:
    return backend_settings(target.settings, target.environment) or {}


def _move(
    target: Target, weights: dict[str, int], action: str, reason: str | None, check_url: str | None = None
) -> SwitchOutcome:
    backend = _backend(target)
    if backend is None:
        return SwitchOutcome(
            record_weights(target, weights, action=action, reason=reason, details={"backend": None}), None
        )
    check_weights(target, weights)  # before the proxy is touched
    options = _options(target)
    result = set_weights(
        backend,
        weights,
        verify_timeout=float(options.get("verify-timeout", 5.0)),
        check_url=check_url or options.get("check-url"),
    )
    details = {
        "backend": backend.name,
        "desired": result.desired,
        "before": result.before.weights(),
        "observed": result.after.weights(),
    }
    return SwitchOutcome(record_weights(target, result.desired, action=action, reason=reason, details=details), result)


def switch(
    color: str, *, check: str | None = None, reason: str | None = None, cutover: bool = False, **kwargs: Any
) -> SwitchOutcome:
    """Send all traffic to ``color``: enable and verify it first, then drain the others. With no
    backend configured for the environment, only records the switch. With ``cutover``, the
    environment's postponed online schema changes are cut over once traffic has moved."""
    target = resolve_target(**kwargs)
    backend = _backend(target)
    colors = backend.colors if backend else None
    weights = {c: (100 if c == color else 0) for c in colors} if colors else {color: 100}
    if colors and color not in colors:
        raise ConfigError(f"the {backend.name} backend has no color {color!r} (it knows {', '.join(colors)})")  # type: ignore[union-attr]
    outcome = _move(target, weights, "switch", reason, check)
    if cutover:
        outcome.cutovers = _release_cutovers(target)
    return outcome


def _release_cutovers(target: Target) -> list[str]:
    """The new color takes all traffic: now is when the postponed gh-ost runs may swap tables."""
    from expandcontract.db import connect, create_engine
    from expandcontract.ledger.store import Ledger, active_online_runs
    from expandcontract.online.api import cutover

    engine = create_engine(target.url)
    try:
        with connect(engine) as conn:
            runs = active_online_runs(conn, Ledger(target.settings.ledger), target.environment)
    finally:
        engine.dispose()
    tables = [str(r["table_name"]) for r in runs if r["state"] == "postponed"]
    return [cutover(t, url=target.url, environment=target.environment, settings=target.settings) for t in tables]


def canary(color: str, weight: int, *, reason: str | None = None, **kwargs: Any) -> SwitchOutcome:
    """Send ``weight`` percent of new requests to ``color`` and the rest to the live color."""
    if not 0 <= weight <= 100:
        raise ConfigError("--weight must be from 0 to 100")
    target = resolve_target(**kwargs)
    backend = _backend(target)
    if backend is None:
        raise ConfigError(
            f"no traffic backend is configured for environment {target.environment!r} "
            f"([tool.expandcontract.switch.{target.environment}])"
        )
    state = backend.observe()
    others = [c for c in backend.colors if c != color]
    if color not in backend.colors:
        raise ConfigError(f"the {backend.name} backend has no color {color!r}")
    stable = max(others, key=lambda c: state.colors[c].weight)
    weights = {c: 0 for c in backend.colors}
    weights[color], weights[stable] = weight, 100 - weight
    return _move(target, weights, "canary", reason)


def rollback(*, reason: str | None = None, **kwargs: Any) -> SwitchOutcome:
    """Put traffic back as it was before the last switch or canary (a configuration change)."""
    from expandcontract.ledger.commands import history

    target = resolve_target(**kwargs)
    moves = [e for e in history(limit=500, **kwargs) if e.action in ("switch", "canary") and e.details.get("before")]
    if not moves:
        raise ConfigError("nothing to roll back: no recorded switch or canary with the weights before it")
    before = {str(k): int(v) for k, v in moves[-1].details["before"].items()}
    return _move(target, before, "rollback", reason or f"rollback of event {moves[-1].id}")


def observe(**kwargs: Any) -> TrafficState | None:
    """What the proxy reports now (None when no backend is configured)."""
    target = resolve_target(**kwargs)
    backend = _backend(target)
    return backend.observe() if backend else None
