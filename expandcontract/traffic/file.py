"""Weights in a JSON file: for local trials, tests and routers that read a file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from expandcontract.fileio import write_text
from expandcontract.traffic.base import ColorTraffic, SwitchError, TrafficState, check_name


class FileBackend:
    name = "file"

    def __init__(self, path: str | Path, colors: tuple[str, ...] = ("blue", "green")) -> None:
        self.path = Path(path)
        self.colors = tuple(check_name(c, "color") for c in colors)

    def _read(self) -> dict[str, Any]:
        fresh = {"weights": {c: (100 if i == 0 else 0) for i, c in enumerate(self.colors)}, "generation": 0}
        try:
            text = self.path.read_text(encoding="utf-8")
            data = json.loads(text) if text.strip() else fresh
        except FileNotFoundError:
            return fresh
        except (OSError, ValueError) as error:
            raise SwitchError(f"cannot read {self.path}: {error}") from None
        return data if isinstance(data, dict) else {"weights": {}, "generation": 0}

    def observe(self) -> TrafficState:
        data = self._read()
        weights = {c: int(data.get("weights", {}).get(c, 0)) for c in self.colors}
        return TrafficState(
            self.name,
            {c: ColorTraffic(w) for c, w in weights.items()},
            "configured",
            {"generation": data.get("generation", 0)},
        )

    def apply(self, weights: Mapping[str, int], *, verified: frozenset[str] = frozenset()) -> None:
        data = self._read()
        document = {
            "weights": {c: int(weights.get(c, 0)) for c in self.colors},
            "generation": int(data.get("generation", 0)) + 1,
        }
        write_text(self.path, json.dumps(document, indent=2) + "\n")

    def persist(self) -> None:
        return None  # the file is the state

    def confirms_health(self, color: str) -> bool:
        return True  # not a proxy: whatever reads the file owns health
