"""Generated documentation stays in step with the rule modules."""

from __future__ import annotations

from expandcontract import _docgen


def test_rule_docs_are_up_to_date() -> None:
    stale = _docgen.stale_pages()
    assert not stale, f"run `python -m expandcontract._docgen`; stale: {stale}"


def test_every_rule_has_a_page_with_every_section() -> None:
    pages = _docgen.expected_pages()
    assert len(pages) == 38  # 37 rules + index
    for name, text in pages.items():
        if name == "index.md":
            continue
        for heading in ("## What it does", "## Why is this bad?", "## Example", "## Use instead", "## Alembic form"):
            assert heading in text, (name, heading)
