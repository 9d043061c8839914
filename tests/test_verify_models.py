"""`ec verify --models` against a seeded suite of (models, migration) pairs. Each pair's label
is measured, not assumed: the whole history is applied to a real PostgreSQL database, then the
models' inserts and selects run for real. The old color's models are checked "--at" the last
revision (what if these revisions ran while it still took traffic), the new color's after every
revision. `ec verify` must flag every pair that breaks and none that works."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import URL

import expandcontract
from expandcontract.config import settings_from_mapping
from tests.helpers import write_revision

BASE_TABLE = (
    'op.create_table("users", sa.Column("id", sa.Integer(), primary_key=True), '
    'sa.Column("name", sa.String(50)), sa.Column("email", sa.String(100), nullable=False), '
    'sa.Column("age", sa.Integer()), sa.Column("score", sa.Numeric(10, 2)))\n'
    'op.create_table("legacy", sa.Column("id", sa.Integer(), primary_key=True))'
)

V1 = """
id = sa.Column(sa.Integer, primary_key=True)
name = sa.Column(sa.String(50))
email = sa.Column(sa.String(100), nullable=False)
age = sa.Column(sa.Integer)
score = sa.Column(sa.Numeric(10, 2))
"""
V2 = V1.replace("name = sa.Column(sa.String(50))\n", "")
LEGACY = "class Legacy(Base):\n    __tablename__ = 'legacy'\n    id = sa.Column(sa.Integer, primary_key=True)\n"

# name: (models of users, extra model classes, revisions after the base [(body, phase)], whose models, breaks)
CASES: dict[str, tuple[str, str, list[tuple[str, str]], str, bool]] = {
    # --- the old color's models on the schema after the expand revisions ---
    "old-required-column-added": (
        V1,
        "",
        [('op.add_column("users", sa.Column("tenant", sa.Integer(), nullable=False))', "expand")],
        "old",
        True,
    ),
    "old-name-narrowed": (
        V1,
        "",
        [('op.alter_column("users", "name", type_=sa.String(20), existing_type=sa.String(50))', "expand")],
        "old",
        True,
    ),
    "old-default-dropped": (
        V1,
        "",
        [
            ('op.add_column("users", sa.Column("tier", sa.Text(), nullable=False, server_default="free"))', "expand"),
            ('op.alter_column("users", "tier", server_default=None)', "expand"),
        ],
        "old",
        True,
    ),
    "old-age-narrowed": (
        V1,
        "",
        [('op.alter_column("users", "age", type_=sa.SmallInteger(), existing_type=sa.Integer())', "expand")],
        "old",
        True,
    ),
    "old-score-precision-down": (
        V1,
        "",
        [('op.alter_column("users", "score", type_=sa.Numeric(6, 2), existing_type=sa.Numeric(10, 2))', "expand")],
        "old",
        True,
    ),
    "old-nullable-column": (
        V1,
        "",
        [('op.add_column("users", sa.Column("nick", sa.String(20)))', "expand")],
        "old",
        False,
    ),
    "old-required-with-default": (
        V1,
        "",
        [('op.add_column("users", sa.Column("tier", sa.Text(), nullable=False, server_default="free"))', "expand")],
        "old",
        False,
    ),
    "old-name-widened": (
        V1,
        "",
        [('op.alter_column("users", "name", type_=sa.String(100), existing_type=sa.String(50))', "expand")],
        "old",
        False,
    ),
    "old-age-widened": (
        V1,
        "",
        [('op.alter_column("users", "age", type_=sa.BigInteger(), existing_type=sa.Integer())', "expand")],
        "old",
        False,
    ),
    "old-new-table": (
        V1,
        "",
        [('op.create_table("audit", sa.Column("id", sa.Integer(), primary_key=True))', "expand")],
        "old",
        False,
    ),
    "old-index": (V1, "", [('op.create_index("ix_users_email", "users", ["email"])', "expand")], "old", False),
    "old-email-to-text": (
        V1,
        "",
        [('op.alter_column("users", "email", type_=sa.Text(), existing_type=sa.String(100))', "expand")],
        "old",
        False,
    ),
    "old-sneaky-drop": (V1, "", [('op.drop_column("users", "name")', "expand")], "old", True),
    "old-email-narrowed": (
        V1,
        "",
        [
            (
                'op.alter_column("users", "email", type_=sa.String(50), existing_type=sa.String(100), existing_nullable=False)',
                "expand",
            )
        ],
        "old",
        True,
    ),
    "old-declared-contract-drop": (V1, "", [('op.drop_column("users", "age")', "contract")], "old", True),
    "old-table-renamed": (V1, LEGACY, [('op.rename_table("legacy", "archive")', "expand")], "old", True),
    "old-name-made-not-null": (
        V1,
        "",
        [('op.alter_column("users", "name", nullable=False, existing_type=sa.String(50))', "expand")],
        "old",
        True,
    ),
    "old-check-constraint": (
        V1,
        "",
        [('op.create_check_constraint("ck_age", "users", "age > 0")', "expand")],
        "old",
        False,
    ),
    "old-fk-column": (
        V1,
        "",
        [('op.add_column("users", sa.Column("team_id", sa.Integer(), sa.ForeignKey("legacy.id")))', "expand")],
        "old",
        False,
    ),
    "old-server-default-added": (
        V1,
        "",
        [
            (
                'op.alter_column("users", "email", server_default="x", existing_type=sa.String(100), existing_nullable=False)',
                "expand",
            )
        ],
        "old",
        False,
    ),
    "old-email-made-nullable": (
        V1,
        "",
        [('op.alter_column("users", "email", nullable=True, existing_type=sa.String(100))', "expand")],
        "old",
        False,
    ),
    "old-sneaky-drop-age": (V1, "", [('op.drop_column("users", "age")', "expand")], "old", True),
    "old-sneaky-drop-score": (V1, "", [('op.drop_column("users", "score")', "expand")], "old", True),
    "new-age-renamed": (
        V2,
        "",
        [('op.alter_column("users", "age", new_column_name="years", existing_type=sa.Integer())', "contract")],
        "new",
        True,
    ),
    "old-legacy-dropped": (V1, LEGACY, [('op.drop_table("legacy")', "contract")], "old", True),
    "old-name-renamed": (
        V1,
        "",
        [('op.alter_column("users", "name", new_column_name="full_name", existing_type=sa.String(50))', "expand")],
        "old",
        True,
    ),
    "old-required-bigint-added": (
        V1,
        "",
        [('op.add_column("users", sa.Column("org", sa.BigInteger(), nullable=False))', "expand")],
        "old",
        True,
    ),
    "old-name-to-char": (
        V1,
        "",
        [('op.alter_column("users", "name", type_=sa.CHAR(5), existing_type=sa.String(50))', "expand")],
        "old",
        True,
    ),
    "old-drop-unmapped-legacy": (V1, "", [('op.drop_table("legacy")', "contract")], "old", False),
    "old-two-nullable-columns": (
        V1,
        "",
        [
            (
                'op.add_column("users", sa.Column("a", sa.Integer()))\nop.add_column("users", sa.Column("b", sa.Text()))',
                "expand",
            )
        ],
        "old",
        False,
    ),
    "old-rename-unmapped-table": (V1, "", [('op.rename_table("legacy", "archive")', "expand")], "old", False),
    "old-index-on-name": (V1, "", [('op.create_index("ix_users_name", "users", ["name"])', "expand")], "old", False),
    "old-age-default-added": (
        V1,
        "",
        [('op.alter_column("users", "age", server_default="0", existing_type=sa.Integer())', "expand")],
        "old",
        False,
    ),
    "old-name-to-text": (
        V1,
        "",
        [('op.alter_column("users", "name", type_=sa.Text(), existing_type=sa.String(50))', "expand")],
        "old",
        False,
    ),
    # --- the new color's models on the schema after every revision ---
    "new-still-maps-dropped": (V1, "", [('op.drop_column("users", "name")', "contract")], "new", True),
    "new-maps-renamed": (
        V2,
        "",
        [
            (
                'op.alter_column("users", "email", new_column_name="email_address", existing_type=sa.String(100))',
                "contract",
            )
        ],
        "new",
        True,
    ),
    "new-maps-dropped-table": (
        V2,
        "class Legacy(Base):\n    __tablename__ = 'legacy'\n    id = sa.Column(sa.Integer, primary_key=True)\n",
        [('op.drop_table("legacy")', "contract")],
        "new",
        True,
    ),
    "new-nullable-but-set-not-null": (
        V2,
        "",
        [('op.alter_column("users", "age", nullable=False, existing_type=sa.Integer())', "contract")],
        "new",
        True,
    ),
    "new-unmapped-required": (
        V2.replace("email = sa.Column(sa.String(100), nullable=False)\n", ""),
        "",
        [('op.drop_column("users", "name")', "contract")],
        "new",
        True,
    ),
    "new-drop-unmapped": (V2, "", [('op.drop_column("users", "name")', "contract")], "new", False),
    "new-maps-added": (
        V2 + "nick = sa.Column(sa.String(20))\n",
        "",
        [
            ('op.add_column("users", sa.Column("nick", sa.String(20)))', "expand"),
            ('op.drop_column("users", "name")', "contract"),
        ],
        "new",
        False,
    ),
    "new-not-null-and-set": (
        V2.replace("age = sa.Column(sa.Integer)", "age = sa.Column(sa.Integer, nullable=False)"),
        "",
        [('op.alter_column("users", "age", nullable=False, existing_type=sa.Integer())', "contract")],
        "new",
        False,
    ),
    "new-drop-table-unmapped": (V2, "", [('op.drop_table("legacy")', "contract")], "new", False),
    "new-maps-dropped-age": (V2, "", [('op.drop_column("users", "age")', "contract")], "new", True),
    "new-email-narrowed": (
        V2,
        "",
        [
            (
                'op.alter_column("users", "email", type_=sa.String(50), existing_type=sa.String(100), existing_nullable=False)',
                "contract",
            )
        ],
        "new",
        True,
    ),
    "new-table-renamed": (V2, LEGACY, [('op.rename_table("legacy", "archive")', "contract")], "new", True),
    "new-required-added-unmapped": (
        V2,
        "",
        [('op.add_column("users", sa.Column("tenant", sa.Integer(), nullable=False))', "contract")],
        "new",
        True,
    ),
    "new-unmapped-nullable": (
        V2.replace("age = sa.Column(sa.Integer)\n", ""),
        "",
        [('op.drop_column("users", "name")', "contract")],
        "new",
        False,
    ),
    "new-required-with-default-unmapped": (
        V2,
        "",
        [('op.add_column("users", sa.Column("tier", sa.Text(), nullable=False, server_default="free"))', "expand")],
        "new",
        False,
    ),
    "new-email-widened": (
        V2,
        "",
        [
            (
                'op.alter_column("users", "email", type_=sa.String(200), existing_type=sa.String(100), existing_nullable=False)',
                "expand",
            )
        ],
        "new",
        False,
    ),
    "new-maps-renamed-target": (
        V2.replace(
            "email = sa.Column(sa.String(100), nullable=False)",
            "email_address = sa.Column(sa.String(100), nullable=False)",
        ),
        "",
        [
            (
                'op.alter_column("users", "email", new_column_name="email_address", existing_type=sa.String(100), existing_nullable=False)',
                "contract",
            )
        ],
        "new",
        False,
    ),
    "new-score-dropped": (V2, "", [('op.drop_column("users", "score")', "contract")], "new", True),
    "new-required-text-added": (
        V2,
        "",
        [('op.add_column("users", sa.Column("bio", sa.Text(), nullable=False))', "contract")],
        "new",
        True,
    ),
    "new-age-narrowed": (
        V2,
        "",
        [('op.alter_column("users", "age", type_=sa.SmallInteger(), existing_type=sa.Integer())', "contract")],
        "new",
        True,
    ),
    "new-score-precision-down": (
        V2,
        "",
        [('op.alter_column("users", "score", type_=sa.Numeric(6, 2), existing_type=sa.Numeric(10, 2))', "contract")],
        "new",
        True,
    ),
    "new-score-widened": (
        V2,
        "",
        [('op.alter_column("users", "score", type_=sa.Numeric(12, 2), existing_type=sa.Numeric(10, 2))', "expand")],
        "new",
        False,
    ),
    "new-drop-score-unmapped": (
        V2.replace("score = sa.Column(sa.Numeric(10, 2))\n", ""),
        "",
        [('op.drop_column("users", "score")', "contract")],
        "new",
        False,
    ),
    "new-nick-added-unmapped": (
        V2,
        "",
        [('op.add_column("users", sa.Column("nick", sa.String(20)))', "expand")],
        "new",
        False,
    ),
    "new-age-not-null-with-default": (
        V2,
        "",
        [
            (
                'op.alter_column("users", "age", nullable=False, server_default="0", existing_type=sa.Integer())',
                "contract",
            )
        ],
        "new",
        False,
    ),
    "new-legacy-renamed-unmapped": (V2, "", [('op.rename_table("legacy", "archive")', "contract")], "new", False),
    "new-email-to-text": (
        V2,
        "",
        [
            (
                'op.alter_column("users", "email", type_=sa.Text(), existing_type=sa.String(100), existing_nullable=False)',
                "expand",
            )
        ],
        "new",
        False,
    ),
}


def _models(tmp_path: Path, name: str, users: str, extra: str) -> str:
    # A package per case: one test process imports them all.
    package_name = f"app_{name.replace('-', '_')}"
    package = tmp_path / package_name
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    module = "models"
    (package / f"{module}.py").write_text(
        "import sqlalchemy as sa\nfrom sqlalchemy.orm import DeclarativeBase\n\n\nclass Base(DeclarativeBase):\n"
        "    pass\n\n\nclass User(Base):\n    __tablename__ = 'users'\n"
        + textwrap.indent(users.strip("\n"), "    ")
        + "\n\n\n"
        + extra,
        encoding="utf-8",
    )
    return f"{package_name}.{module}:Base"


def _value(column: Any) -> Any:
    import sqlalchemy as sa

    kind = column.type
    if isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Float):
        precision, scale = kind.precision or 10, kind.scale or 0
        return Decimal(10 ** (precision - scale)) - Decimal(1) / Decimal(10**scale)
    if isinstance(kind, sa.BigInteger):
        return 2**63 - 1
    if isinstance(kind, sa.SmallInteger):
        return 2**15 - 1
    if isinstance(kind, sa.Integer):
        return 2**31 - 1
    if isinstance(kind, sa.String):
        return "x" * (kind.length or 200)
    return None


def _breaks(url: str, metadata: Any) -> bool:
    """Run the models' writes and reads: every mapped column at the top of its type, then only
    the NOT NULL ones (the rest left unset, as code that does not set them would)."""
    engine = create_engine(url)
    try:
        for table in metadata.sorted_tables:
            full = {c.name: _value(c) for c in table.columns if not c.primary_key}
            minimal = {c.name: _value(c) for c in table.columns if not c.primary_key and not c.nullable}
            with engine.begin() as conn:
                conn.execute(table.insert().values(**full))
                conn.execute(table.insert().values(**minimal))
                conn.execute(select(table)).all()
        return False
    except Exception:  # noqa: BLE001 - any failure of the models' own statements is the measurement
        return True
    finally:
        engine.dispose()


@pytest.fixture(params=["postgresql", "mariadb"])
def server(request: pytest.FixtureRequest) -> tuple[str, str]:
    url: URL = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url")
    return request.param, url.render_as_string(hide_password=False)


@pytest.mark.parametrize("name", sorted(CASES))
def test_verify_flags_exactly_the_pairs_that_break(name: str, server: tuple[str, str], tmp_path: Path) -> None:
    users, extra, revisions, whose, _ = CASES[name]
    dialect, url = server
    versions = tmp_path / "versions"
    write_revision(versions, "r0", BASE_TABLE)
    down = "r0"
    for i, (body, phase) in enumerate(revisions, start=1):
        write_revision(versions, f"r{i}", body, down=down, extra=f'phase = "{phase}"')
        down = f"r{i}"
    models = _models(tmp_path, f"{name}-{dialect}", users, extra)
    settings = settings_from_mapping({"dialect": dialect})
    kw: dict[str, Any] = {"url": url, "project": versions, "settings": settings}
    # Every revision runs (the new color is live, nothing else recorded): for the old color's
    # models this is "what if these revisions ran while it still took traffic" (--at head).
    expandcontract.deploy("green", version="v2", **kw)
    expandcontract.switch("green", **kw)
    expandcontract.contract(**kw)

    from expandcontract.verify.models import load_metadata, verify

    metadata, _ = load_metadata(models, [tmp_path])
    measured = _breaks(url, metadata)
    assert measured == CASES[name][4], f"{name} on {dialect}: the seeded label does not match the database"
    last = f"r{len(revisions)}"
    if whose == "old":
        report = verify(models, versions, at=last, sys_path=[tmp_path], settings=settings)
    else:
        report = verify(models, versions, after_contract=True, sys_path=[tmp_path], settings=settings)
    flagged = [f.code for f in report.findings if f.severity == "error"]
    assert bool(flagged) == measured, f"{name} on {dialect}: ec verify said {flagged}, the database: breaks={measured}"


def test_by_default_the_old_models_meet_the_schema_after_the_expand_revisions(tmp_path: Path) -> None:
    """Revisions held by the gate (declared contract, or contracting by what they do) are not part
    of the schema the old color meets; --after-contract includes them."""
    from click.testing import CliRunner

    from expandcontract.cli import main

    versions = tmp_path / "versions"
    write_revision(versions, "r0", BASE_TABLE)
    write_revision(versions, "r1", 'op.add_column("users", sa.Column("nick", sa.String(20)))', down="r0")
    write_revision(versions, "r2", 'op.drop_column("users", "name")', down="r1")  # undeclared: held by content
    models = _models(tmp_path, "default", V1, "")
    args = ["verify", "--models", models, "--project", str(versions), "--sys-path", str(tmp_path)]
    assert CliRunner().invoke(main, args).exit_code == 0
    result = CliRunner().invoke(main, [*args, "--after-contract", "--format", "json"])
    import json

    assert result.exit_code == 1
    assert [(f["code"], f["statement"]) for f in json.loads(result.stdout)["findings"]] == [("EV102", "users.name")]


def test_bad_models_are_clear_errors(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from expandcontract.cli import main

    versions = tmp_path / "versions"
    write_revision(versions, "r0", BASE_TABLE)
    for spec, message in (
        ("nomodule", "expected PACKAGE.MODULE:ATTRIBUTE"),
        ("no_such_package.models:Base", "cannot import no_such_package.models"),
        ("json:dumps", "is not a MetaData, a declarative base or a registry"),
    ):
        result = CliRunner().invoke(main, ["verify", "--models", spec, "--project", str(versions)])
        assert result.exit_code == 2 and message in result.output, result.output


def test_the_old_models_from_a_git_ref(tmp_path: Path) -> None:
    """One pre-merge job: the main branch's models on the pull request's schema."""
    import json
    import os
    import subprocess
    import sys

    repo = tmp_path / "repo"
    versions = repo / "migrations"
    write_revision(versions, "r0", BASE_TABLE)
    write_revision(versions, "r1", 'op.drop_column("users", "name")', down="r0", extra='phase = "contract"')
    package = repo / "shop"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    header = (
        "import sqlalchemy as sa\nfrom sqlalchemy.orm import DeclarativeBase\n\n\n"
        "class Base(DeclarativeBase):\n    pass\n\n\n"
    )
    body = "class User(Base):\n    __tablename__ = 'users'\n"
    (package / "models.py").write_text(header + body + textwrap.indent(V1.strip("\n"), "    ") + "\n", encoding="utf-8")

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.email=t@e", "-c", "user.name=t", *args], cwd=repo, check=True, capture_output=True
        )

    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "v1")
    (package / "models.py").write_text(header + body + textwrap.indent(V2.strip("\n"), "    ") + "\n", encoding="utf-8")

    def verify_cli(*extra: str) -> tuple[int, list[str]]:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "expandcontract.cli",
                "verify",
                "--models",
                "shop.models:Base",
                "--project",
                "migrations",
                "--after-contract",
                "--format",
                "json",
                *extra,
            ],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ},
        )
        return result.returncode, [f["code"] for f in json.loads(result.stdout)["findings"]]

    assert verify_cli() == (0, [])  # the pull request's models: they stopped mapping users.name
    assert verify_cli("--ref", "HEAD") == (1, ["EV102"])  # main's models still map it


def test_status_checks_the_models_of_each_deployed_ref(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ec deploy COLOR --ref GITREF` records the code's ref; with verify-models configured,
    `ec status` checks each color's models against the schema it will meet."""
    import json
    import subprocess

    from click.testing import CliRunner

    from expandcontract.cli import main

    repo = tmp_path / "repo"
    versions = repo / "migrations"
    write_revision(versions, "r0", BASE_TABLE)
    write_revision(versions, "r1", 'op.drop_column("users", "name")', down="r0", extra='phase = "contract"')
    (repo / "pyproject.toml").write_text(
        '[tool.expandcontract]\nverify-models = "shop2.models:Base"\n', encoding="utf-8"
    )
    package = repo / "shop2"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    header = "import sqlalchemy as sa\nfrom sqlalchemy.orm import DeclarativeBase\n\n\nclass Base(DeclarativeBase):\n    pass\n\n\n"
    body = "class User(Base):\n    __tablename__ = 'users'\n"
    (package / "models.py").write_text(header + body + textwrap.indent(V1.strip("\n"), "    ") + "\n", encoding="utf-8")

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.email=t@e", "-c", "user.name=t", *args],
            cwd=repo,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "v1 (maps users.name)")
    v1 = git("rev-parse", "HEAD")
    # v2 stopped mapping users.name, but maps users.nick, which no revision creates.
    v2_users = V2 + "nick = sa.Column(sa.String(20))\n"
    (package / "models.py").write_text(
        header + body + textwrap.indent(v2_users.strip("\n"), "    ") + "\n", encoding="utf-8"
    )
    git("commit", "-qam", "v2")
    v2 = git("rev-parse", "HEAD")
    monkeypatch.chdir(repo)
    url = f"sqlite:///{tmp_path / 'app.db'}"
    base = ["--url", url, "--project", "migrations"]
    assert (
        CliRunner().invoke(main, ["deploy", "blue", "--version", "1", "--expects", "r0", "--ref", v1, *base]).exit_code
        == 0
    )
    assert CliRunner().invoke(main, ["deploy", "green", "--version", "2", "--ref", v2, *base]).exit_code == 0
    result = CliRunner().invoke(main, ["status", "--format", "json", *base])
    report = json.loads(result.stdout)
    assert report["models"]["blue"] == []  # v1 on the expand schema: users.name is still there
    assert [(f["code"], f["statement"]) for f in report["models"]["green"]] == [("EV102", "users.nick")]
    assert result.exit_code == 1 and "green's models: EV102 users.nick" in report["verdict"]


def test_unique_and_foreign_key_rules_the_models_do_not_declare_are_warnings(tmp_path: Path) -> None:
    from expandcontract.verify.models import verify

    versions = tmp_path / "versions"
    write_revision(versions, "r0", BASE_TABLE)
    write_revision(
        versions,
        "r1",
        'op.create_index("uq_users_email", "users", ["email"], unique=True)\n'
        'op.add_column("users", sa.Column("legacy_id", sa.Integer()))\n'
        'op.create_foreign_key("fk_users_legacy", "users", "legacy", ["legacy_id"], ["id"])',
        down="r0",
    )
    plain = V1 + "legacy_id = sa.Column(sa.Integer)\n"
    models = _models(tmp_path, "undeclared", plain, "")
    report = verify(models, versions, sys_path=[tmp_path], settings=settings_from_mapping({}))
    assert [(f.code, f.severity, f.statement) for f in report.findings] == [
        ("EV106", "warning", "users(email)"),
        ("EV106", "warning", "users(legacy_id)"),
    ]
    assert report.exit_code == 0  # a warning: the code may well respect the rule
    declared = V1.replace("nullable=False)", "nullable=False, unique=True)") + (
        "legacy_id = sa.Column(sa.Integer, sa.ForeignKey('legacy.id'))\n"
    )
    models = _models(
        tmp_path,
        "declared",
        declared,
        "class Legacy(Base):\n    __tablename__ = 'legacy'\n    id = sa.Column(sa.Integer, primary_key=True)\n",
    )
    assert verify(models, versions, sys_path=[tmp_path], settings=settings_from_mapping({})).findings == []


def test_an_enum_column_with_labels_the_model_does_not_know_reads_back_wrong(tmp_path: Path) -> None:
    from expandcontract.verify.models import verify

    versions = tmp_path / "versions"
    write_revision(
        versions,
        "r0",
        'op.create_table("tickets", sa.Column("id", sa.Integer(), primary_key=True), '
        'sa.Column("state", sa.Enum("open", "closed", "archived", name="state_t")))',
    )
    body = "class Ticket(Base):\n    __tablename__ = 'tickets'\n    id = sa.Column(sa.Integer, primary_key=True)\n"
    narrow = body + "    state = sa.Column(sa.Enum('open', 'closed', name='state_t'))\n"
    models = _models(tmp_path, "enum-narrow", "id = sa.Column(sa.Integer, primary_key=True)", narrow)
    settings = settings_from_mapping({"dialect": "mariadb"})
    codes = [(f.code, f.statement) for f in verify(models, versions, sys_path=[tmp_path], settings=settings).findings]
    assert ("EV103", "tickets.state") in codes


def test_verify_checks_can_be_ignored_in_the_configuration(tmp_path: Path) -> None:
    from expandcontract.linter.engine import lint
    from expandcontract.verify.models import verify

    versions = tmp_path / "versions"
    write_revision(versions, "r0", BASE_TABLE)
    write_revision(versions, "r1", 'op.create_index("uq_users_email", "users", ["email"], unique=True)', down="r0")
    models = _models(tmp_path, "ignored", V1, "")
    settings = settings_from_mapping({"ignore": ["EV106"]})
    assert verify(models, versions, sys_path=[tmp_path], settings=settings).findings == []
    assert lint([versions], settings=settings, use_cache=False) is not None  # lint accepts the EV code
