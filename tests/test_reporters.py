"""Snapshot tests of the four output formats on examples/common-mistakes.

Set EC_UPDATE_SNAPSHOTS=1 to rewrite the snapshots after an intended change, then review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest

from expandcontract.config import settings_from_mapping
from expandcontract.linter.engine import lint
from expandcontract.linter.findings import Report
from expandcontract.linter.reporters import render
from expandcontract.linter.reporters.json import report_document

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"


@pytest.fixture
def report(monkeypatch: pytest.MonkeyPatch) -> Report:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return lint(["examples/common-mistakes"], settings=settings_from_mapping({}), use_cache=False)


def _check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("EC_UPDATE_SNAPSHOTS") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"missing snapshot {name}: run with EC_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_format_snapshot(report: Report, fmt: str) -> None:
    _check_snapshot(f"common-mistakes.{fmt}", render(report, fmt))


def test_sarif_snapshot_and_schema(report: Report) -> None:
    document = json.loads(render(report, "sarif"))
    schema = json.loads((Path(__file__).parent / "sarif_subset_schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(document, schema, format_checker=jsonschema.FormatChecker())
    run = document["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert not result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith("/")
    # The source root is machine-specific; everything else must match the snapshot.
    run["originalUriBaseIds"] = {"%SRCROOT%": {"uri": "file:///SRCROOT/"}}
    _check_snapshot("common-mistakes.sarif", json.dumps(document, indent=2) + "\n")


def test_json_shape_is_exactly_the_documented_one(report: Report) -> None:
    document = report_document(report)
    assert list(document) == ["version", "tool", "revisions", "findings"]
    assert document["version"] == 1
    assert document["tool"] == {"name": "expandcontract", "version": document["tool"]["version"]}  # type: ignore[index]
    assert list(document["revisions"][0]) == [  # type: ignore[index]
        "revision",
        "file",
        "declared_phase",
        "phase",
        "capture",
        "reason",
        "output",
    ]
    assert list(document["findings"][0]) == [  # type: ignore[index]
        "code",
        "name",
        "severity",
        "category",
        "file",
        "line",
        "revision",
        "dialect",
        "statement",
        "message",
        "fix",
    ]


def test_exact_findings_of_the_mistakes_example(report: Report) -> None:
    got = [(Path(f.file).name, f.line, f.code, f.severity) for f in report.findings]
    assert got == [
        ("m2_rename_in_place.py", 10, "EC004", "error"),
        ("m2_rename_in_place.py", 10, "EC103", "error"),
        ("m3_index_and_fk.py", 9, "EC201", "error"),
        ("m3_index_and_fk.py", 10, "EC204", "error"),
        ("m3_index_and_fk.py", 10, "EC301", "warning"),
        ("m3_index_and_fk.py", 11, "EC203", "error"),
        ("m4_required_column.py", 10, "EC003", "error"),
        ("m4_required_column.py", 10, "EC107", "error"),
        ("m4_required_column.py", 11, "EC207", "error"),
        # age was created INTEGER in m1 (the replayed schema): a widening, which does rewrite.
        ("m5_raw_sql.py", 9, "EC208", "error"),
        ("m5_raw_sql.py", 10, "EC003", "error"),
        ("m5_raw_sql.py", 10, "EC106", "error"),
        ("m5_raw_sql.py", 10, "EC209", "error"),
        ("m5_raw_sql.py", 10, "EC301", "warning"),
        ("m5_raw_sql.py", 11, "EC212", "warning"),
        ("m5_raw_sql.py", 12, "EC001", "warning"),
        ("m6_mixed.py", 11, "EC003", "error"),
        ("m6_mixed.py", 11, "EC101", "error"),
        ("m7_suppressed.py", 12, "EC005", "warning"),
        ("m7_suppressed.py", 12, "EC101", "info"),
    ]
    assert [(r.revision, r.phase) for r in report.revisions] == [
        ("m1", "expand"),
        ("m2", "contract"),
        ("m3", "expand"),
        ("m4", "mixed"),
        ("m5", "mixed"),
        ("m6", "mixed"),
        ("m7", "contract"),
    ]
    assert report.exit_code == 1


def test_github_escapes_and_step_summary(tmp_path: Path, report: Report, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    text = render(report, "github")
    first = text.splitlines()[0]
    assert first.startswith("::error file=examples/common-mistakes/versions/m2_rename_in_place.py,line=10,")
    assert "title=EC004 phase-mismatch::" in first and "%0AFix: " in first
    assert "| error | EC004 phase-mismatch |" in summary.read_text(encoding="utf-8")
