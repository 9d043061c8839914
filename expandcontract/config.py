"""``[tool.expandcontract]`` in pyproject.toml (or a file given with ``--config``).

Keys are kebab-case like ruff's; snake_case is accepted too. Unknown keys are an error, so a
typo never silently turns a check off.
"""

from __future__ import annotations

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
    #: Where the settings came from (None: built-in defaults).
    path: Path | None = None

    @property
    def target(self) -> Target:
        return Target(self.dialect, self.versions.get(self.dialect, DEFAULT_VERSIONS[self.dialect]))


_KEYS = {
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
    if "mysql-charset" in values:
        changes["mysql_charset"] = str(values["mysql-charset"])
    return replace(settings, **changes)


def _string_list(value: object, key: str, path: Path | None) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key} must be a list of rule codes or names", path=path, key=key)
    return list(value)


__all__ = ["DIALECTS", "Settings", "find_config", "load_settings", "settings_from_mapping"]
