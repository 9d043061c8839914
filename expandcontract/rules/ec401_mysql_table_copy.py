from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import MYSQL, Hit, Rule
from expandcontract.sql import changes as c
from expandcontract.sql.types import mysql_inplace_type_change, mysql_varchar_prefix_bytes


class MysqlTableCopy(Rule):
    """Flags MySQL/MariaDB changes that need `ALGORITHM=COPY` (a blocking table copy).

    ## What it does
    Reports changes InnoDB cannot do in place on an existing table: a column type change
    (including `VARCHAR` growth across the 255-byte length-prefix boundary, e.g.
    `VARCHAR(63)` to `VARCHAR(64)` in utf8mb4; on MariaDB a column of at most 127 bytes grows
    in place), enum/set values inserted anywhere but the end,
    `CONVERT TO CHARACTER SET`, `ENGINE=` another engine, dropping the primary key, adding a
    stored generated column, adding a foreign key with `foreign_key_checks` on, adding a CHECK
    constraint, and any
    explicit `ALGORITHM=COPY`; and in-place rebuilds that still block writes (LOCK=SHARED):
    adding an `AUTO_INCREMENT` column, a `FULLTEXT` or `SPATIAL` index. A change that states
    `ALGORITHM=INPLACE` or `INSTANT` is not reported: the server refuses it rather than copying.
    `FORCE`, `ENGINE=InnoDB`, `OPTIMIZE TABLE` (carried out as `FORCE`) and adding a primary
    key rebuild in place with writes going on, and are not reported. Every claim is measured on MariaDB 10.11
    (docs/reference/measured.md).

    ## Why is this bad?
    A COPY alter rebuilds the table row by row while blocking every write (LOCK=SHARED at
    best) for the whole copy - minutes to hours on a large table.

    ## Example
    ```sql
    ALTER TABLE orders MODIFY COLUMN amount BIGINT NOT NULL;
    ```

    ## Use instead
    For a large table, run the change through gh-ost or pt-online-schema-change
    (`expandcontract.online.alter`). Otherwise state the algorithm you expect, so the server
    fails fast instead of locking:
    ```sql
    ALTER TABLE orders MODIFY COLUMN amount BIGINT NOT NULL, ALGORITHM=INPLACE, LOCK=NONE;
    ```

    ## Alembic
    ```python
    from expandcontract import online
    online.alter("orders", "MODIFY COLUMN amount BIGINT NOT NULL")
    ```
    """

    code = "EC401"
    name = "mysql-table-copy"
    category = "lock"
    dialects = MYSQL
    fix = (
        "Run it through an online schema-change tool (expandcontract.online.alter, gh-ost, pt-osc), or add "
        "ALGORITHM=INPLACE, LOCK=NONE so the server refuses instead of copying."
    )
    needs = (
        "The column's previous type: from the migration (`existing_type`, MySQL `CHANGE`), else from the schema ec "
        "knows (the revisions before this one, `--schema` or `--url`). Without it a type change is reported as a table "
        "copy unless the type is unchanged."
    )

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if ctx.is_new_table(change.table) or (change.algorithm in ("INPLACE", "INSTANT")):
            return
        reason = self._reason(change, ctx)
        if reason is None and change.algorithm == "COPY":
            reason = "ALGORITHM=COPY is requested explicitly"
        if reason:
            yield Hit(f"{reason}: the table {change.table or ''} is copied while writes are blocked.")

    def _reason(self, change: c.Change, ctx: UnitContext) -> str | None:
        charset = ctx.settings.mysql_charset
        if isinstance(change, c.AlterColumnType) and change.new_type is not None:
            old, new = ctx.previous_type(change), change.new_type
            if old is None:
                if change.source == "sql":
                    return f"MODIFY/CHANGE of {change.column} to {new} copies the table unless the type is unchanged"
                return f"changing the type of {change.column} (previous type unknown) needs a table copy"
            if not mysql_inplace_type_change(old, new, charset, mariadb=ctx.target.dialect == "mariadb"):
                if old.name == new.name == "VARCHAR" and old.int_args and new.int_args:
                    before = mysql_varchar_prefix_bytes(old.int_args[0], charset)
                    after = mysql_varchar_prefix_bytes(new.int_args[0], charset)
                    if before != after:
                        return (
                            f"{old} to {new} crosses the 255-byte length-prefix boundary in {charset} (from more "
                            "than 127 bytes on MariaDB), which needs a table copy"
                        )
                return f"changing {change.column} from {old} to {new} needs a table copy"
        if isinstance(change, c.TableRebuild):
            return None if change.in_place else change.reason
        if isinstance(change, c.AddColumn) and change.column.generated_stored:
            return f"adding the stored generated column {change.column.name} copies the table to compute it"
        if isinstance(change, c.AddColumn) and change.column.autoincrement:
            return (
                f"adding the AUTO_INCREMENT column {change.column.name} rebuilds the table with writes blocked "
                "(LOCK=SHARED at best)"
            )
        if isinstance(change, c.CreateIndex) and change.kind in ("fulltext", "spatial"):
            return f"a {change.kind.upper()} index is built with writes blocked (LOCK=SHARED at best)"
        if isinstance(change, c.AddConstraint) and change.kind == "check":
            return "adding a CHECK constraint copies the table to check every row"
        if isinstance(change, c.DropConstraint) and change.kind == "primary_key":
            return "dropping the primary key rebuilds the clustered index"
        if isinstance(change, c.AddConstraint) and change.kind == "foreign_key" and not _fk_checks_off(change, ctx):
            return "adding a foreign key with foreign_key_checks=1 uses ALGORITHM=COPY"
        return None


def _fk_checks_off(change: c.Change, ctx: UnitContext) -> bool:
    """``SET foreign_key_checks = 0`` earlier in the unit (and not set back): the server then adds
    the foreign key in place, without checking existing rows (measured: INSTANT on MariaDB)."""
    off = False
    for earlier in ctx.changes:
        if earlier is change:
            break
        if isinstance(earlier, c.SetSetting) and earlier.name.lower().split(".")[-1] == "foreign_key_checks":
            off = earlier.value.strip("'\" ").upper() in ("0", "OFF", "FALSE")
    return off
