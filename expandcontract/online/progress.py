"""Parsing the progress the online tools print, by field name and tolerant of missing fields.

gh-ost (stdout; the same format string since v1.1.5):
``Copy: 21000/200030 10.5%; Applied: 27; Backlog: 0/1000; Time: 0s(total), 0s(copy);
streamer: mysql-bin.000002:8566979; Lag: 0.03s, HeartbeatLag: 0.07s, State: migrating; ETA: 4s``
Older builds lack Lag/HeartbeatLag/State and put the throttle reason in ETA; ETA may be
``N/A``, ``due`` or a Go duration; with ``--gtid`` the streamer is a GTID.

pt-online-schema-change (with ``--progress``): ``Copying `db`.`t`:  64% 00:01 remain``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?$")


def go_duration(text: str) -> float | None:
    """Seconds from a Go duration such as ``1h6m30s``, ``2m35s``, ``0.03s``."""
    text = text.strip()
    if not text:
        return None
    m = _DURATION.fullmatch(text)
    if not m or not any(m.groups()):
        return None
    hours, minutes, seconds = m.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


@dataclass(frozen=True)
class Progress:
    engine: str
    copied: int | None = None
    total: int | None = None
    percent: float | None = None
    state: str | None = None
    eta_seconds: float | None = None
    eta: str | None = None
    lag_seconds: float | None = None
    applied: int | None = None
    backlog: str | None = None
    streamer: str | None = None
    raw: str = field(default="", compare=False)

    @property
    def postponing(self) -> bool:
        return (self.state or "").startswith("postponing")

    @property
    def throttled(self) -> bool:
        return (self.state or "").startswith("throttled") or (self.eta or "").startswith("throttled")

    def to_dict(self) -> dict[str, object]:
        return {
            "engine": self.engine,
            "copied": self.copied,
            "total": self.total,
            "percent": self.percent,
            "state": self.state,
            "eta": self.eta,
            "eta_seconds": self.eta_seconds,
            "lag_seconds": self.lag_seconds,
        }


def parse_ghost_line(line: str) -> Progress | None:
    """A gh-ost status line, or None for anything else (headers, logs, ``# Done``)."""
    line = line.strip()
    if not line.startswith("Copy:"):
        return None
    fields: dict[str, str] = {}
    # Fields are separated by "; " and, within Lag/HeartbeatLag/State, by ", ".
    for part in re.split(r";\s+|,\s+(?=[A-Z][A-Za-z]*:)", line):
        key, sep, value = part.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    copied = total = None
    percent = None
    m = re.match(r"(\d+)/(\d+)\s+([\d.]+)%", fields.get("Copy", ""))
    if m:
        copied, total, percent = int(m[1]), int(m[2]), float(m[3])
    eta = fields.get("ETA")
    eta_seconds = None
    if eta and eta not in ("N/A", "due"):
        eta_seconds = go_duration(eta)
    elif eta == "due":
        eta_seconds = 0.0
    lag = fields.get("Lag")
    applied = fields.get("Applied")
    return Progress(
        engine="gh-ost",
        copied=copied,
        total=total,
        percent=percent,
        state=fields.get("State"),
        eta=eta,
        eta_seconds=eta_seconds,
        lag_seconds=go_duration(lag) if lag else None,
        applied=int(applied) if applied and applied.isdigit() else None,
        backlog=fields.get("Backlog"),
        streamer=fields.get("streamer"),
        raw=line,
    )


_PTOSC = re.compile(r"Copying `[^`]+`\.`[^`]+`:\s+(\d+)%\s+(?:(\d+):(\d+)(?::(\d+))?\s+remain)?")


def parse_ptosc_line(line: str) -> Progress | None:
    m = _PTOSC.search(line)
    if not m:
        return None
    parts = [int(x) for x in m.groups()[1:] if x is not None]
    eta = None
    if len(parts) == 2:
        eta = parts[0] * 60 + parts[1]
    elif len(parts) == 3:
        eta = parts[0] * 3600 + parts[1] * 60 + parts[2]
    return Progress(
        engine="pt-online-schema-change", percent=float(m[1]), state="copying", eta_seconds=eta, raw=line.strip()
    )
