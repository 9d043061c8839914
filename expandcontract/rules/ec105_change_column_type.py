from __future__ import annotations

from collections.abc import Iterator

from expandcontract.linter.context import UnitContext
from expandcontract.rules.base import Hit, Rule
from expandcontract.sql import changes as c
from expandcontract.sql.types import SqlType, canonical, is_compatible_widening


class ChangeColumnType(Rule):
    """Flags a column type change that old values or the old code may not survive.

    ## What it does
    Reports `ALTER COLUMN ... TYPE`, MySQL `MODIFY`/`CHANGE` and `op.alter_column(type_=...)`
    unless the change is a known compatible widening: `varchar(n)` to `varchar(m >= n)` or
    `text`, a wider integer, `numeric` precision up at the same scale, `json` to `jsonb`,
    enum values appended at the end, a PostgreSQL enum type to `text` (or a `varchar` every
    label fits). The previous type comes from the migration
    (`existing_type`, MySQL `CHANGE`) or from the schema ec knows: the revisions before this
    one, `--schema` or `--url`. When none of them tells, ec cannot prove a widening and reports
    it, saying so.

    ## Why is this bad?
    A narrowing rejects values the old color still writes (`value too long for type
    character varying(20)`), and a change of kind (text to integer, timestamp to date) changes
    what the old code reads back.

    ## Example
    ```python
    op.alter_column("users", "nickname", type_=sa.String(20), existing_type=sa.String(100))
    ```

    ## Use instead
    Add a new column with the new type (expand), write both, backfill, switch reads, and drop
    the old column in a contract revision. For a widening, pass `existing_type` so ec can
    see it is one.

    ## Alembic
    ```python
    op.alter_column("users", "nickname", type_=sa.String(200), existing_type=sa.String(100))
    ```
    """

    code = "EC105"
    name = "change-column-type"
    category = "contract"
    phase = "contract"
    fix = (
        "Add a column of the new type and migrate to it across releases; for a widening, give existing_type "
        "so ec can prove it."
    )
    needs = (
        "The column's previous type: from the migration (`existing_type`, MySQL `CHANGE`), else from the schema ec "
        "knows (the revisions before this one, `--schema` or `--url`), with the labels of PostgreSQL enum types "
        "(`CREATE TYPE ... AS ENUM`, `ALTER TYPE ... ADD/RENAME VALUE`). Without it the rule reports the change, "
        "saying the previous type is unknown."
    )

    def check(self, change: c.Change, ctx: UnitContext) -> Iterator[Hit]:
        if not isinstance(change, c.AlterColumnType) or ctx.is_new_table(change.table):
            return
        old, new = ctx.previous_type(change), change.new_type
        where = f"{change.table}.{change.column}"
        if new is None:
            return
        new = canonical(new, ctx.target.family)
        old = canonical(old, ctx.target.family) if old is not None else None
        if old is None:
            yield Hit(
                f"Type of {where} changes to {new}, and its previous type is unknown, so ec cannot verify the old "
                "color's values still fit (pass existing_type=, or --schema/--url so ec knows the table)."
            )
        elif not is_compatible_widening(old, new) and not _enum_to_text(ctx, old, new):
            yield Hit(f"Changing {where} from {old} to {new} is not a widening: the old color's values may not fit.")


def _enum_to_text(ctx: UnitContext, old: SqlType, new: SqlType) -> bool:
    """A PostgreSQL enum (known from the schema) to text, or to a varchar that fits every label:
    every value the old color writes is still valid (measured: docs/reference/measured.md)."""
    labels = ctx.facts.schema.enum_labels(old)
    if labels is None:
        return False
    if new.name == "TEXT" or (new.name == "VARCHAR" and not new.args):
        return True
    longest = max((len(label) for label in labels), default=0)
    return new.name == "VARCHAR" and bool(new.int_args) and new.int_args[0] >= longest  # type: ignore[index]
