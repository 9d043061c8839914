"""The schema model: what the database looks like before each change (see :mod:`.model`)."""

from expandcontract.schema.model import ColumnState, SchemaModel, TableState, table_key

__all__ = ["ColumnState", "SchemaModel", "TableState", "table_key"]
