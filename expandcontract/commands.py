"""Importable functions behind the ``ec`` commands that are not a package of their own.

``ec lint`` is :func:`expandcontract.lint`; ``ec rules`` is :func:`rules` here.
"""

from __future__ import annotations

from dataclasses import dataclass

from expandcontract.rules import all_rules, get_rule


@dataclass(frozen=True)
class RuleInfo:
    code: str
    name: str
    category: str
    phase: str
    dialects: tuple[str, ...]
    severity: str
    opt_in: bool
    summary: str
    fix: str
    doc: str

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "name": self.name,
            "category": self.category,
            "phase": self.phase,
            "dialects": list(self.dialects),
            "severity": self.severity,
            "opt_in": self.opt_in,
            "summary": self.summary,
            "fix": self.fix,
            "doc": self.doc,
        }


def rules(code: str | None = None) -> list[RuleInfo]:
    """The rule catalog, or the one rule named by ``code`` (a code like ``EC101`` or a name).

    Raises:
        UnknownRuleError: ``code`` names no rule.
    """
    selected = [get_rule(code)] if code else list(all_rules())
    return [
        RuleInfo(
            code=r.code,
            name=r.name,
            category=r.category,
            phase=r.phase,
            dialects=tuple(sorted(r.dialects)),
            severity=r.severity,
            opt_in=r.opt_in,
            summary=r.summary(),
            fix=r.fix,
            doc=r.doc(),
        )
        for r in selected
    ]
