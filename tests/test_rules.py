"""Every rule, both ways, on each dialect it covers (see rule_cases.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from expandcontract.rules import all_rules
from tests.helpers import lint_ops, lint_sql
from tests.rule_cases import CASES, OPTIONS


def _id(case: tuple[str, str, str, str, int]) -> str:
    code, dialect, kind, snippet, expected = case
    verdict = "fires" if expected else "passes"
    return f"{code}-{dialect}-{kind}-{verdict}-{abs(hash(snippet)) % 10_000}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_rule_case(tmp_path: Path, case: tuple[str, str, str, str, int]) -> None:
    code, dialect, kind, snippet, expected = case
    run = lint_sql if kind == "sql" else lint_ops
    report = run(tmp_path, snippet, dialect, **OPTIONS)
    found = [f for f in report.findings if f.code == code]
    assert len(found) == expected, "\n".join(f"{f.code} {f.line}: {f.message}" for f in report.findings)
    for finding in found:
        assert finding.dialect == dialect
        assert finding.fix
        assert finding.line >= 1


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_every_rule_is_tested_both_ways_on_each_dialect(rule: object) -> None:
    for dialect in sorted(rule.dialects):  # type: ignore[attr-defined]
        cases = [c for c in CASES if c[0] == rule.code and c[1] == dialect]  # type: ignore[attr-defined]
        if rule.code == "EC109" and dialect != "postgresql":  # type: ignore[attr-defined]
            continue  # enum value renames exist only on PostgreSQL
        assert any(c[4] > 0 for c in cases), f"{rule.code} has no firing case on {dialect}"  # type: ignore[attr-defined]
        assert any(c[4] == 0 for c in cases), f"{rule.code} has no near-miss case on {dialect}"  # type: ignore[attr-defined]


def test_rule_metadata_is_complete() -> None:
    seen_codes, seen_names = set(), set()
    for rule in all_rules():
        assert rule.code not in seen_codes and rule.name not in seen_names
        seen_codes.add(rule.code)
        seen_names.add(rule.name)
        assert list(rule.sections()) == ["What it does", "Why is this bad?", "Example", "Use instead", "Alembic"]
        assert rule.category in ("contract", "lock", "data", "hygiene", "unverified")
        assert rule.fix and rule.summary()
