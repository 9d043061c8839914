"""Every example runs as its README says, and the README's quick start works as written."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("EC_DATABASE_URL", "EC_ENVIRONMENT", "EC_CACHE_DIR")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def test_every_example_has_a_readme() -> None:
    for example in sorted(p for p in EXAMPLES.iterdir() if p.is_dir()):
        assert (example / "README.md").is_file(), example.name


@pytest.mark.parametrize(
    ("example", "args", "code"),
    [
        ("rename-column", [], 0),
        ("common-mistakes", [], 1),
        ("two-branches", [], 0),
        ("blue-green", [], 0),
        ("mysql-online", ["--dialect", "mariadb"], 0),
    ],
)
def test_examples_lint_as_documented(example: str, args: list[str], code: int, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "expandcontract.cli", "lint", f"examples/{example}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=_env(EC_CACHE_DIR=str(tmp_path)),
        check=False,
    )
    assert result.returncode == code, result.stdout + result.stderr


def _walkthrough(tmp_path: Path, url: str | None, *, extra_config: str = "", runs: int = 2) -> str:
    """Runs the walkthrough ``runs`` times in a row on the same database (measured: a second run
    on PostgreSQL failed); returns the last run's output."""
    # blue-green runs the rename-column migrations: copy the examples together.
    shutil.copytree(EXAMPLES, tmp_path / "examples", ignore=shutil.ignore_patterns("*.db", "traffic.json", "*.ec-lock"))
    copy = tmp_path / "examples" / "blue-green"
    if extra_config:
        with (copy / "pyproject.toml").open("a") as handle:
            handle.write(extra_config)
    env = _env(EC_DATABASE_URL=url) if url else _env()
    out = ""
    for run in range(runs):
        result = subprocess.run(
            [sys.executable, "walkthrough.py"],
            cwd=copy,
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, f"run {run + 1}: " + result.stdout + result.stderr
        out = result.stdout
    return out


def _check_walkthrough(out: str) -> None:
    assert "contract: BLOCKED (blue is draining" in out
    assert "ec: error: contract gate is closed" in out
    assert "blue: retired" in out
    assert "applied: 0005" in out
    assert out.rstrip().splitlines()[-1].endswith("apply 0005 [contract]  by walkthrough@example")


def test_blue_green_walkthrough_on_sqlite(tmp_path: Path) -> None:
    _check_walkthrough(_walkthrough(tmp_path, None))


@pytest.mark.postgres
def test_blue_green_walkthrough_on_postgres(postgres_url: URL, tmp_path: Path) -> None:
    _check_walkthrough(_walkthrough(tmp_path, postgres_url.render_as_string(hide_password=False)))


@pytest.mark.mysql
def test_blue_green_walkthrough_on_mariadb(mysql_url: URL, tmp_path: Path) -> None:
    # MariaDB's performance_schema is off by default: sessions are counted per color's user.
    users = '\n[tool.expandcontract.ledger]\nsession-users = { blue = "app_blue", green = "app_green" }\n'
    _check_walkthrough(_walkthrough(tmp_path, mysql_url.render_as_string(hide_password=False), extra_config=users))


@pytest.mark.mysql
def test_mysql_online_example(mysql_url: URL, tmp_path: Path) -> None:
    url = mysql_url.render_as_string(hide_password=False)
    copy = tmp_path / "mysql-online"
    shutil.copytree(EXAMPLES / "mysql-online", copy)
    env = _env(EC_DATABASE_URL=url)
    for args in (["deploy", "green", "--version", "1.0"], ["expand"]):
        result = subprocess.run(
            [sys.executable, "-m", "expandcontract.cli", *args],
            cwd=copy,
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    engine = create_engine(url)
    with engine.connect() as conn:
        kind = conn.execute(
            text(
                "SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
                "AND TABLE_NAME = 'events' AND COLUMN_NAME = 'payload'"
            )
        ).scalar()
        engine_used = conn.execute(text("SELECT engine, state FROM ec_online_runs")).all()
    engine.dispose()
    assert kind == "mediumtext"
    assert engine_used == [("pt-online-schema-change", "done")]


def test_ci_examples_are_valid() -> None:
    workflow = yaml.safe_load((EXAMPLES / "ci" / "github-actions.yml").read_text())
    steps = workflow["jobs"]["expandcontract"]["steps"]
    assert any("ec lint" in step.get("run", "") and "--format github" in step["run"] for step in steps)
    assert workflow["jobs"]["expandcontract"]["permissions"]["security-events"] == "write"
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hooks[0]["id"] == "ec-lint" and hooks[0]["entry"] == "ec lint"
    config = yaml.safe_load((EXAMPLES / "ci" / ".pre-commit-config.yaml").read_text())
    assert config["repos"][0]["hooks"][0]["id"] == "ec-lint"


def _code_blocks(markdown: str, heading: str) -> list[str]:
    section = markdown.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, re.S)


def test_readme_quick_start_works_as_written(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    lines = [line for line in _code_blocks(readme, "Quick start")[0].splitlines() if line.strip()]
    assert len(lines) >= 5
    for line in lines:
        command, _, comment = line.partition("#")
        expected = 1 if "exits 1" in comment else 0
        workdir = tmp_path / f"run{lines.index(line)}"
        shutil.copytree(
            ROOT / "examples", workdir / "examples", ignore=shutil.ignore_patterns("*.db", "traffic.json", "*.ec-lock")
        )
        result = subprocess.run(
            ["bash", "-c", command.strip()],
            cwd=workdir,
            capture_output=True,
            text=True,
            env=_env(EC_CACHE_DIR=str(tmp_path / "cache")),
            timeout=300,
            check=False,
        )
        assert result.returncode == expected, f"{command.strip()}\n{result.stdout}\n{result.stderr}"


def test_readme_set_up_is_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = [
        line
        for line in _code_blocks(readme, "Set-up (two commands, fresh machine)")[0].splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert len(commands) == 2
    assert "ec lint examples/" in commands[0]
    assert commands[1] == "python -m pytest"
    assert "\npython -m pytest\n" in (ROOT / ".ci" / "run").read_text() + "\n"
