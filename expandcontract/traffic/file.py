"""Weights in a JSON file: for local trials, tests and routers that read a file."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from expandcontract.traffic.base import ColorTraffic, SwitchError, TrafficState, check_name


class FileBackend:
    name = "file"

    def __init__(self, path: str | Path, colors: tuple[str, ...] = ("blue", "green")) -> None:
        self.path = Path(path)
        self.colors = tuple(check_name(c, "color") for c in colors)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"weights": {c: (100 if i == 0 else 0) for i, c in enumerate(self.colors)}, "generation": 0}
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

    def apply(self, weights: Mapping[str, int]) -> None:
        data = self._read()
        document = {
            "weights": {c: int(weights.get(c, 0)) for c in self.colors},
            "generation": int(data.get("generation", 0)) + 1,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, self.path)

    def persist(self) -> None:
        return None  # the file is the state
