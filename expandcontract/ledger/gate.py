"""The contract gate: may this contract revision run now?

A contract revision C may run only when every color that could still run code expecting the
pre-contract schema is retired: each color that is not retired expects a revision at or
after C's expand partner (or C itself), and no retired color has sessions connected again.

The gate looks at every color recorded in the database, whatever its environment: two
environments that share a database share its schema, so a contract run from one of them
breaks the other's colors just the same. A color state that the event log does not explain
(a hand edit) and a session count that cannot be taken both keep the gate closed.
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
    #: Set when the color belongs to another environment sharing this database.
    environment: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "color": self.color,
            "environment": self.environment,
            "state": self.state,
            "reason": self.reason,
            "sessions": self.sessions.count if self.sessions else None,
            "session_ids": [s.id for s in self.sessions.sessions] if self.sessions else [],
        }

    def __str__(self) -> str:
        where = f" of environment {self.environment}" if self.environment else ""
        return f"{self.color}{where} ({self.state}): {self.reason}"


@dataclass(frozen=True)
class GateDecision:
    revision: str
    partners: tuple[str, ...]
    blockers: tuple[Blocker, ...] = field(default_factory=tuple)
    #: Why the revision is gated as contract, when not by its declaration.
    gated_because: str | None = None

    @property
    def open(self) -> bool:
        return not self.blockers

    def to_dict(self) -> dict[str, object]:
        return {
            "revision": self.revision,
            "gated_because": self.gated_because,
            "partners": list(self.partners),
            "open": self.open,
            "blockers": [b.to_dict() for b in self.blockers],
        }

    def __str__(self) -> str:
        why = f" (gated as contract: {self.gated_because})" if self.gated_because else ""
        if self.open:
            return f"{self.revision}: open{why}"
        return f"{self.revision} waits for: " + "; ".join(str(b) for b in self.blockers) + why


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
        #: Every color in the database; ``colors`` are this environment's.
        self.all_colors: list[ColorState] = ledger.colors(conn, None)
        self.colors: list[ColorState] = [c for c in self.all_colors if c.environment == environment]
        self._sessions: dict[tuple[str, str], SessionCount] = {}
        self._proxy: list[Blocker] | None = None
        self._tampered: list[str] | None = None

    def tampered(self) -> list[str]:
        """Colors whose recorded state no event explains (see :meth:`Ledger.state_mismatches`)."""
        if self._tampered is None:
            self._tampered = self.ledger.state_mismatches(self.conn, self.all_colors)
        return self._tampered

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

    def sessions(self, color: str, environment: str | None = None) -> SessionCount:
        key = (environment or self.environment, color)
        if key not in self._sessions:
            settings: LedgerSettings = self.ledger.settings
            self._sessions[key] = count_sessions(self.conn, settings, key[0], color)
        return self._sessions[key]

    def _other(self, color: ColorState) -> str | None:
        return color.environment if color.environment != self.environment else None

    def evaluate(self, revision: str) -> GateDecision:
        partners = self.graph.partners(revision) if revision in self.graph.revisions else ()
        targets = partners or (revision,)
        blockers: list[Blocker] = []
        if not self.all_colors:
            blockers.append(
                Blocker(
                    "-",
                    "-",
                    "no colors are recorded in this database, so nothing proves the old one is gone "
                    "(`ec deploy COLOR --version V`)",
                )
            )
        blockers.extend(Blocker("-", "-", problem) for problem in self.tampered())
        from expandcontract.ledger.store import active_online_runs

        for run in active_online_runs(self.conn, self.ledger, None):
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
        for color in self.all_colors:
            if color.state == "retired":
                sessions = self.sessions(color.color, color.environment)
                if sessions.unknown:
                    # Unknown is not zero: nothing shows the retired code stayed away.
                    blockers.append(
                        Blocker(
                            color.color,
                            color.state,
                            f"retired, but its sessions cannot be counted: {sessions.unknown}",
                            sessions,
                            self._other(color),
                        )
                    )
                elif sessions.count:
                    blockers.append(
                        Blocker(
                            color.color,
                            color.state,
                            f"retired, but {sessions.count} session(s) are connected again",
                            sessions,
                            self._other(color),
                        )
                    )
                continue
            blocker = self._expectation(color, revision, targets)
            if blocker:
                blockers.append(blocker)
        why = self.graph.contract_reason(revision) if revision in self.graph.revisions else None
        return GateDecision(revision, partners, tuple(blockers), None if why == "declared contract" else why)

    def _expectation(self, color: ColorState, revision: str, targets: tuple[str, ...]) -> Blocker | None:
        other = self._other(color)
        if not color.expects:
            return Blocker(
                color.color,
                color.state,
                "records no expected revision, so it may need the old schema",
                self.sessions(color.color, color.environment),
                other,
            )
        known = [self.graph.resolve(x) for x in color.expects]
        if any(k is None for k in known):
            unknown = [x for x, k in zip(color.expects, known, strict=True) if k is None]
            return Blocker(
                color.color,
                color.state,
                f"expects revision(s) {', '.join(unknown)} unknown to this migration history",
                self.sessions(color.color, color.environment),
                other,
            )
        resolved = [k for k in known if k]
        if any(self.graph.at_or_after(x, revision) for x in resolved):
            return None
        if all(any(self.graph.at_or_after(x, t) for x in resolved) for t in targets):
            return None
        sessions = self.sessions(color.color, color.environment)
        return Blocker(
            color.color,
            color.state,
            f"is {color.state} and expects {' '.join(color.expects)}, before {' '.join(targets)}: it still needs "
            f"the old schema ({sessions.describe()})",
            sessions,
            other,
        )
