"""The contract gate: may this contract revision run now?

A contract revision C may run only when every color that could still run code expecting the
pre-contract schema is retired: each color that is not retired expects a revision at or
after C's expand partner (or C itself), and no retired color has sessions connected again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from expandcontract.config import LedgerSettings, Settings
from expandcontract.ledger.sessions import SessionCount, count_sessions
from expandcontract.ledger.store import ColorState, Ledger, lost_message
from expandcontract.migrations.graph import RevisionGraph


@dataclass(frozen=True)
class Blocker:
    color: str
    state: str
    reason: str
    sessions: SessionCount | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "color": self.color,
            "state": self.state,
            "reason": self.reason,
            "sessions": self.sessions.count if self.sessions else None,
            "session_ids": [s.id for s in self.sessions.sessions] if self.sessions else [],
        }

    def __str__(self) -> str:
        return f"{self.color} ({self.state}): {self.reason}"


@dataclass(frozen=True)
class GateDecision:
    revision: str
    partners: tuple[str, ...]
    blockers: tuple[Blocker, ...] = field(default_factory=tuple)

    @property
    def open(self) -> bool:
        return not self.blockers

    def to_dict(self) -> dict[str, object]:
        return {
            "revision": self.revision,
            "partners": list(self.partners),
            "open": self.open,
            "blockers": [b.to_dict() for b in self.blockers],
        }

    def __str__(self) -> str:
        if self.open:
            return f"{self.revision}: open"
        return f"{self.revision} waits for: " + "; ".join(str(b) for b in self.blockers)


class Gate:
    """Evaluates contract revisions against the ledger, counting sessions once per color."""

    def __init__(
        self, conn: Any, ledger: Ledger, graph: RevisionGraph, environment: str, settings: Settings | None = None
    ) -> None:
        self.conn = conn
        self.ledger = ledger
        self.graph = graph
        self.environment = environment
        self.settings = settings
        self.colors: list[ColorState] = ledger.colors(conn, environment)
        self._sessions: dict[str, SessionCount] = {}
        self._proxy: list[Blocker] | None = None

    def proxy_blockers(self) -> list[Blocker]:
        """Retired colors the proxy still sends traffic to (the ledger alone is not proof)."""
        if self._proxy is None:
            self._proxy = []
            retired = [c for c in self.colors if c.state == "retired"]
            if self.settings is not None and retired:
                from expandcontract.traffic.backends import observe_backend

                backend, state, error = observe_backend(self.settings, self.environment)
                if backend is not None and state is None:
                    self._proxy.append(Blocker("-", "-", f"the {backend.name} proxy cannot be observed: {error}"))
                elif state is not None:
                    for color in retired:
                        if color.color in state.colors and state.carries_traffic(color.color):
                            share = state.colors[color.color].weight
                            self._proxy.append(
                                Blocker(color.color, "retired", f"retired, but the proxy still sends it {share}%")
                            )
        return self._proxy

    def sessions(self, color: str) -> SessionCount:
        if color not in self._sessions:
            settings: LedgerSettings = self.ledger.settings
            self._sessions[color] = count_sessions(self.conn, settings, self.environment, color)
        return self._sessions[color]

    def evaluate(self, revision: str) -> GateDecision:
        partners = self.graph.partners(revision) if revision in self.graph.revisions else ()
        targets = partners or (revision,)
        blockers: list[Blocker] = []
        if not self.colors:
            blockers.append(
                Blocker(
                    "-",
                    "-",
                    "no colors are recorded for this environment, so nothing proves the old one is gone "
                    "(`ec deploy COLOR --version V`)",
                )
            )
        from expandcontract.ledger.store import active_online_runs

        for run in active_online_runs(self.conn, self.ledger, self.environment):
            what = "waits for its cut-over" if run["state"] == "postponed" else "is still copying"
            if run["liveness"] == "lost":
                blockers.append(Blocker("-", "-", lost_message(run)))
                continue
            blockers.append(
                Blocker(
                    "-",
                    "-",
                    f"the online schema change of {run['table_name']} ({run['engine']}) "
                    f"{what}; finish it first (`ec online-cutover {run['table_name']}`)",
                )
            )
        blockers.extend(self.proxy_blockers())
        for color in self.colors:
            if color.state == "retired":
                sessions = self.sessions(color.color)
                if sessions.count:
                    blockers.append(
                        Blocker(
                            color.color,
                            color.state,
                            f"retired, but {sessions.count} session(s) are connected again",
                            sessions,
                        )
                    )
                continue
            blocker = self._expectation(color, revision, targets)
            if blocker:
                blockers.append(blocker)
        return GateDecision(revision, partners, tuple(blockers))

    def _expectation(self, color: ColorState, revision: str, targets: tuple[str, ...]) -> Blocker | None:
        if not color.expects:
            return Blocker(
                color.color,
                color.state,
                "records no expected revision, so it may need the old schema",
                self.sessions(color.color),
            )
        known = [self.graph.resolve(x) for x in color.expects]
        if any(k is None for k in known):
            unknown = [x for x, k in zip(color.expects, known, strict=True) if k is None]
            return Blocker(
                color.color,
                color.state,
                f"expects revision(s) {', '.join(unknown)} unknown to this migration history",
                self.sessions(color.color),
            )
        resolved = [k for k in known if k]
        if any(self.graph.at_or_after(x, revision) for x in resolved):
            return None
        if all(any(self.graph.at_or_after(x, t) for x in resolved) for t in targets):
            return None
        sessions = self.sessions(color.color)
        return Blocker(
            color.color,
            color.state,
            f"is {color.state} and expects {' '.join(color.expects)}, before {' '.join(targets)}: it still needs "
            f"the old schema ({sessions.describe()})",
            sessions,
        )
