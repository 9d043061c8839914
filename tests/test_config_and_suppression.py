"""Configuration discovery and validation; inline suppressions; the analysis cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from expandcontract.config import find_config, load_settings, settings_from_mapping
from expandcontract.errors import ConfigError, UnknownRuleError
from expandcontract.linter.engine import lint
from tests.helpers import codes, lint_ops, lint_sql, write_revision


def test_find_config_walks_up(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.expandcontract]\ndialect = "mariadb"\n', encoding="utf-8")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_config(nested) == tmp_path / "pyproject.toml"
    settings = load_settings(find_config(nested))
    assert settings.dialect == "mariadb" and settings.target.version == (10, 6)


def test_versions_and_kebab_or_snake_keys(tmp_path: Path) -> None:
    settings = settings_from_mapping(
        {"dialect": "postgres", "versions": {"postgresql": 11, "mysql": "8.0.12"}, "table_rows": {"Events": 5}}
    )
    assert settings.target.version == (11,)
    assert settings.versions["mysql"] == (8, 0, 12)
    assert settings.table_rows == {"events": 5}


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"dialect": "oracle"}, "unknown dialect 'oracle'"),
        ({"versions": {"postgresql": "fifteen"}}, "invalid server version"),
        ({"select": "EC101", "severity": {"EC101": "fatal"}}, "severity must map"),
        ({"table-rows": {"t": -1}}, "table-rows must map"),
        ({"colour": True}, "unknown key(s) colour"),
    ],
)
def test_invalid_settings(mapping: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        settings_from_mapping(mapping)


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "pyproject.toml"
    bad.write_text("[tool.expandcontract\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(bad)


def test_unknown_rule_in_severity_is_an_error(tmp_path: Path) -> None:
    write_revision(tmp_path / "v", "a", "pass")
    with pytest.raises(UnknownRuleError):
        lint([tmp_path / "v"], settings=settings_from_mapping({"severity": {"EC777": "warning"}}), use_cache=False)


def test_severity_override(tmp_path: Path) -> None:
    report = lint_sql(tmp_path, "ALTER TABLE t DROP COLUMN c;", severity={"drop-column": "warning"})
    assert [(f.code, f.severity) for f in report.findings if f.code == "EC101"] == [("EC101", "warning")]
    assert report.exit_code == 0


def test_python_suppression_on_the_line_or_the_line_above(tmp_path: Path) -> None:
    report = lint_ops(
        tmp_path,
        """
        op.drop_column("t", "a")  # ec: ignore[EC101] reviewed
        # ec: ignore[drop-column] reviewed too
        op.drop_column("t", "b")
        op.drop_column("t", "c")
        """,
    )
    assert [(f.code, f.line) for f in report.findings if f.code.startswith("EC1")] == [("EC101", 13)]


def test_trailing_suppression_does_not_leak_to_the_next_line(tmp_path: Path) -> None:
    report = lint_ops(tmp_path, 'op.drop_column("t", "a")  # ec: ignore[EC101] ok\nop.drop_column("t", "b")')
    assert [f.line for f in report.findings if f.code == "EC101"] == [11]


def test_file_level_suppression(tmp_path: Path) -> None:
    report = lint_ops(
        tmp_path,
        'op.drop_column("t", "a")\nop.drop_column("t", "b")',
        extra="# ec: ignore-file[EC101] this whole file was reviewed",
    )
    assert "EC101" not in codes(report)
    assert "EC005" not in codes(report)


def test_sql_comment_inside_op_execute_suppresses(tmp_path: Path) -> None:
    report = lint_ops(tmp_path, 'op.execute("-- ec: ignore[EC212] tiny table\\nUPDATE flags SET enabled = true")')
    assert "EC212" not in codes(report) and "EC005" not in codes(report)


def test_sql_file_suppressions(tmp_path: Path) -> None:
    report = lint_sql(
        tmp_path,
        """
        ALTER TABLE t DROP COLUMN a; -- ec: ignore[EC101] trailing
        -- ec: ignore[EC101] above
        ALTER TABLE t DROP COLUMN b;
        ALTER TABLE t
          -- ec: ignore[EC101] inside
          DROP COLUMN c;
        ALTER TABLE t DROP COLUMN d;
        """,
    )
    assert [(f.code, f.line) for f in report.findings if f.code in ("EC101", "EC005")] == [("EC101", 8)]


def test_suppressed_contract_still_classifies_the_revision(tmp_path: Path) -> None:
    report = lint_ops(tmp_path, 'op.drop_column("t", "a")  # ec: ignore[EC101] reviewed')
    assert report.revisions[0].phase == "contract"


def test_cache_reuses_analysis_and_notices_edits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    versions = tmp_path / "versions"
    path = write_revision(versions, "a", 'op.drop_column("t", "x")')
    monkeypatch.setenv("EC_CACHE_DIR", str(tmp_path / "cache"))
    settings = settings_from_mapping({})
    first = lint([versions], settings=settings)
    from expandcontract.linter import engine

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("cache miss: capture ran again")

    monkeypatch.setattr(engine._Capturer, "__call__", boom)
    second = lint([versions], settings=settings)
    assert second.findings == first.findings
    path.write_text(path.read_text().replace('"x"', '"y"'), encoding="utf-8")
    with pytest.raises(AssertionError, match="cache miss"):
        lint([versions], settings=settings)


def test_corrupt_cache_entry_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    versions = tmp_path / "versions"
    write_revision(versions, "a", 'op.drop_column("t", "x")')
    monkeypatch.setenv("EC_CACHE_DIR", str(tmp_path / "cache"))
    lint([versions], settings=settings_from_mapping({}))
    entries = list((tmp_path / "cache").rglob("*.json"))
    assert entries
    for entry in entries:
        entry.write_bytes(b"not json")
    report = lint([versions], settings=settings_from_mapping({}))
    assert codes(report) == ["EC101"]
    # A planted entry (the cache is in the project tree a pull request can write) builds only
    # ec's own records: anything else is a miss, and the revision is captured again.
    for entry in entries:
        entry.write_text('[{"__type__": "Popen", "args": ["touch", "pwned"]}]', encoding="utf-8")
    assert codes(lint([versions], settings=settings_from_mapping({}))) == ["EC101"]
    for entry in entries:
        entry.write_text("[]", encoding="utf-8")  # a well-formed lie is possible only with write access


def test_version_awareness(tmp_path: Path) -> None:
    sql = "ALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT 0;"
    assert "EC207" in codes(lint_sql(tmp_path, sql, versions={"postgresql": 10}))
    assert "EC207" not in codes(lint_sql(tmp_path, sql, versions={"postgresql": 11}))
    not_null = (
        "ALTER TABLE users ADD CONSTRAINT nn CHECK (email IS NOT NULL) NOT VALID;\nCOMMIT;\n"
        "ALTER TABLE users VALIDATE CONSTRAINT nn;\nALTER TABLE users ALTER COLUMN email SET NOT NULL;"
    )
    assert "EC209" in codes(lint_sql(tmp_path, not_null, versions={"postgresql": 11}))
    assert "EC209" not in codes(lint_sql(tmp_path, not_null, versions={"postgresql": 12}))
    add = "ALTER TABLE events ADD COLUMN note VARCHAR(20) AFTER id;"
    rows = {"table-rows": {"events": 5_000_000}}
    assert "EC404" in codes(lint_sql(tmp_path, add, "mysql", versions={"mysql": "8.0.28"}, **rows))
    assert "EC404" not in codes(lint_sql(tmp_path, add, "mysql", versions={"mysql": "8.0.29"}, **rows))


def test_not_null_check_from_an_earlier_revision_is_remembered(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    write_revision(
        versions, "a", 'op.create_check_constraint("nn", "users", "email IS NOT NULL", postgresql_not_valid=True)'
    )
    write_revision(versions, "b", 'op.execute("ALTER TABLE users VALIDATE CONSTRAINT nn")', down="a")
    write_revision(
        versions, "c", 'op.alter_column("users", "email", nullable=False)', down="b", extra='phase = "contract"'
    )
    report = lint([versions], settings=settings_from_mapping({}), use_cache=False)
    assert "EC209" not in codes(report)
    assert "EC106" in codes(report)


def test_cached_analysis_decodes_without_sqlalchemy(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from expandcontract.dialects import Target
    from expandcontract.migrations.capture import capture
    from expandcontract.migrations.loader import discover

    path = write_revision(tmp_path / "v", "a", 'op.add_column("t", sa.Column("c", sa.String(5)))')
    changes = capture(discover(path.parent).revisions[0], Target.default("postgresql"), [])
    from expandcontract.sql.codec import encode_changes

    blob = tmp_path / "changes.json"
    blob.write_text(json.dumps(encode_changes(changes)), encoding="utf-8")
    code = (
        "import json, sys; from expandcontract.sql.codec import decode_changes; "
        f"decode_changes(json.load(open({str(blob)!r}))); print('sqlalchemy' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_cache_packs_are_merged_and_keep_every_entry(tmp_path: Path) -> None:
    """Each run writes one pack (a file per entry cost half a second on 500 revisions); beyond
    MAX_PACKS they are merged, and no entry is lost."""
    from expandcontract.linter.cache import MAX_PACKS, AnalysisCache
    from expandcontract.sql import changes as c

    keys = []
    for run in range(MAX_PACKS + 3):
        cache = AnalysisCache(tmp_path / "cache")
        key = cache.key(f"revision {run}".encode(), "postgresql", "revision")
        assert cache.get(key) is None
        cache.put(key, [c.DropTable(table=f"t{run}", line=run + 1)])
        cache.flush()
        keys.append(key)
        assert len(list((tmp_path / "cache").glob("pack-*.json"))) <= MAX_PACKS
    fresh = AnalysisCache(tmp_path / "cache")
    for run, key in enumerate(keys):
        found = fresh.get(key)
        assert found is not None and [(type(ch).__name__, ch.table) for ch in found] == [("DropTable", f"t{run}")]
    assert not list((tmp_path / "cache").glob("*.tmp"))
