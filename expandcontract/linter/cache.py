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
from typing import Any

from expandcontract._version import __version__
from expandcontract.sql.changes import Change
from expandcontract.sql.codec import decode_changes, encode_changes

_FORMAT = 4


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


#: Packs beyond this many are merged into one; a merged pack keeps at most this many entries.
MAX_PACKS = 8
MAX_ENTRIES = 20_000


class AnalysisCache:
    """Entries live in packs: each run that captured something writes one JSON file with all of
    its new entries (creating a file costs about a millisecond on a slow disk: one per entry
    made a cold lint of 500 revisions half a second slower). A run reads every pack once."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._entries: dict[str, dict[str, Any]] | None = None
        self._packs: list[Path] = []
        self._new: dict[str, dict[str, Any]] = {}

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

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._entries is None:
            self._entries = {}
            assert self.directory is not None
            try:
                packs = sorted(self.directory.glob("pack-*.json"), key=_mtime)
            except OSError:
                packs = []
            for pack in packs:
                try:
                    with pack.open("rb") as handle:
                        data = json.load(handle)
                    entries = data["entries"] if data.get("format") == _FORMAT else {}
                    if isinstance(entries, dict):
                        self._entries.update((k, v) for k, v in entries.items() if isinstance(v, dict))
                    self._packs.append(pack)
                except Exception:  # noqa: BLE001 - a corrupt or foreign pack is a miss, never an error
                    continue
        return self._entries

    def get(self, key: str) -> list[Change] | None:
        """The cached changes, unless a project module the revision imported has changed since."""
        if self.directory is None:
            return None
        entry = self._load().get(key)
        if entry is None:
            return None
        try:
            for dependency, digest in entry.get("deps", {}).items():
                if file_digest(Path(dependency)) != digest:
                    return None  # the app's helper changed (or was installed): capture again
            return decode_changes(entry["changes"])
        except Exception:  # noqa: BLE001 - a corrupt or foreign entry is a miss, never an error
            return None

    def put(self, key: str, changes: list[Change], deps: list[str] | tuple[str, ...] = ()) -> None:
        """Remember ``changes`` (written by :meth:`flush`); ``deps`` are the project files the
        revision imported."""
        if self.directory is None:
            return
        self._new[key] = {"deps": {d: file_digest(Path(d)) for d in deps}, "changes": encode_changes(changes)}

    def flush(self) -> None:
        """Write what :meth:`put` collected as one new pack; merge the packs when there are many."""
        if self.directory is None or not self._new:
            return
        entries, self._new = self._new, {}
        merge = len(self._packs) + 1 > MAX_PACKS
        if merge:
            entries = {**self._load(), **entries}
            entries = dict(list(entries.items())[-MAX_ENTRIES:])
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            marker = self.directory / ".gitignore"
            if not marker.exists():
                marker.write_text("# created by expandcontract\n*\n", encoding="utf-8")
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix="pack-", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"format": _FORMAT, "entries": entries}, handle)
            os.replace(tmp, tmp[: -len(".tmp")] + ".json")
        except OSError:
            # A read-only checkout still lints; it just is not cached.
            with contextlib.suppress(OSError, UnboundLocalError):
                os.unlink(tmp)
            return
        if merge:
            # The merged pack holds these: a concurrent run that still reads one just misses.
            for pack in self._packs:
                with contextlib.suppress(OSError):
                    pack.unlink()
            self._packs = []


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0
