"""Analysis cache: the changes captured from a file, keyed by its content, the tool version,
the dialect and the parser versions. Rules are cheap and always re-run, so configuration
changes never need a cache flush.

Entries are JSON read through :mod:`expandcontract.sql.codec`, never pickles: the cache lives
in the project tree, which a pull request can write to."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import tempfile
from functools import cache
from pathlib import Path

from expandcontract._version import __version__
from expandcontract.sql.changes import Change
from expandcontract.sql.codec import decode_changes, encode_changes

_FORMAT = 3


@cache
def _environment_key() -> str:
    # Where each analysing package lives and when it was installed: an upgrade changes it.
    # (importlib.metadata would cost more than a whole cached run; find_spec imports nothing.)
    parts = []
    for package in ("sqlglot", "alembic", "sqlalchemy"):
        spec = importlib.util.find_spec(package)
        origin = spec.origin if spec and spec.origin else "-"
        try:
            stamp = os.stat(origin).st_mtime_ns
        except OSError:
            stamp = 0
        parts.append(f"{origin}@{stamp}")
    return f"{_FORMAT}:{__version__}:{':'.join(parts)}"


def file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class AnalysisCache:
    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    @classmethod
    def for_root(cls, root: Path, enabled: bool = True) -> AnalysisCache:
        if not enabled:
            return cls(None)
        override = os.environ.get("EC_CACHE_DIR")
        return cls(Path(override) if override else root / ".expandcontract_cache")

    def key(self, content: bytes, dialect: str, kind: str) -> str:
        digest = hashlib.sha256(content)
        digest.update(f"\0{_environment_key()}\0{dialect}\0{kind}".encode())
        return digest.hexdigest()

    def get(self, key: str) -> list[Change] | None:
        """The cached changes, unless a project module the revision imported has changed since."""
        if self.directory is None:
            return None
        path = self.directory / key[:2] / f"{key}.json"
        try:
            with path.open("rb") as handle:
                entry = json.load(handle)
            for dependency, digest in entry.get("deps", {}).items():
                if file_digest(Path(dependency)) != digest:
                    return None  # the app's helper changed (or was installed): capture again
            return decode_changes(entry["changes"])
        except FileNotFoundError:
            return None
        except Exception:  # noqa: BLE001 - a corrupt or foreign entry is a miss, never an error
            return None

    def put(self, key: str, changes: list[Change], deps: list[str] | tuple[str, ...] = ()) -> None:
        """Store ``changes``; ``deps`` are the project files the revision imported."""
        if self.directory is None:
            return
        folder = self.directory / key[:2]
        try:
            folder.mkdir(parents=True, exist_ok=True)
            marker = self.directory / ".gitignore"
            if not marker.exists():
                marker.write_text("# created by expandcontract\n*\n", encoding="utf-8")
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
            entry = {"deps": {d: file_digest(Path(d)) for d in deps}, "changes": encode_changes(changes)}
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(entry, handle)
            os.replace(tmp, folder / f"{key}.json")
        except OSError:
            # A read-only checkout still lints; it just is not cached.
            with contextlib.suppress(OSError, UnboundLocalError):
                os.unlink(tmp)
