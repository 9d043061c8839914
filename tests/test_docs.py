"""Generated documentation stays in step with the rule modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from expandcontract import _docgen


def test_rule_docs_are_up_to_date() -> None:
    stale = _docgen.stale_pages()
    assert not stale, f"run `python -m expandcontract._docgen`; stale: {stale}"


def test_every_rule_has_a_page_with_every_section() -> None:
    pages = _docgen.expected_pages()
    assert len(pages) == 39  # 38 rules + index
    for name, text in pages.items():
        if name == "index.md":
            continue
        headings = ("## What it does", "## Why is this bad?", "## Example", "## Use instead", "## Alembic form")
        for heading in (*headings, "## What it needs to know"):
            assert heading in text, (name, heading)


ALEMBIC_FORM_HEADER = (
    "import sqlalchemy as sa\nfrom alembic import op\nfrom sqlalchemy.dialects import postgresql, mysql\n"
    "from expandcontract import recipes\nrevision = 'r1'\ndown_revision = None\n"
)


def _rule_pages() -> list[Path]:
    return sorted((Path(__file__).resolve().parent.parent / "docs" / "rules").glob("EC*.md"))


@pytest.mark.parametrize("page", _rule_pages(), ids=lambda p: p.stem.split("-")[0])
def test_every_rule_pages_alembic_form_lints_clean(page: Path, tmp_path: Path) -> None:
    """The "Alembic form" is what a user copies: in its documented phase it must pass ec's own
    lint on every dialect the rule covers (suppressions it shows need their reasons)."""
    import re
    import textwrap

    from expandcontract.config import settings_from_mapping
    from expandcontract.linter.engine import lint

    text = page.read_text(encoding="utf-8")
    form = re.search(r"## Alembic form\n\n```python\n(.*?)```", text, re.S)
    assert form, f"{page.name} has no Alembic form"
    code = form.group(1)
    body = code if "def upgrade" in code else "def upgrade():\n" + textwrap.indent(code, "    ")
    table = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    dialects = table[1].split("|")[4].strip().split(", ")
    for dialect in dialects:
        versions = tmp_path / dialect / "versions"
        versions.mkdir(parents=True)
        (versions / "r1.py").write_text(ALEMBIC_FORM_HEADER + body, encoding="utf-8")
        report = lint([versions], settings=settings_from_mapping({"dialect": dialect}), use_cache=False)
        findings = [(f.code, f.message) for f in report.findings if f.severity != "info"]
        assert findings == [], f"{page.name} on {dialect}"


def test_every_page_is_in_the_site_nav() -> None:
    """mkdocs builds pages left out of the nav but nobody finds them (the 37 rule pages were)."""
    import yaml

    root = Path(__file__).resolve().parent.parent

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor("tag:yaml.org,2002:python/name:", lambda loader, suffix, node: None)
    config = yaml.load((root / "mkdocs.yml").read_text(encoding="utf-8"), Loader=_Loader)

    def pages(node: object) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, list):
            return [p for item in node for p in pages(item)]
        if isinstance(node, dict):
            return [p for value in node.values() for p in pages(value)]
        return []

    in_nav = set(pages(config["nav"]))
    on_disk = {str(p.relative_to(root / "docs")) for p in (root / "docs").rglob("*.md")}
    assert sorted(on_disk - in_nav) == []
    assert sorted(in_nav - on_disk) == []
