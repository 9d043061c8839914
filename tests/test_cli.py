"""`ec` as a user runs it: exit codes, formats, errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from expandcontract.cli import main
from tests.helpers import write_revision

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(autouse=True)
def _in_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("EC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def test_clean_project_exits_0() -> None:
    code, out, _ = run("lint", "examples/rename-column")
    assert code == 0
    assert "0 error(s)" in out and "passed" in out
    assert "contract 0005" in out


def test_findings_exit_1_and_exit_zero_overrides() -> None:
    assert run("lint", "examples/common-mistakes")[0] == 1
    assert run("lint", "examples/common-mistakes", "--exit-zero")[0] == 0


def test_ignore_and_select(tmp_path: Path) -> None:
    code, out, _ = run("lint", "examples/common-mistakes", "--format", "json", "--select", "EC1")
    assert code == 1
    # (m5's type change is a widening of the INTEGER m1 created: no EC105 since the schema model.)
    assert {f["code"] for f in json.loads(out)["findings"]} == {"EC101", "EC103", "EC106", "EC107"}
    code, out, _ = run(
        "lint", "examples/common-mistakes", "--format", "json", "--select", "drop-column", "--ignore", "EC101"
    )
    assert code == 0 and json.loads(out)["findings"] == []


def test_dialect_changes_the_rules() -> None:
    _, out, _ = run("lint", "examples/common-mistakes", "--dialect", "mysql", "--format", "json")
    codes = {f["code"] for f in json.loads(out)["findings"]}
    assert "EC201" not in codes and "EC204" not in codes  # PostgreSQL-only rules
    assert "EC401" in codes  # the unknown-type MODIFY is a table copy on MySQL
    assert all(f["dialect"] == "mysql" for f in json.loads(out)["findings"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("lint", "does/not/exist"), "no such file or directory"),
        (("lint", "examples", "--select", "EC999"), "unknown rule 'EC999'"),
        (("lint", "examples/rename-column", "--config", "nope.toml"), "config file not found"),
        (("rules", "no-such-rule"), "unknown rule 'no-such-rule'"),
    ],
)
def test_user_errors_exit_2_with_one_line(args: tuple[str, ...], message: str) -> None:
    code, out, err = run(*args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err + out


def test_bad_option_value_is_a_usage_error() -> None:
    code, _, err = run("lint", "--format", "xml")
    assert code == 2 and "Invalid value for '--format'" in err


def test_bad_config_is_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "pyproject.toml"
    config.write_text('[tool.expandcontract]\ndialect = "postgresql"\nslect = ["EC101"]\n', encoding="utf-8")
    code, _, err = run("lint", "examples/rename-column", "--config", str(config))
    assert code == 2
    assert "unknown key(s) slect" in err


def test_output_file_and_sarif(tmp_path: Path) -> None:
    target = tmp_path / "out" / "ec.sarif"
    code, out, err = run("lint", "examples/common-mistakes", "--format", "sarif", "-o", str(target))
    assert code == 1 and out == ""
    assert json.loads(target.read_text(encoding="utf-8"))["version"] == "2.1.0"
    assert "wrote sarif report" in err


def test_rules_catalog_and_one_rule() -> None:
    code, out, _ = run("rules")
    assert code == 0 and out.count("\n") == 38
    code, out, _ = run("rules", "drop-column")
    assert code == 0 and out.startswith("EC101 drop-column") and "## Use instead" in out
    code, out, _ = run("rules", "EC204", "--format", "json")
    assert json.loads(out)["dialects"] == ["postgresql"]


def test_sql_file(tmp_path: Path) -> None:
    sql = tmp_path / "deploy.sql"
    sql.write_text("-- ec: phase=contract\nALTER TABLE users DROP COLUMN legacy;\n", encoding="utf-8")
    code, out, _ = run("lint", str(sql), "--format", "json")
    document = json.loads(out)
    assert code == 0
    assert document["revisions"] == [
        {
            "revision": None,
            "file": document["revisions"][0]["file"],
            "declared_phase": "contract",
            "phase": "contract",
            "capture": "sql",
            "reason": None,
            "output": "",
        }
    ]
    assert [(f["code"], f["severity"], f["line"]) for f in document["findings"]] == [("EC101", "info", 2)]


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_since_reports_only_changed_revisions(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    versions = repo / "versions"
    write_revision(versions, "a1", "op.drop_column('t', 'old')")
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "add", ".")
    _git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "base")
    write_revision(versions, "b2", "op.drop_column('t', 'newer')", down="a1")
    code, out, _ = run("lint", str(versions), "--since", "HEAD", "--format", "json")
    document = json.loads(out)
    assert code == 1
    assert [r["revision"] for r in document["revisions"]] == ["b2"]
    assert [f["revision"] for f in document["findings"]] == ["b2"]
    code, _, err = run("lint", str(versions), "--since", "no-such-ref")
    assert code == 2 and "unknown git ref" in err


def test_console_script_runs_and_is_fast_to_start() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "expandcontract.cli", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and result.stdout.startswith("ec, version ")
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, expandcontract.cli; print(sorted(m for m in ('alembic', 'sqlalchemy', "
            "'sqlglot') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "[]"  # heavy modules load lazily


def test_a_closed_pipe_exits_quietly_not_as_an_error() -> None:
    """Measured: `ec history | head -1` printed "ec: error: Broken pipe" and exited 2."""
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "expandcontract.cli", "rules"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before ec writes anything
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141
    assert stderr == ""
