"""Command hook: for cloud load balancers and Kubernetes.

Contract: the *apply* command reads ``{"weights": {"blue": 0, "green": 100}}`` (JSON) on
stdin and exits 0 once the change is accepted; the *observe* command prints
``{"weights": {"blue": 0, "green": 100}}`` as the load balancer reports it. Commands are
argument lists, never shell strings.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence

from expandcontract.traffic.base import ColorTraffic, SwitchError, TrafficState, check_name


class CommandBackend:
    name = "command"

    def __init__(
        self,
        apply: Sequence[str],
        observe: Sequence[str],
        colors: tuple[str, ...] = ("blue", "green"),
        timeout: float = 60.0,
    ) -> None:
        self.apply_cmd = [str(a) for a in apply]
        self.observe_cmd = [str(a) for a in observe]
        self.colors = tuple(check_name(c, "color") for c in colors)
        self.timeout = timeout

    def _run(self, cmd: list[str], stdin: str | None) -> str:
        try:
            result = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=self.timeout, check=False)
        except FileNotFoundError:
            raise SwitchError(f"command not found: {cmd[0]}") from None
        except subprocess.TimeoutExpired:
            raise SwitchError(f"{cmd[0]} did not finish within {self.timeout:g}s") from None
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise SwitchError(f"{cmd[0]} exited {result.returncode}: {' | '.join(tail)}")
        return result.stdout

    def observe(self) -> TrafficState:
        out = self._run(self.observe_cmd, None)
        try:
            weights = json.loads(out)["weights"]
            colors = {c: ColorTraffic(int(weights.get(c, 0))) for c in self.colors}
        except (ValueError, KeyError, TypeError, AttributeError):
            raise SwitchError(f'{self.observe_cmd[0]} must print {{"weights": {{...}}}}, got: {out[:200]!r}') from None
        return TrafficState(self.name, colors)

    def apply(self, weights: Mapping[str, int], *, verified: frozenset[str] = frozenset()) -> None:
        self._run(self.apply_cmd, json.dumps({"weights": dict(weights)}))

    def persist(self) -> None:
        return None  # the hook's job

    def confirms_health(self, color: str) -> bool:
        return True  # the load balancer behind the hook owns health (e.g. ALB target health)
