"""Offline capture of Alembic revisions: operations, lines, autocommit blocks, batch mode,
SQL sent through get_bind(), and revisions that cannot render."""

from __future__ import annotations

from pathlib import Path

from expandcontract.dialects import Target
from expandcontract.migrations.capture import capture
from expandcontract.migrations.loader import discover
from expandcontract.sql import changes as c
from tests.helpers import write_revision

PG = Target("postgresql", (15,))
MY = Target("mysql", (8, 4))


def _capture(tmp_path: Path, body: str, target: Target = PG) -> list[c.Change]:
    path = write_revision(tmp_path / "versions", "r1", body)
    source = discover(path.parent)
    return capture(source.revisions[0], target, [])


def test_operations_carry_the_line_that_issued_them(tmp_path: Path) -> None:
    changes = _capture(
        tmp_path,
        """
        op.add_column("users", sa.Column("email", sa.String(320)))

        op.drop_column("users", "legacy")
        """,
    )
    # The revision template puts upgrade()'s body at line 10.
    assert [(type(ch).__name__, ch.line) for ch in changes] == [("AddColumn", 10), ("DropColumn", 12)]
    assert changes[0].statement == "ALTER TABLE users ADD COLUMN email VARCHAR(320)"
    assert changes[1].source == "op"


def test_multi_line_call_is_attributed_to_its_first_line(tmp_path: Path) -> None:
    changes = _capture(
        tmp_path,
        """
        op.create_index(
            "ix_users_email",
            "users",
            ["email"],
        )
        """,
    )
    assert [(type(ch).__name__, ch.line) for ch in changes] == [("CreateIndex", 10)]


def test_autocommit_block_is_outside_the_transaction(tmp_path: Path) -> None:
    changes = _capture(
        tmp_path,
        """
        op.add_column("t", sa.Column("c", sa.Integer()))
        with op.get_context().autocommit_block():
            op.create_index("ix", "t", ["c"], postgresql_concurrently=True)
        op.add_column("t", sa.Column("d", sa.Integer()))
        """,
    )
    assert [(ch.in_transaction, ch.segment) for ch in changes] == [(True, 0), (False, 1), (True, 2)]
    assert changes[1].statement == "CREATE INDEX CONCURRENTLY ix ON t (c)"


def test_mysql_has_no_transactional_ddl(tmp_path: Path) -> None:
    changes = _capture(tmp_path, 'op.add_column("t", sa.Column("c", sa.Integer()))', MY)
    assert changes[0].in_transaction is False
    assert changes[0].statement == "ALTER TABLE t ADD COLUMN c INTEGER"


def test_batch_operations_are_recorded_with_their_lines(tmp_path: Path) -> None:
    changes = _capture(
        tmp_path,
        """
        with op.batch_alter_table("users") as batch:
            batch.add_column(sa.Column("nickname", sa.Text()))
            batch.drop_column("legacy")
        """,
    )
    assert [(type(ch).__name__, ch.table, ch.line) for ch in changes] == [
        ("AddColumn", "users", 11),
        ("DropColumn", "users", 12),
    ]


def test_each_batch_operation_carries_its_own_sql(tmp_path: Path) -> None:
    """A batch block runs its operations when it ends: each statement still belongs to the
    operation that queued it (all of them used to land on the block's last operation)."""
    changes = _capture(
        tmp_path,
        """
        with op.batch_alter_table("users") as batch:
            batch.add_column(sa.Column("nickname", sa.Text()))
            batch.alter_column("age", type_=sa.BigInteger(), existing_type=sa.Integer(), nullable=False)
            batch.drop_column("legacy")
        """,
    )
    assert [(type(ch).__name__, ch.line, ch.statement) for ch in changes] == [
        ("AddColumn", 11, "ALTER TABLE users ADD COLUMN nickname TEXT"),
        (
            "AlterColumnType",
            12,
            "ALTER TABLE users ALTER COLUMN age TYPE BIGINT;\nALTER TABLE users ALTER COLUMN age SET NOT NULL",
        ),
        (
            "SetNotNull",
            12,
            "ALTER TABLE users ALTER COLUMN age TYPE BIGINT;\nALTER TABLE users ALTER COLUMN age SET NOT NULL",
        ),
        ("DropColumn", 13, "ALTER TABLE users DROP COLUMN legacy"),
    ]


def test_execute_text_is_parsed_per_statement(tmp_path: Path) -> None:
    changes = _capture(
        tmp_path,
        """
        op.execute(\"\"\"
            ALTER TABLE users ALTER COLUMN age TYPE bigint;
            UPDATE users SET age = 0 WHERE age IS NULL
        \"\"\")
        """,
    )
    assert [type(ch).__name__ for ch in changes] == ["AlterColumnType", "DataChange"]
    assert {ch.line for ch in changes} == {10}
    assert all(ch.source == "sql" for ch in changes)


def test_sql_sent_through_get_bind_is_not_missed(tmp_path: Path) -> None:
    changes = _capture(
        tmp_path,
        """
        conn = op.get_bind()
        conn.execute(sa.text("ALTER TABLE users DROP COLUMN legacy"))
        """,
    )
    assert [(type(ch).__name__, ch.line) for ch in changes] == [("DropColumn", 11)]


def test_revision_that_needs_a_database_reports_why_and_keeps_what_came_before(tmp_path: Path) -> None:
    changes = _capture(
        tmp_path,
        """
        op.drop_column("users", "legacy")
        count = op.get_bind().execute(sa.text("SELECT count(*) FROM users")).scalar()
        op.add_column("users", sa.Column("n", sa.Integer(), server_default=str(count + 1)))
        """,
    )
    # The SELECT it sent is captured too, before the failure.
    assert [type(ch).__name__ for ch in changes] == ["DropColumn", "Other", "RenderFailed"]
    failed = changes[-1]
    assert isinstance(failed, c.RenderFailed)
    assert failed.line == 11
    assert "live database connection" in failed.reason


def test_revision_that_fails_to_import(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "r1_rev.py").write_text(
        'import myapp.models\nrevision = "r1"\ndown_revision = None\ndef upgrade():\n    pass\n', encoding="utf-8"
    )
    source = discover(versions)
    changes = capture(source.revisions[0], PG, [])
    # It is read statically instead: an upgrade() that does nothing, and why it was read so.
    assert len(changes) == 1 and isinstance(changes[0], c.CaptureInfo) and changes[0].mode == "static"
    assert "No module named 'myapp'" in changes[0].reason


def test_syntax_error_in_revision(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "r1_rev.py").write_text('revision = "r1"\ndown_revision = None\ndef upgrade(:\n', encoding="utf-8")
    source = discover(versions)
    changes = capture(source.revisions[0], PG, [])
    assert isinstance(changes[0], c.RenderFailed)
    assert changes[0].reason.startswith("syntax error")
    assert changes[0].line == 3


def test_alter_column_keeps_exact_intent(tmp_path: Path) -> None:
    changes = _capture(
        tmp_path,
        'op.alter_column("u", "n", type_=sa.String(200), existing_type=sa.String(100), nullable=False,'
        ' new_column_name="name2")',
    )
    kinds = [type(ch).__name__ for ch in changes]
    assert kinds == ["AlterColumnType", "SetNotNull", "RenameColumn"]
    alter = changes[0]
    assert isinstance(alter, c.AlterColumnType)
    assert (str(alter.old_type), str(alter.new_type)) == ("VARCHAR(100)", "VARCHAR(200)")


def test_custom_operation_is_unverified(tmp_path: Path) -> None:
    changes = _capture(
        tmp_path,
        """
        from alembic.operations import ops
        class Shout(ops.MigrateOperation):
            pass
        from alembic.operations import Operations
        Operations.implementation_for(Shout)(lambda operations, operation: None)
        op.invoke(Shout())
        """,
    )
    assert len(changes) == 1 and isinstance(changes[0], c.Unverified)
    assert "Shout" in changes[0].reason


def test_revisions_find_a_full_offline_alembic_environment(tmp_path: Path) -> None:
    """Measured: `context.is_offline_mode()` failed with "proxy object has not yet been
    established" (11 revisions) and `op.get_context().config` was None (87 ckan revisions)."""
    import shutil

    from expandcontract.linter.engine import lint

    root = Path(__file__).resolve().parent.parent
    project = tmp_path / "proj"
    shutil.copytree(root / "examples" / "rename-column", project, ignore=shutil.ignore_patterns("*.db"))
    (project / "migrations" / "versions" / "0006_offline_aware.py").write_text(
        """from alembic import context, op

revision = "0006"
down_revision = "0005"
phase = "contract"
OFFLINE_AT_IMPORT = context.is_offline_mode()


def upgrade():
    assert OFFLINE_AT_IMPORT and context.is_offline_mode()
    assert context.get_context() is op.get_context()
    location = op.get_context().config.get_main_option("script_location")
    assert location and location.endswith("migrations"), location
    op.drop_column("orders", "total_cents")
""",
        encoding="utf-8",
    )
    report = lint([project], use_cache=False)
    assert [f.code for f in report.findings if f.revision == "0006"] == ["EC101"]
