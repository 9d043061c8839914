"""A misspelt color is not a new one: `ec deploy` asks for --new and suggests the known name, and
`ec forget` removes a color that never took traffic (issue 11)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import expandcontract
from expandcontract.cli import main
from expandcontract.config import settings_from_mapping
from expandcontract.errors import ConfigError, UnknownColorError
from tests.helpers import write_revision


def _kw(tmp_path: Path, **settings: Any) -> dict[str, Any]:
    versions = tmp_path / "versions"
    write_revision(versions, "r1", "pass")
    return {
        "url": f"sqlite:///{tmp_path / 'ledger.db'}",
        "project": versions,
        "settings": settings_from_mapping(settings),
    }


def test_a_misspelt_color_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    """Measured: `ec deploy grene --version 3` silently created a third color for good."""
    kw = _kw(tmp_path)
    expandcontract.deploy("blue", version="1", **kw)
    expandcontract.deploy("green", version="2", **kw)  # the first two colors need no flag
    with pytest.raises(UnknownColorError, match=r"no color 'grene' .*did you mean 'green'\?.*--new") as error:
        expandcontract.deploy("grene", version="3", **kw)
    assert error.value.exit_code == 2
    assert [c.state.color for c in expandcontract.status(**kw).colors] == ["blue", "green"]
    assert expandcontract.deploy("red", version="3", new=True, **kw).color == "red"


def test_configured_colors_need_no_flag(tmp_path: Path) -> None:
    kw = _kw(
        tmp_path,
        switch={"default": {"backend": "file", "path": str(tmp_path / "w.json"), "colors": ["blue", "green", "red"]}},
    )
    for color in ("blue", "green", "red"):
        expandcontract.deploy(color, version="1", **kw)
    with pytest.raises(UnknownColorError, match="did you mean 'red'"):
        expandcontract.deploy("rde", version="1", **kw)


def test_forget_removes_a_color_that_never_took_traffic(tmp_path: Path) -> None:
    kw = _kw(tmp_path)
    expandcontract.deploy("blue", version="1", **kw)
    expandcontract.switch("blue", **kw)
    expandcontract.deploy("grene", version="2", new=True, **kw)
    with pytest.raises(ConfigError, match="blue has taken traffic"):
        expandcontract.forget("blue", reason="x", **kw)
    with pytest.raises(ConfigError, match="--reason is required"):
        expandcontract.forget("grene", reason=" ", **kw)
    expandcontract.forget("grene", reason="typo of green", **kw)
    assert [c.state.color for c in expandcontract.status(**kw).colors] == ["blue"]
    event = expandcontract.history(**kw)[-1]
    assert (event.action, event.color, event.reason) == ("forget", "grene", "typo of green")


def test_cli_deploy_new_and_forget(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    write_revision(versions, "r1", "pass")
    db = ["--url", f"sqlite:///{tmp_path / 'l.db'}", "--project", str(versions)]
    runner = CliRunner()
    for color in ("blue", "green"):
        assert runner.invoke(main, ["deploy", color, "-V", "1", *db]).exit_code == 0
    refused = runner.invoke(main, ["deploy", "grene", "-V", "2", *db])
    assert refused.exit_code == 2 and "did you mean 'green'?" in refused.output
    assert runner.invoke(main, ["deploy", "grene", "-V", "2", "--new", *db]).exit_code == 0
    forgot = runner.invoke(main, ["forget", "grene", "--reason", "typo", *db])
    assert forgot.exit_code == 0, forgot.output
    assert forgot.output == "grene: forgotten\n"


def test_a_ledger_schema_on_sqlite_is_a_configuration_error(tmp_path: Path) -> None:
    """Measured: the configuration reference's example (SQLite + ledger.schema = "ops") crashed
    `ec status` with a traceback and 'internal error' (exit 3)."""
    versions = tmp_path / "versions"
    write_revision(versions, "r1", "pass")
    (tmp_path / "pyproject.toml").write_text('[tool.expandcontract.ledger]\nschema = "ops"\n')
    result = CliRunner().invoke(
        main,
        [
            "status",
            "--url",
            f"sqlite:///{tmp_path / 'l.db'}",
            "--project",
            str(versions),
            "--config",
            str(tmp_path / "pyproject.toml"),
        ],
    )
    assert result.exit_code == 2
    assert "ledger.schema = 'ops' cannot be used with SQLite" in result.output
    assert "Traceback" not in result.output and "internal error" not in result.output


def test_revision_phases_exclude_each_other_and_the_function_has_the_command_name(tmp_path: Path) -> None:
    """Measured: `ec revision --expand --contract` was accepted (the last flag won), and
    `expandcontract.revision` did not exist although api.md promises one function per command."""
    result = CliRunner().invoke(main, ["revision", "--expand", "--contract", "-m", "x", "-p", str(tmp_path)])
    assert result.exit_code == 2 and "--expand and --contract exclude each other" in result.output
    from expandcontract.migrations.scaffold import revision

    assert expandcontract.revision is revision


def test_expandcontract_rules_keeps_its_meaning_after_a_lint(tmp_path: Path) -> None:
    """Measured: `expandcontract.rules` was the `ec rules` function until something imported the
    rules package, and the package from then on."""
    import subprocess
    import sys

    code = (
        "import expandcontract\n"
        "first = expandcontract.rules\n"
        "print(len(first()), first('EC101')[0].name)\n"
        f"expandcontract.lint([{str(tmp_path)!r}])\n"
        "print(expandcontract.rules is first, len(expandcontract.rules()))\n"
    )
    (tmp_path / "m.sql").write_text("SELECT 1;\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["38", "drop-column", "True", "38"]


def test_status_works_from_anywhere_with_a_url_and_reads_alembic_ini(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Measured: `ec status` only worked inside an Alembic project, and never read the database
    URL from alembic.ini's sqlalchemy.url."""
    import json
    import shutil

    root = Path(__file__).resolve().parent.parent
    project = tmp_path / "proj"
    shutil.copytree(root / "examples" / "rename-column", project, ignore=shutil.ignore_patterns("*.db"))
    url = f"sqlite:///{tmp_path / 'app.db'}"
    ini = project / "alembic.ini"
    ini.write_text(ini.read_text().replace("sqlite:///rename_column.db", url), encoding="utf-8")
    monkeypatch.delenv("EC_DATABASE_URL", raising=False)
    monkeypatch.chdir(project)
    assert CliRunner().invoke(main, ["deploy", "blue", "--version", "v1"]).exit_code == 0  # URL from alembic.ini

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = CliRunner().invoke(main, ["status", "--url", url, "--format", "json"])
    report = json.loads(result.stdout)
    assert [c["color"] for c in report["colors"]] == ["blue"]
    assert report["history_known"] is False and report["verdict"].startswith("contract: UNKNOWN")
    assert result.exit_code == 1
