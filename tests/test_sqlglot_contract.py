"""Golden table: how the supported sqlglot range parses the statements ec relies on.

sqlglot ships breaking changes in most minor releases (pyproject bounds it to >=30.30,<31).
When this test fails after an upgrade, the parse of a statement ec relies on changed: adapt
expandcontract/sql/normalize.py, then update the table. The second table pins what ec makes
of each statement, which must not change with the parser.
"""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from expandcontract.dialects import Target
from expandcontract.sql.normalize import parse_statement

# (sqlglot dialect, statement, top-level node, first action node or None)
PARSE_TABLE: list[tuple[str, str, str, str | None]] = [
    ("postgres", "ALTER TABLE users ADD COLUMN email text", "Alter", "ColumnDef"),
    ("postgres", "ALTER TABLE users DROP COLUMN email", "Alter", "Drop"),
    ("postgres", "ALTER TABLE users RENAME COLUMN a TO b", "Alter", "RenameColumn"),
    # The mis-parse: Alembic's column rename reads as a *table* rename.
    ("postgres", "ALTER TABLE users RENAME a TO b", "Alter", "AlterRename"),
    ("postgres", "ALTER TABLE users ALTER COLUMN a TYPE bigint", "Alter", "AlterColumn"),
    ("postgres", "ALTER TABLE users ALTER COLUMN a SET NOT NULL", "Alter", "AlterColumn"),
    (
        "postgres",
        "ALTER TABLE o ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES u (id) NOT VALID",
        "Alter",
        "AddConstraint",
    ),
    ("postgres", "CREATE INDEX CONCURRENTLY ix ON t (a)", "Create", None),
    ("postgres", "DROP INDEX CONCURRENTLY ix", "Drop", None),
    ("postgres", "TRUNCATE t CASCADE", "TruncateTable", None),
    ("postgres", "SET LOCAL lock_timeout = '2s'", "Set", None),
    ("postgres", "ALTER TABLE t VALIDATE CONSTRAINT fk", "Command", None),
    ("postgres", "ALTER TABLE t ADD CONSTRAINT u UNIQUE USING INDEX ix", "Command", None),
    ("postgres", "ALTER TYPE mood ADD VALUE 'x'", "Command", None),
    ("postgres", "ALTER TYPE mood RENAME VALUE 'a' TO 'b'", "Command", None),
    ("postgres", "REINDEX INDEX CONCURRENTLY ix", "Command", None),
    ("postgres", "DO $$ BEGIN PERFORM 1; END $$", "Command", None),
    ("postgres", "LOCK TABLE t IN ACCESS EXCLUSIVE MODE", "Command", None),
    ("postgres", "VACUUM FULL t", "Command", None),
    ("postgres", "CLUSTER t USING ix", "ParseError", None),
    ("mysql", "ALTER TABLE t MODIFY COLUMN a BIGINT NOT NULL", "Alter", "ModifyColumn"),
    ("mysql", "ALTER TABLE t CHANGE a b INT", "Alter", "ModifyColumn"),
    ("mysql", "ALTER TABLE t ADD COLUMN c INT, ALGORITHM=INPLACE, LOCK=NONE", "Alter", "ColumnDef"),
    ("mysql", "ALTER TABLE t ADD INDEX ix (a)", "Alter", "AddConstraint"),
    ("mysql", "ALTER TABLE t ENGINE=InnoDB", "Alter", None),
    ("mysql", "RENAME TABLE a TO b", "Command", None),
    ("mysql", "CREATE INDEX ix ON t (a) ALGORITHM=INPLACE LOCK=NONE", "Command", None),
    ("mysql", "ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4", "Command", None),
    ("mysql", "OPTIMIZE TABLE t", "Command", None),
    ("mysql", "ALTER ONLINE TABLE t ADD COLUMN c INT", "Command", None),
    ("mysql", "ALTER TABLE t ADD PARTITION (PARTITION p3 VALUES LESS THAN (2000))", "ParseError", None),
]


@pytest.mark.parametrize(("dialect", "sql", "node", "action"), PARSE_TABLE)
def test_sqlglot_parses_as_recorded(dialect: str, sql: str, node: str, action: str | None) -> None:
    if node == "ParseError":
        with pytest.raises(ParseError):
            sqlglot.parse_one(sql, read=dialect)
        return
    tree = sqlglot.parse_one(sql, read=dialect)
    assert type(tree).__name__ == node
    if action is not None:
        assert isinstance(tree, exp.Alter)
        assert type(tree.args["actions"][0]).__name__ == action


def test_mysql_alter_options_are_properties() -> None:
    tree = sqlglot.parse_one("ALTER TABLE t ADD COLUMN c INT, ALGORITHM=COPY, LOCK=SHARED", read="mysql")
    kinds = [type(o).__name__ for o in tree.args["options"]]
    assert kinds == ["AlgorithmProperty", "LockProperty"]


def test_not_valid_is_on_the_alter_node() -> None:
    tree = sqlglot.parse_one("ALTER TABLE o ADD CONSTRAINT c CHECK (a > 0) NOT VALID", read="postgres")
    assert tree.args.get("not_valid") is True


# (dialect, statement, what ec makes of it)
OUTCOMES: list[tuple[str, str, list[str]]] = [
    ("postgresql", "ALTER TABLE users RENAME a TO b", ["RenameColumn"]),
    ("postgresql", "ALTER TABLE users RENAME TO customers", ["RenameTable"]),
    ("postgresql", "ALTER TABLE t VALIDATE CONSTRAINT fk", ["ValidateConstraint"]),
    ("postgresql", "ALTER TABLE t ADD CONSTRAINT u UNIQUE USING INDEX ix", ["AddConstraint"]),
    ("postgresql", "ALTER TYPE mood ADD VALUE 'x'", ["EnumAddValue"]),
    ("postgresql", "ALTER TYPE mood RENAME VALUE 'a' TO 'b'", ["EnumRenameValue"]),
    ("postgresql", "REINDEX INDEX CONCURRENTLY ix", ["Maintenance"]),
    ("postgresql", "LOCK TABLE t IN ACCESS EXCLUSIVE MODE", ["LockTable"]),
    ("postgresql", "VACUUM FULL t", ["Maintenance"]),
    ("postgresql", "CLUSTER t USING ix", ["Maintenance"]),
    ("postgresql", "DO $$ BEGIN PERFORM 1; END $$", ["Unverified"]),
    ("postgresql", "ALTER TABLE t ADD COLUMN a int, DROP COLUMN b", ["AddColumn", "DropColumn"]),
    ("mysql", "RENAME TABLE a TO b", ["RenameTable"]),
    ("mysql", "CREATE INDEX ix ON t (a) ALGORITHM=INPLACE LOCK=NONE", ["CreateIndex"]),
    ("mysql", "ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4", ["TableRebuild"]),
    ("mysql", "OPTIMIZE TABLE t", ["Maintenance"]),
    ("mysql", "ALTER TABLE t CHANGE a b INT NOT NULL", ["RenameColumn", "AlterColumnType", "SetNotNull"]),
    ("mariadb", "ALTER ONLINE TABLE t ADD COLUMN c INT", ["AddColumn"]),
    ("mariadb", "ALTER TABLE t ADD COLUMN c INT WAIT 5", ["AddColumn"]),
    ("mariadb", "ALTER TABLE t ADD PARTITION (PARTITION p3 VALUES LESS THAN (2000))", ["Unverified"]),
]


@pytest.mark.parametrize(("dialect", "sql", "kinds"), OUTCOMES)
def test_ec_normalises_each_form(dialect: str, sql: str, kinds: list[str]) -> None:
    target = Target.default(dialect)  # type: ignore[arg-type]
    assert [type(ch).__name__ for ch in parse_statement(sql, target)] == kinds


def test_mysql_index_options_survive_reparse() -> None:
    (change,) = parse_statement("CREATE INDEX ix ON t (a) ALGORITHM=INPLACE LOCK=SHARED", Target.default("mysql"))
    assert (change.table, change.algorithm, change.lock) == ("t", "INPLACE", "SHARED")
