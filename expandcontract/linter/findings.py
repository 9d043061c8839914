"""What lint reports: findings, per-revision classification, and the report that holds them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Severity = Literal["error", "warning", "info"]
Category = Literal["contract", "lock", "data", "hygiene", "unverified"]
UnitPhase = Literal["expand", "contract", "mixed", "data", "empty", "unknown"]

SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
CATEGORIES: tuple[Category, ...] = ("contract", "lock", "data", "hygiene", "unverified")


@dataclass(frozen=True)
class Finding:
    code: str
    name: str
    severity: Severity
    category: Category
    file: str
    line: int
    revision: str | None
    dialect: str
    statement: str | None
    message: str
    fix: str

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "name": self.name,
            "severity": self.severity,
            "category": self.category,
            "file": self.file,
            "line": self.line,
            "revision": self.revision,
            "dialect": self.dialect,
            "statement": self.statement,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class RevisionSummary:
    revision: str | None
    file: str
    declared_phase: Literal["expand", "contract"] | None
    phase: UnitPhase
    #: How the unit was read: ``offline`` (it ran), ``static`` (its source was read), ``failed``
    #: (neither yielded its operations), ``sql`` (a .sql file).
    capture: str = "offline"
    #: Why it was not fully captured: ``{"kind": import-error | needs-connection | raised |
    #: timeout | unparsable-sql, "detail": ...}``; None when it was.
    reason: dict[str, str] | None = None
    #: What the revision printed while ec ran it (never mixed into the report itself).
    output: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "revision": self.revision,
            "file": self.file,
            "declared_phase": self.declared_phase,
            "phase": self.phase,
            "capture": self.capture,
            "reason": self.reason,
            "output": self.output,
        }


@dataclass
class Report:
    """The result of :func:`expandcontract.lint`."""

    dialect: str
    revisions: list[RevisionSummary] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    #: Directory file paths are relative to.
    root: Path = field(default_factory=Path.cwd)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def exit_code(self) -> int:
        """0 when no finding has error severity, else 1 (the ``ec lint`` contract)."""
        return 1 if self.errors else 0

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for f in self.findings if f.severity == s) for s in SEVERITIES}
