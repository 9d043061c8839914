"""Writing files that other programs read (proxy configs, state files, reports) without
surprising anyone: a reader never sees half a file, and nothing but a regular file is replaced.

``os.replace`` onto ``/dev/null`` as root turns the device into a regular file and breaks every
other process on the machine; onto a symlink it replaces the link, not the file the user
linked to. So: devices, FIFOs and sockets are written in place; a symlink is resolved and its
target (when regular) replaced atomically; a replaced file keeps its mode and owner.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from expandcontract.errors import ConfigError


def write_text(path: str | os.PathLike[str], text: str, *, new_mode: int | None = None) -> Path:
    """Write ``text`` to ``path`` and return the file actually written. A new file gets
    ``new_mode`` (default: 0666 less the umask, as ``open`` would give it)."""
    requested = Path(path)
    target = Path(os.path.realpath(requested)) if requested.is_symlink() else requested
    try:
        info: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        info = None
        if requested.is_symlink():
            raise ConfigError(f"{requested} is a symlink to {target}, which does not exist") from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        if stat.S_ISDIR(info.st_mode):
            raise ConfigError(f"{requested} is a directory, not a file")
        # A device, FIFO or socket: write into it, never replace it.
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if info is not None:
            os.chmod(tmp, stat.S_IMODE(info.st_mode))
            with contextlib.suppress(PermissionError):  # only root may give a file away
                os.chown(tmp, info.st_uid, info.st_gid)
        else:
            os.chmod(tmp, new_mode if new_mode is not None else 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current
