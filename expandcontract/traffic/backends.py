"""Traffic backends built from ``[tool.expandcontract.switch.<environment>]``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from expandcontract.config import Settings, parse_duration
from expandcontract.errors import ConfigError, ExpandContractError
from expandcontract.traffic.base import SwitchBackend, TrafficState

_KEYS = {
    "file": {"path", "colors"},
    "command": {"apply", "observe", "colors", "timeout"},
    "haproxy-runtime": {"socket", "backend-name", "servers", "state-file", "timeout", "ready-timeout"},
    "haproxy-config": {
        "config",
        "backend-name",
        "servers",
        "haproxy",
        "pidfile",
        "reload-command",
        "socket",
        "timeout",
        "ready-timeout",
    },
    "nginx": {"upstream-file", "upstream", "servers", "nginx-conf", "nginx", "probe-url", "extra"},
}
_COMMON = {"backend", "verify-timeout", "check-url", "allow-unchecked", "lock-wait"}
_DURATIONS = ("verify-timeout", "timeout", "ready-timeout", "lock-wait")


def backend_settings(settings: Settings, environment: str) -> dict[str, Any] | None:
    raw = settings.switch.get(environment)
    if raw is None:
        return None
    values = {k.replace("_", "-"): v for k, v in raw.items()}
    kind = values.get("backend")
    if kind not in _KEYS:
        raise ConfigError(f"switch.{environment}.backend must be one of {', '.join(sorted(_KEYS))}, not {kind!r}")
    unknown = sorted(set(values) - _KEYS[kind] - _COMMON)
    if unknown:
        raise ConfigError(f"unknown key(s) for the {kind} backend in switch.{environment}: {', '.join(unknown)}")
    for key in _DURATIONS:
        if key in values:
            try:
                values[key] = parse_duration(values[key], f"switch.{environment}.{key}")
            except ValueError as error:
                raise ConfigError(str(error)) from None
    if not isinstance(values.get("allow-unchecked", False), bool):
        raise ConfigError(f"switch.{environment}.allow-unchecked must be true or false")
    check_urls(values.get("check-url"), (), f"switch.{environment}.check-url")  # fail early on a bad shape
    return values


def check_urls(spec: object, colors: tuple[str, ...], where: str) -> dict[str, str]:
    """Per-color health URLs from ``"http://{color}.internal/health"`` or ``{blue = "...", ...}``.

    A URL without ``{color}`` would check one color's health on behalf of every color (once
    green dies, it would block the switch back to blue), so it is refused."""
    if spec is None:
        return {}
    if isinstance(spec, str):
        if "{color}" not in spec:
            raise ConfigError(
                f"{where} = {spec!r} names no color: use '{{color}}' in it "
                "(e.g. 'http://{color}.internal:8080/health') or a table { blue = '...', green = '...' }"
            )
        return {c: spec.replace("{color}", c) for c in colors}
    if isinstance(spec, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in spec.items()):
        return {str(k): str(v) for k, v in spec.items()}
    raise ConfigError(f"{where} must be a URL with '{{color}}' or a table of color = URL")


def build_backend(settings: Settings, environment: str) -> SwitchBackend | None:
    """The configured backend for ``environment``, or None when traffic is not managed by ec."""
    values = backend_settings(settings, environment)
    if values is None:
        return None
    base = settings.path.parent if settings.path else Path.cwd()

    def path(key: str) -> str:
        if key not in values:
            raise ConfigError(f"switch.{environment} ({values['backend']}) needs {key}")
        return str((base / str(values[key])).resolve()) if not str(values[key]).startswith("/") else str(values[key])

    def servers() -> dict[str, str]:
        mapping = values.get("servers")
        if not isinstance(mapping, dict) or not mapping:
            raise ConfigError(f'switch.{environment}.servers must map colors to servers, e.g. {{ blue = "blue" }}')
        return {str(k): str(v) for k, v in mapping.items()}

    kind = values["backend"]
    colors = tuple(values.get("colors", ("blue", "green")))
    if kind == "file":
        from expandcontract.traffic.file import FileBackend

        return FileBackend(path("path"), colors)
    if kind == "command":
        from expandcontract.traffic.command import CommandBackend

        apply, observe = values.get("apply"), values.get("observe")
        if not isinstance(apply, list) or not isinstance(observe, list):
            raise ConfigError(f"switch.{environment}: apply and observe must be argument lists")
        return CommandBackend(apply, observe, colors, float(values.get("timeout", 60)))
    if kind == "haproxy-runtime":
        from expandcontract.traffic.haproxy import HaproxyRuntimeBackend

        address = str(values.get("socket", ""))
        # host:port is a TCP admin socket; anything else is a path.
        socket_address = address if ":" in address and not address.startswith("/") else path("socket")
        return HaproxyRuntimeBackend(
            socket_address,
            str(values.get("backend-name", "app")),
            servers(),
            state_file=path("state-file") if "state-file" in values else None,
            timeout=float(values.get("timeout", 2.0)),
            ready_timeout=float(values.get("ready-timeout", 10.0)),
        )
    if kind == "haproxy-config":
        from expandcontract.traffic.haproxy import HaproxyConfigBackend

        reload_command = values.get("reload-command")
        return HaproxyConfigBackend(
            path("config"),
            str(values.get("backend-name", "app")),
            servers(),
            haproxy=str(values.get("haproxy", "haproxy")),
            pidfile=path("pidfile") if "pidfile" in values else None,
            reload_command=[str(a) for a in reload_command] if isinstance(reload_command, list) else None,
            socket_address=path("socket") if "socket" in values else None,
            timeout=float(values.get("timeout", 30.0)),
            ready_timeout=float(values.get("ready-timeout", 10.0)),
        )
    from expandcontract.traffic.nginx import NginxUpstreamBackend

    return NginxUpstreamBackend(
        path("upstream-file"),
        str(values.get("upstream", "app")),
        servers(),
        path("nginx-conf"),
        nginx=str(values.get("nginx", "nginx")),
        probe_url=values.get("probe-url"),
        extra=list(values.get("extra", [])),
    )


def observe_backend(
    settings: Settings, environment: str
) -> tuple[SwitchBackend | None, TrafficState | None, str | None]:
    """``(backend, what it shows, why it could not be read)``; the backend is None when ec does
    not manage traffic for ``environment``."""
    backend = build_backend(settings, environment)
    if backend is None:
        return None, None, None
    try:
        return backend, backend.observe(), None
    except ExpandContractError as error:
        return backend, None, str(error)
