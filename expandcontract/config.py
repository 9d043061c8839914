"""``[tool.expandcontract]`` in pyproject.toml (or a file given with ``--config``).

Keys are kebab-case like ruff's; snake_case is accepted too. Unknown keys are an error, so a
typo never silently turns a check off.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from expandcontract.dialects import DEFAULT_VERSIONS, DIALECTS, DialectName, Target, normalize_dialect, parse_version
from expandcontract.errors import ConfigError
from expandcontract.linter.findings import SEVERITIES, Severity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def parse_duration(value: object, key: str) -> float:
    """Seconds from ``2``, ``2.5``, ``"2s"``, ``"500ms"`` or ``"1min"``; 0 means no limit."""
    if isinstance(value, bool):
        raise ValueError(f"{key} must be a duration such as '2s' or '500ms'")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|min|m)?\s*", str(value))
        if not m:
            raise ValueError(f"{key} must be a duration such as '2s' or '500ms', not {value!r}")
        scale = {"ms": 0.001, "s": 1.0, "sec": 1.0, None: 1.0, "min": 60.0, "m": 60.0}[m[2]]
        seconds = float(m[1]) * scale
    if seconds < 0:
        raise ValueError(f"{key} must not be negative")
    return seconds


@dataclass(frozen=True)
class LedgerSettings:
    """Where ec records deployment state, and how it recognises each color's sessions."""

    table_prefix: str = "ec_"
    schema: str | None = None
    #: PostgreSQL ``application_name`` / MySQL ``program_name`` an app of a color connects with.
    session_tag: str = "{color}"
    #: Database user per color: how sessions are counted when connection attributes are not
    #: available (MariaDB's performance_schema is off by default).
    session_users: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunnerSettings:
    """How ec expand / ec contract run migrations."""

    #: How long one DDL statement may wait for its lock (each writer queued behind it waits
    #: as long); None: the measured default, 200 ms on PostgreSQL and 1 s (the smallest
    #: lock_wait_timeout) on MySQL/MariaDB. See bench/bench_runner.py and docs/guides/deploying.md.
    lock_timeout: float | None = None
    statement_timeout: float = 0.0
    #: Lock-timeout retries, with backoff from retry_initial_delay doubling to retry_max_delay:
    #: 10 ride out a reader of about a minute.
    retries: int = 10
    retry_initial_delay: float = 0.5
    retry_max_delay: float = 10.0
    #: How long a second `ec` run waits for the first to finish before it gives up.
    advisory_lock_timeout: float = 60.0

    def lock_timeout_for(self, kind: str) -> float:
        """The lock timeout on ``kind`` (``postgresql``, ``mysql``, ``sqlite``)."""
        if self.lock_timeout is not None:
            return self.lock_timeout
        return 1.0 if kind == "mysql" else 0.2

    #: Before a contract revision runs, watch the statement statistics this long for anything
    #: still using what it removes (0: off). See ``ec verify --usage``.
    usage_window: float = 0.0
    #: How a revision whose content cannot be read offline is gated at run time: ``contract``
    #: (what it hides may break the old color) or ``declared`` (trust its ``phase``).
    unclassified: str = "contract"


@dataclass(frozen=True)
class OnlineSettings:
    """``[tool.expandcontract.online]``: the online schema-change tools."""

    #: gh-ost / pt-online-schema-change binaries (default: EC_GHOST_BIN, then PATH).
    ghost_bin: str | None = None
    ptosc_bin: str | None = None
    #: Extra flags for every run, e.g. ``["--max-load=Threads_running=25"]``.
    ghost_args: tuple[str, ...] = ()
    ptosc_args: tuple[str, ...] = ()
    #: gh-ost's --cut-over-lock-timeout-seconds (it holds the lock up to twice this).
    cut_over_lock_timeout: int = 1
    #: gh-ost's --checkpoint-seconds, for builds with --checkpoint (a killed run can resume).
    checkpoint_seconds: int = 60


@dataclass(frozen=True)
class Settings:
    dialect: DialectName = "postgresql"
    #: Server version per dialect (``[tool.expandcontract.versions]``).
    versions: dict[DialectName, tuple[int, ...]] = field(default_factory=lambda: dict(DEFAULT_VERSIONS))
    select: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    severity: dict[str, Severity] = field(default_factory=dict)
    #: Estimated rows per table, for the large-table rules when no database is at hand.
    table_rows: dict[str, int] = field(default_factory=dict)
    #: Tables above this many rows should change through an online schema-change tool.
    online_threshold_rows: int = 1_000_000
    #: The migration runner (ec's, or your env.py) sets lock/statement timeouts itself.
    runner_sets_timeouts: bool = False
    #: Default character set of MySQL/MariaDB tables (VARCHAR length-prefix arithmetic).
    mysql_charset: str = "utf8mb4"
    #: Database for the ledger and the runner; --url and EC_DATABASE_URL take precedence.
    database_url: str | None = None
    environment: str = "default"
    ledger: LedgerSettings = field(default_factory=LedgerSettings)
    runner: RunnerSettings = field(default_factory=RunnerSettings)
    #: Traffic backend per environment (``[tool.expandcontract.switch.<environment>]``).
    switch: dict[str, dict[str, Any]] = field(default_factory=dict)
    online: OnlineSettings = field(default_factory=OnlineSettings)
    #: ``ec lint`` runs each revision in a worker process: its time limit, and the environment
    #: variables it may see besides the safe defaults (names, or ``PREFIX_*``).
    capture_timeout: float = 30.0
    capture_env: tuple[str, ...] = ()
    #: Where `ec lint` starts its schema model: a DDL dump, or a database to read (read only).
    schema_file: Path | None = None
    schema_url: str | None = None
    #: Directories revisions import from when `ec lint` runs them (the app's helpers).
    sys_path: tuple[Path, ...] = ()
    #: The app's models (``package.module:Base``) for ``ec verify`` and ``ec status``.
    verify_models: str | None = None
    #: Where the settings came from (None: built-in defaults).
    path: Path | None = None

    @property
    def target(self) -> Target:
        return Target(self.dialect, self.versions.get(self.dialect, DEFAULT_VERSIONS[self.dialect]))


_KEYS = {
    "verify-models",
    "sys-path",
    "schema-file",
    "schema-url",
    "capture-timeout",
    "capture-env",
    "dialect",
    "versions",
    "select",
    "extend-select",
    "ignore",
    "severity",
    "table-rows",
    "online-threshold-rows",
    "runner-sets-timeouts",
    "mysql-charset",
    "database-url",
    "environment",
    "ledger",
    "runner",
    "switch",
    "online",
}
_ONLINE_KEYS = {"ghost-bin", "ptosc-bin", "ghost-args", "ptosc-args", "cut-over-lock-timeout", "checkpoint-seconds"}
_LEDGER_KEYS = {"table-prefix", "schema", "session-tag", "session-users"}
_RUNNER_KEYS = {
    "lock-timeout",
    "statement-timeout",
    "retries",
    "retry-initial-delay",
    "retry-max-delay",
    "advisory-lock-timeout",
    "unclassified",
    "usage-window",
}


def find_config(start: Path) -> Path | None:
    """The nearest pyproject.toml at or above ``start`` that has ``[tool.expandcontract]``."""
    directory = start if start.is_dir() else start.parent
    for candidate in (directory, *directory.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            try:
                data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError):
                continue
            if "expandcontract" in data.get("tool", {}):
                return pyproject
    return None


def load_settings(path: Path | None) -> Settings:
    """Read settings from ``path``; a pyproject.toml is read at ``[tool.expandcontract]``."""
    if path is None:
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("config file not found", path=path) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read: {error}", path=path) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"invalid TOML: {error}", path=path) from None
    if path.name == "pyproject.toml" or "tool" in data:
        table = data.get("tool", {}).get("expandcontract", {})
    else:
        table = data
    if not isinstance(table, dict):
        raise ConfigError("[tool.expandcontract] must be a table", path=path)
    return settings_from_mapping(table, path=path)


def _key(name: str) -> str:
    return name.replace("_", "-")


def settings_from_mapping(table: dict[str, Any], *, path: Path | None = None) -> Settings:
    values = {_key(k): v for k, v in table.items()}
    unknown = sorted(set(values) - _KEYS)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(_KEYS))}", path=path, key=unknown[0]
        )
    settings = Settings(path=path)
    changes: dict[str, Any] = {}
    try:
        if "dialect" in values:
            changes["dialect"] = normalize_dialect(str(values["dialect"]))
        if "versions" in values:
            versions = dict(DEFAULT_VERSIONS)
            if not isinstance(values["versions"], dict):
                raise ValueError("versions must be a table, e.g. versions = { postgresql = 15 }")
            for name, version in values["versions"].items():
                versions[normalize_dialect(name)] = parse_version(version)
            changes["versions"] = versions
    except ValueError as error:
        raise ConfigError(str(error), path=path) from None
    for key in ("select", "extend-select", "ignore"):
        if key in values:
            changes[key.replace("-", "_")] = tuple(_string_list(values[key], key, path))
    if "severity" in values:
        severity = values["severity"]
        if not isinstance(severity, dict) or any(v not in SEVERITIES for v in severity.values()):
            raise ConfigError(f"severity must map rule codes to one of {', '.join(SEVERITIES)}", path=path)
        changes["severity"] = {str(k): v for k, v in severity.items()}
    if "table-rows" in values:
        rows = values["table-rows"]
        if not isinstance(rows, dict) or not all(isinstance(v, int) and v >= 0 for v in rows.values()):
            raise ConfigError("table-rows must map table names to row counts", path=path, key="table-rows")
        changes["table_rows"] = {str(k).lower(): int(v) for k, v in rows.items()}
    if "online-threshold-rows" in values:
        threshold = values["online-threshold-rows"]
        if not isinstance(threshold, int) or threshold < 0:
            raise ConfigError("online-threshold-rows must be a non-negative integer", path=path)
        changes["online_threshold_rows"] = threshold
    if "runner-sets-timeouts" in values:
        if not isinstance(values["runner-sets-timeouts"], bool):
            raise ConfigError("runner-sets-timeouts must be true or false", path=path)
        changes["runner_sets_timeouts"] = values["runner-sets-timeouts"]
    if "schema-file" in values:
        where = Path(str(values["schema-file"]))
        changes["schema_file"] = where if where.is_absolute() or path is None else path.parent / where
    if "verify-models" in values:
        changes["verify_models"] = str(values["verify-models"])
    if "sys-path" in values:
        entries = values["sys-path"]
        if isinstance(entries, str):
            entries = [entries]
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise ConfigError("sys-path must be a list of directories", path=path, key="sys-path")
        base = path.parent if path is not None else Path.cwd()
        changes["sys_path"] = tuple(Path(e) if Path(e).is_absolute() else base / e for e in entries)
    if "schema-url" in values:
        changes["schema_url"] = str(values["schema-url"])
    if "capture-timeout" in values:
        try:
            timeout = parse_duration(values["capture-timeout"], "capture-timeout")
        except ValueError as error:
            raise ConfigError(str(error), path=path) from None
        if timeout <= 0:
            raise ConfigError("capture-timeout must be positive", path=path, key="capture-timeout")
        changes["capture_timeout"] = timeout
    if "capture-env" in values:
        names = values["capture-env"]
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise ConfigError("capture-env must be a list of environment variable names", path=path)
        changes["capture_env"] = tuple(names)
    if "mysql-charset" in values:
        changes["mysql_charset"] = str(values["mysql-charset"])
    if "database-url" in values:
        changes["database_url"] = str(values["database-url"])
    if "environment" in values:
        changes["environment"] = _name(values["environment"], "environment", path)
    if "ledger" in values:
        changes["ledger"] = _ledger(values["ledger"], path)
    if "runner" in values:
        changes["runner"] = _runner(values["runner"], path)
    if "online" in values:
        changes["online"] = _online(values["online"], path)
    if "switch" in values:
        switch = values["switch"]
        if not isinstance(switch, dict) or not all(isinstance(v, dict) for v in switch.values()):
            raise ConfigError(
                "switch must hold one table per environment, e.g. [tool.expandcontract.switch.default]",
                path=path,
                key="switch",
            )
        changes["switch"] = {_name(k, "switch environment", path): dict(v) for k, v in switch.items()}
    return replace(settings, **changes)


def _subtable(value: object, name: str, known: set[str], path: Path | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a table", path=path, key=name)
    values = {_key(k): v for k, v in value.items()}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {name}.{', '.join(unknown)}; known: {', '.join(sorted(known))}", path=path, key=unknown[0]
        )
    return values


def _name(value: object, key: str, path: Path | None) -> str:
    text = str(value)
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", text):
        raise ConfigError(f"{key} {text!r} must be 1-64 letters, digits, '_', '.' or '-'", path=path, key=key)
    return text


def _ledger(value: object, path: Path | None) -> LedgerSettings:
    values = _subtable(value, "ledger", _LEDGER_KEYS, path)
    ledger = LedgerSettings()
    changes: dict[str, Any] = {}
    if "table-prefix" in values:
        prefix = str(values["table-prefix"])
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,30}", prefix):
            raise ConfigError("ledger.table-prefix must be a short SQL identifier such as 'ec_'", path=path)
        changes["table_prefix"] = prefix
    if "schema" in values:
        changes["schema"] = _name(values["schema"], "ledger.schema", path)
    if "session-tag" in values:
        tag = str(values["session-tag"])
        if "{color}" not in tag:
            raise ConfigError("ledger.session-tag must contain {color}", path=path, key="session-tag")
        changes["session_tag"] = tag
    if "session-users" in values:
        users = values["session-users"]
        if not isinstance(users, dict) or not all(isinstance(v, str) for v in users.values()):
            raise ConfigError("ledger.session-users must map colors to database user names", path=path)
        changes["session_users"] = {str(k): v for k, v in users.items()}
    return replace(ledger, **changes)


def _online(value: object, path: Path | None) -> OnlineSettings:
    values = _subtable(value, "online", _ONLINE_KEYS, path)
    changes: dict[str, Any] = {}
    for key in ("ghost-bin", "ptosc-bin"):
        if key in values:
            if not isinstance(values[key], str) or not values[key]:
                raise ConfigError(f"online.{key} must be a path", path=path)
            changes[key.replace("-", "_")] = values[key]
    for key in ("ghost-args", "ptosc-args"):
        if key in values:
            args = values[key]
            if not isinstance(args, list) or not all(isinstance(a, str) and a.startswith("-") for a in args):
                raise ConfigError(f'online.{key} must be a list of flags, e.g. ["--chunk-size=500"]', path=path)
            changes[key.replace("-", "_")] = tuple(args)
    # gh-ost takes both in whole seconds, with a floor of its own.
    for key, minimum, why in (
        ("cut-over-lock-timeout", 1, "gh-ost's unit"),
        ("checkpoint-seconds", 10, "gh-ost's minimum"),
    ):
        if key in values:
            try:
                seconds = parse_duration(values[key], f"online.{key}")
            except ValueError as error:
                raise ConfigError(str(error), path=path) from None
            if seconds < minimum or seconds != int(seconds):
                raise ConfigError(f"online.{key} must be whole seconds from {minimum} ({why})", path=path)
            changes[key.replace("-", "_")] = int(seconds)
    return replace(OnlineSettings(), **changes)


def _runner(value: object, path: Path | None) -> RunnerSettings:
    values = _subtable(value, "runner", _RUNNER_KEYS, path)
    changes: dict[str, Any] = {}
    try:
        for key in (
            "lock-timeout",
            "statement-timeout",
            "retry-initial-delay",
            "retry-max-delay",
            "advisory-lock-timeout",
            "usage-window",
        ):
            if key in values:
                changes[key.replace("-", "_")] = parse_duration(values[key], f"runner.{key}")
    except ValueError as error:
        raise ConfigError(str(error), path=path) from None
    if "retries" in values:
        retries = values["retries"]
        if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 100:
            raise ConfigError("runner.retries must be an integer from 0 to 100", path=path)
        changes["retries"] = retries
    if "unclassified" in values:
        if values["unclassified"] not in ("contract", "declared"):
            raise ConfigError('runner.unclassified must be "contract" or "declared"', path=path)
        changes["unclassified"] = values["unclassified"]
    return replace(RunnerSettings(), **changes)


def _string_list(value: object, key: str, path: Path | None) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key} must be a list of rule codes or names", path=path, key=key)
    return list(value)


__all__ = ["DIALECTS", "Settings", "find_config", "load_settings", "settings_from_mapping"]
