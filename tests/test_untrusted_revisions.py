"""A malicious (or broken) revision cannot change `ec lint`'s report, hang the job or read
secrets: each revision is captured in a worker process (see expandcontract.migrations.worker)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.helpers import write_revision

DROP = 'op.drop_table("accounts")'


def _project(tmp_path: Path, hostile: str, *, extra: str = "", config: str = "") -> Path:
    """r1: the hostile revision; r2: drops a table (EC102 must be reported whatever r1 does)."""
    versions = tmp_path / "proj" / "versions"
    write_revision(versions, "r1", hostile, extra=extra)
    write_revision(versions, "r2", DROP, down="r1")
    (tmp_path / "proj" / "pyproject.toml").write_text(
        f"[tool.expandcontract]\ndialect = 'postgresql'\n{config}", encoding="utf-8"
    )
    return tmp_path / "proj"


def _lint(
    project: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "expandcontract.cli", "lint", str(project), "--no-cache", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
        cwd=project,
    )


def _json(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    report = json.loads(result.stdout)  # the whole stdout is the report, nothing else
    assert isinstance(report, dict)
    return report


def _codes(report: dict[str, object], rev_file: str) -> list[str]:
    findings = report["findings"]
    assert isinstance(findings, list)
    return sorted(f["code"] for f in findings if f["file"].endswith(rev_file))


HOSTILE = {
    "sys-exit": "import sys\nsys.exit(0)",
    "os-exit": "import os\nos._exit(0)",
    "base-exception": "class Boom(BaseException):\n    pass\nraise Boom('nope')",
    "keyboard-interrupt": "raise KeyboardInterrupt",
    "prints": (
        "print('{\"findings\": []}')\nimport sys\nprint('noise', file=sys.stderr)\n"
        "op.add_column('t', sa.Column('c', sa.Integer))"
    ),
    "patches-ec": textwrap.dedent(
        """\
        import expandcontract.linter.engine as engine
        import expandcontract.linter.findings as findings
        engine._findings = lambda *a, **k: []
        findings.Report.exit_code = property(lambda self: 0)
        op.add_column('t', sa.Column('c', sa.Integer))"""
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_revision_cannot_change_the_report(name: str, tmp_path: Path) -> None:
    project = _project(tmp_path, HOSTILE[name])
    result = _lint(project, "--format", "json")
    report = _json(result)
    assert result.returncode == 1, result.stderr
    assert _codes(report, "r2_rev.py") == ["EC102"]
    r1 = _codes(report, "r1_rev.py")
    if name in ("prints", "patches-ec"):
        assert r1 == []  # ran normally: its prints and patches stayed in its own process
    else:
        assert r1 == ["EC002"], r1  # could not be captured: unknown, reported


def test_sys_exit_in_a_revision_still_writes_the_sarif_file(tmp_path: Path) -> None:
    project = _project(tmp_path, HOSTILE["sys-exit"])
    sarif = tmp_path / "ec.sarif"
    result = _lint(project, "--format", "sarif", "-o", str(sarif))
    assert result.returncode == 1
    rules = sorted(r["ruleId"] for r in json.loads(sarif.read_text())["runs"][0]["results"])
    assert rules == ["EC002", "EC102"]


def test_a_revision_that_loops_forever_times_out(tmp_path: Path) -> None:
    project = _project(tmp_path, "while True:\n    pass", config="capture-timeout = '2s'\n")
    started = time.monotonic()
    result = _lint(project, "--format", "json", timeout=60)
    assert time.monotonic() - started < 30
    report = _json(result)
    findings = [f for f in report["findings"] if f["file"].endswith("r1_rev.py")]  # type: ignore[union-attr]
    assert [f["code"] for f in findings] == ["EC002"]
    assert "timed out after 2s" in findings[0]["message"]
    assert _codes(report, "r2_rev.py") == ["EC102"]


def test_a_revision_that_loops_at_import_times_out(tmp_path: Path) -> None:
    project = _project(tmp_path, "pass", extra="while True:\n    pass\n", config="capture-timeout = '2s'\n")
    report = _json(_lint(project, "--format", "json", timeout=60))
    assert _codes(report, "r1_rev.py") == ["EC002"]


def test_a_revision_cannot_read_secrets_from_the_environment(tmp_path: Path) -> None:
    body = textwrap.dedent(
        """\
        import os
        leaked = ",".join(f"{k}={v}" for k, v in os.environ.items() if "SECRET" in v)
        op.execute(f"UPDATE t SET note = '{leaked or 'nothing'}'")"""
    )
    project = _project(tmp_path, body)
    secrets = {
        "EC_DATABASE_URL": "postgresql://u:SECRET1@db/x",
        "GITHUB_TOKEN": "SECRET2",
        "PGPASSWORD": "SECRET3",
        "APP_SETTING": "SECRET4",
    }
    result = _lint(project, "--format", "json", env=secrets)
    assert "SECRET" not in result.stdout + result.stderr
    # What is passed on purpose reaches it.
    project = _project(tmp_path / "again", body, config="capture-env = ['APP_*']\n")
    result = _lint(project, "--format", "json", env=secrets)
    assert "SECRET4" in json.dumps(_json(result)) and "SECRET1" not in result.stdout


def test_one_revision_cannot_spoil_the_capture_of_another(tmp_path: Path) -> None:
    """Patching the capture itself only affects the patching revision's own process."""
    body = textwrap.dedent(
        """\
        import expandcontract.migrations.capture as capture
        capture._changes = lambda recorder, target: []
        op.drop_table('first')"""
    )
    project = _project(tmp_path, body)
    report = _json(_lint(project, "--format", "json"))
    assert _codes(report, "r2_rev.py") == ["EC102"]
