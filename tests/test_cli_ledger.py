"""The ledger and runner commands as a user runs them (SQLite; the databases are covered in
test_lifecycle.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from expandcontract.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "rename-column"
    shutil.copytree(ROOT / "examples" / "rename-column", target, ignore=shutil.ignore_patterns("*.db"))
    monkeypatch.chdir(target)
    monkeypatch.setenv("EC_DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    monkeypatch.delenv("EC_ENVIRONMENT", raising=False)
    return target


def ec(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_the_cycle_from_the_command_line(project: Path) -> None:
    assert ec("init")[0] == 0
    assert ec("deploy", "blue", "--version", "v1", "--expects", "0001")[1] == "blue: idle, version v1, expects 0001\n"
    assert ec("switch", "blue")[0] == 0
    code, out, _ = ec("expand")
    assert code == 0
    assert "applied: 0001 0002 0003 0004" in out and "waiting: 0005" in out
    ec("deploy", "green", "--version", "v2")
    ec("switch", "green")
    code, out, _ = ec("status")
    assert code == 1
    assert out.splitlines()[-1] == "contract: BLOCKED (blue is draining, 0 session(s) connected)"
    code, out, err = ec("contract")
    assert code == 1
    assert "contract gate is closed" in err and "blue (draining)" in err and "Traceback" not in err
    assert ec("retire", "blue")[0] == 0
    code, out, _ = ec("contract", "--format", "json")
    assert code == 0 and json.loads(out)["applied"] == ["0005"]
    code, out, _ = ec("status", "--format", "json")
    document = json.loads(out)
    assert code == 0 and document["verdict"] == "contract: nothing pending" and document["exit_code"] == 0
    code, out, _ = ec("history", "--format", "json")
    assert [e["action"] for e in json.loads(out)][-2:] == ["retire", "apply"]


def test_retire_refusal_exits_1_with_reasons(project: Path) -> None:
    ec("deploy", "blue", "--version", "v1")
    ec("switch", "blue")
    code, _, err = ec("retire", "blue")
    assert code == 1
    assert "refusing to retire blue in default: it is live; its recorded traffic weight is 100" in err
    code, _, err = ec("retire", "blue", "--force")
    assert code == 2 and "--force needs --reason" in err
    assert ec("retire", "blue", "--force", "--reason", "blue cluster deleted")[0] == 0


def test_status_without_ledger_or_database_exits_2(project: Path, tmp_path: Path) -> None:
    code, _, err = ec("status")
    assert code == 2 and "run `ec init` first" in err
    code, _, err = ec("status", "--url", "postgresql+psycopg://app:s3cret@127.0.0.1:1/nope")
    assert code == 2
    assert "s3cret" not in err and "app:***@127.0.0.1:1/nope" in err
    assert "Traceback" not in err


def test_missing_url_is_a_usage_error(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EC_DATABASE_URL")
    ini = project / "alembic.ini"
    # Without a URL anywhere (alembic.ini's sqlalchemy.url is the last fallback):
    ini.write_text(ini.read_text().replace("sqlalchemy.url = sqlite:///rename_column.db", ""), encoding="utf-8")
    code, _, err = ec("status")
    assert code == 2 and "no database URL" in err and "sqlalchemy.url in alembic.ini" in err


def test_bad_names_are_rejected(project: Path) -> None:
    code, _, err = ec("deploy", "blue;drop", "--version", "v1")
    assert code == 2 and "invalid color name" in err
    code, _, err = ec("deploy", "blue", "--version", "v1", "--expects", "zzzz")
    assert code == 2 and "unknown to this project" in err


def _assignments(path: Path) -> dict[str, str]:
    import re

    text = path.read_text(encoding="utf-8")
    return {m[1]: m[2] for m in re.finditer(r"^(revision|down_revision|depends_on|phase)\s*=\s*(.+)$", text, re.M)}


def test_revision_scaffolding_linear(project: Path) -> None:
    code, out, _ = ec("revision", "--contract", "-m", "drop email", "--rev-id", "0006")
    assert code == 0 and "created contract revision" in out
    created = next((project / "migrations" / "versions").glob("0006_*.py"))
    assert _assignments(created) == {
        "revision": "'0006'",
        "down_revision": "'0005'",
        "depends_on": "None",
        "phase": '"contract"',
    }
    # The new revision lints as what it declares.
    from expandcontract.migrations.loader import discover

    assert [r.declared_phase for r in discover(project).revisions][-1] == "contract"


def test_revision_scaffolding_two_branches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "two-branches"
    shutil.copytree(ROOT / "examples" / "two-branches", target, ignore=shutil.ignore_patterns("*.db"))
    monkeypatch.chdir(target)
    assert ec("revision", "--contract", "-m", "drop tier index", "--rev-id", "c2")[0] == 0
    assert ec("revision", "--expand", "-m", "add notes", "--rev-id", "e3")[0] == 0
    versions = target / "migrations" / "versions"
    contract = _assignments(next(versions.glob("c2_*.py")))
    expand = _assignments(next(versions.glob("e3_*.py")))
    assert (contract["down_revision"], contract["depends_on"], contract["phase"]) == (
        "'c1legacy'",
        "'e2index'",
        '"contract"',
    )
    assert (expand["down_revision"], expand["phase"]) == ("'e2index'", '"expand"')
