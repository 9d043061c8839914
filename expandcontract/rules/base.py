"""The rule contract: one subclass per module, metadata as class attributes, the docstring as
its documentation (ruff's headings plus squawk's Alembic form)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal

from expandcontract.dialects import DIALECTS, DialectName
from expandcontract.linter.findings import Category, Severity

if TYPE_CHECKING:
    from expandcontract.linter.context import UnitContext
    from expandcontract.sql.changes import Change

RulePhase = Literal["expand", "contract", "any"]
ALL_DIALECTS: frozenset[DialectName] = frozenset(DIALECTS)
POSTGRESQL: frozenset[DialectName] = frozenset({"postgresql"})
MYSQL: frozenset[DialectName] = frozenset({"mysql", "mariadb"})

DOC_SECTIONS = ("What it does", "Why is this bad?", "Example", "Use instead", "Alembic")


@dataclass
class Hit:
    """One violation found by a rule; the engine turns it into a :class:`Finding`."""

    message: str
    fix: str | None = None
    change: Change | None = None
    line: int | None = None
    severity: Severity | None = None
    extra: dict[str, object] = field(default_factory=dict)


class Rule:
    #: ``EC`` + three digits: 0xx meta, 1xx contract, 2xx PostgreSQL locks, 3xx data, 4xx MySQL/MariaDB, 5xx hygiene.
    code: ClassVar[str]
    #: kebab-case name, accepted wherever a code is.
    name: ClassVar[str]
    category: ClassVar[Category]
    #: The deployment phase the flagged change belongs to (``contract`` rules gate it).
    phase: ClassVar[RulePhase] = "any"
    dialects: ClassVar[frozenset[DialectName]] = ALL_DIALECTS
    severity: ClassVar[Severity] = "error"
    #: How to do it safely, one or two sentences (the ``fix`` field of a finding).
    fix: ClassVar[str]
    #: Off unless selected explicitly (``extend-select``).
    opt_in: ClassVar[bool] = False
    #: What the rule needs to know besides the migration itself, and what it does without it
    #: (rendered as the "What it needs to know" section of its page).
    needs: ClassVar[str] = "Only the migration itself: no knowledge of the database is needed."

    def check(self, change: Change, ctx: UnitContext) -> Iterator[Hit]:
        """Findings for one change; ``ctx`` knows what came before it in the unit."""
        return iter(())

    def check_unit(self, ctx: UnitContext) -> Iterator[Hit]:
        """Findings about the unit as a whole, after every change was checked."""
        return iter(())

    @classmethod
    def doc(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def summary(cls) -> str:
        return cls.doc().split("\n\n", 1)[0].replace("\n", " ").strip()

    @classmethod
    def sections(cls) -> dict[str, str]:
        """The docstring's ``## Heading`` sections, in order."""
        out: dict[str, str] = {}
        current: str | None = None
        lines: list[str] = []
        for line in cls.doc().splitlines():
            if line.startswith("## "):
                if current is not None:
                    out[current] = "\n".join(lines).strip()
                current, lines = line[3:].strip(), []
            elif current is not None:
                lines.append(line)
        if current is not None:
            out[current] = "\n".join(lines).strip()
        return out

    def applies_to(self, dialect: DialectName) -> bool:
        return dialect in self.dialects
