"""``ec switch``, ``ec canary``, ``ec rollback`` and ``ec switch --status``: traffic moved by the
configured backend, verified, and recorded in the ledger with desired and observed weights.

One traffic change at a time per environment: each takes the environment's traffic lock for
check -> apply -> verify -> record (``ec retire`` takes it too), so two runs can never leave the
ledger saying one thing and the proxy another. Every attempt is in the event log, including
the ones that were refused, rolled back, or whose rollback failed."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from expandcontract.errors import ConfigError
from expandcontract.ledger.commands import Target, check_weights, open_ledger, record_weights, resolve_target
from expandcontract.ledger.store import ColorState
from expandcontract.traffic.backends import backend_settings, build_backend, check_urls
from expandcontract.traffic.base import SwitchBackend, SwitchError, TrafficState
from expandcontract.traffic.switcher import SwitchResult, set_weights

log = logging.getLogger("expandcontract.traffic")

#: How long a traffic command waits for another one in the same environment by default.
DEFAULT_LOCK_WAIT = 60.0


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
            "unchecked": list(self.result.unchecked) if self.result else [],
            "cutovers": self.cutovers,
        }


def _backend(target: Target) -> SwitchBackend | None:
    return build_backend(target.settings, target.environment)


def _options(target: Target) -> dict[str, Any]:
    return backend_settings(target.settings, target.environment) or {}


@contextlib.contextmanager
def traffic_lock(target: Target, wait: float | None = None) -> Iterator[None]:
    """The environment's traffic lock; waits up to ``wait`` seconds (config ``lock-wait``)."""
    from expandcontract.db import create_engine
    from expandcontract.runner.locks import TRAFFIC, advisory_lock

    if wait is None:
        wait = float(_options(target).get("lock-wait", DEFAULT_LOCK_WAIT))

    def waiting() -> None:
        log.warning(
            "waiting up to %gs for another ec traffic change in environment %r to finish", wait, target.environment
        )

    engine = create_engine(target.url)
    try:
        with advisory_lock(engine, target.environment, wait, kind=TRAFFIC, on_wait=waiting):
            yield
    finally:
        engine.dispose()


def _checks(target: Target, backend: SwitchBackend, gaining: list[str], check: str | None) -> dict[str, str]:
    """Health URLs: ``--check`` (for the colors this command sends traffic to; ``{color}``
    allowed), else the configured ``check-url``."""
    where = f"switch.{target.environment}.check-url"
    urls = check_urls(_options(target).get("check-url"), backend.colors, where)
    if check:
        if "{color}" in check:
            urls.update(check_urls(check, tuple(gaining), "--check"))
        elif gaining:
            urls[gaining[0]] = check  # the color this command is about
    return urls


def _move(
    target: Target,
    weights: dict[str, int],
    action: str,
    reason: str | None,
    *,
    check: str | None = None,
    gaining: list[str] | None = None,
) -> SwitchOutcome:
    """Check, apply, verify and record; the caller holds the traffic lock."""
    backend = _backend(target)
    if backend is None:
        return SwitchOutcome(
            record_weights(target, weights, action=action, reason=reason, details={"backend": None}), None
        )
    colors = check_weights(target, weights)  # before the proxy is touched
    recorded = {c.color: c.weight for c in colors if c.weight > 0}
    options = _options(target)
    targets = gaining or [c for c, w in weights.items() if w > 0]
    checks = _checks(target, backend, targets, check)
    _log(target, f"{action}-attempt", reason, {"backend": backend.name, "desired": weights})
    try:
        result = set_weights(
            backend,
            weights,
            verify_timeout=float(options.get("verify-timeout", 5.0)),
            checks={c: u for c, u in checks.items() if c in targets},
            allow_unchecked=bool(options.get("allow-unchecked", False)),
            fallback=recorded,
        )
    except SwitchError as error:
        outcome = "refused" if error.moved is False else "rolled-back" if error.restored else "rollback-failed"
        details: dict[str, Any] = {"backend": backend.name, "desired": weights, "error": str(error)}
        if error.observed is not None:
            details["observed"] = error.observed.weights()
        _log(target, f"{action}-{outcome}", reason, details)
        raise
    except ConfigError as error:
        _log(target, f"{action}-refused", reason, {"backend": backend.name, "desired": weights, "error": str(error)})
        raise
    details = {
        "backend": backend.name,
        "desired": result.desired,
        "before": result.before.weights(),
        "observed": result.after.weights(),
    }
    if result.unchecked:
        details["unchecked"] = list(result.unchecked)
    changed = record_weights(target, result.desired, action=action, reason=reason, details=details)
    try:
        backend.persist()
    except (SwitchError, OSError) as error:
        message = getattr(error, "strerror", None) or str(error)
        _log(target, f"{action}-persist-failed", reason, {"backend": backend.name, "error": message})
        raise SwitchError(
            f"traffic moved to {_fmt(result.desired)} and was recorded, but saving the proxy's state failed "
            f"({message}): a reload would undo the switch until `ec switch` is run again",
            observed=result.after,
        ) from None
    return SwitchOutcome(changed, result)


def _fmt(weights: dict[str, int]) -> str:
    return ", ".join(f"{c} {w}%" for c, w in weights.items())


def _log(target: Target, action: str, reason: str | None, details: dict[str, Any]) -> None:
    with open_ledger(target, create=True) as (conn, ledger), conn.begin():
        ledger.log(conn, target.environment, action, reason=reason, details=details)


def switch(
    color: str,
    *,
    check: str | None = None,
    reason: str | None = None,
    cutover: bool = False,
    wait: float | None = None,
    **kwargs: Any,
) -> SwitchOutcome:
    """Send all traffic to ``color``: bring it up and confirm a passing health check first,
    then drain the others. With no backend configured for the environment, only records the
    switch. With ``cutover``, the environment's postponed online schema changes are cut over
    once traffic has moved. ``check``: ``color``'s health URL, checked before anything moves."""
    target = resolve_target(**kwargs)
    backend = _backend(target)
    colors = backend.colors if backend else None
    if backend is not None and colors and color not in colors:
        raise ConfigError(f"the {backend.name} backend has no color {color!r} (it knows {', '.join(colors)})")
    weights = {c: (100 if c == color else 0) for c in colors} if colors else {color: 100}
    with traffic_lock(target, wait):
        outcome = _move(target, weights, "switch", reason, check=check, gaining=[color])
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


def canary(
    color: str,
    weight: int,
    *,
    check: str | None = None,
    reason: str | None = None,
    force: bool = False,
    wait: float | None = None,
    **kwargs: Any,
) -> SwitchOutcome:
    """Send ``weight`` percent of new requests to ``color`` and the rest to the live color.

    Refused for the color that is already live (it would send the rest to a draining color)
    unless ``force``."""
    if not 0 <= weight <= 100:
        raise ConfigError("--weight must be from 0 to 100")
    target = resolve_target(**kwargs)
    backend = _backend(target)
    if backend is None:
        raise ConfigError(
            f"no traffic backend is configured for environment {target.environment!r} "
            f"([tool.expandcontract.switch.{target.environment}])"
        )
    if color not in backend.colors:
        raise ConfigError(f"the {backend.name} backend has no color {color!r} (it knows {', '.join(backend.colors)})")
    with traffic_lock(target, wait):
        state = backend.observe()
        others = [c for c in backend.colors if c != color]
        stable = max(others, key=lambda c: state.colors[c].weight)
        if not force and state.colors[stable].weight == 0:
            raise ConfigError(
                f"{color} is the live color ({state.colors[color].weight}% now): a canary of it would send "
                f"{100 - weight}% to {stable}, which is not live; canary the new color instead, or pass --force"
            )
        weights = {c: 0 for c in backend.colors}
        weights[color], weights[stable] = weight, 100 - weight
        return _move(target, weights, "canary", reason, check=check, gaining=[color])


def rollback(
    *, check: str | None = None, reason: str | None = None, wait: float | None = None, **kwargs: Any
) -> SwitchOutcome:
    """Put traffic back as it was before the last switch or canary (a configuration change).
    Health is checked for the colors it goes back to, not for the one being left."""
    from expandcontract.ledger.commands import history

    target = resolve_target(**kwargs)
    with traffic_lock(target, wait):
        moves = [
            e for e in history(limit=500, **kwargs) if e.action in ("switch", "canary") and e.details.get("before")
        ]
        if not moves:
            raise ConfigError("nothing to roll back: no recorded switch or canary with the weights before it")
        before = {str(k): int(v) for k, v in moves[-1].details["before"].items()}
        if sum(before.values()) != 100:
            raise ConfigError(f"event {moves[-1].id} recorded no usable weights to go back to ({before})")
        gaining = [c for c, w in sorted(before.items(), key=lambda kv: -kv[1]) if w > 0]
        return _move(
            target, before, "rollback", reason or f"rollback of event {moves[-1].id}", check=check, gaining=gaining
        )


def observe(**kwargs: Any) -> TrafficState | None:
    """What the proxy reports now (None when no backend is configured)."""
    target = resolve_target(**kwargs)
    backend = _backend(target)
    return backend.observe() if backend else None
