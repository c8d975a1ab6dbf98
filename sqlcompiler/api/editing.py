"""What the workbench's guided editor reads: the fields a condition can test, their types and
operators, and a profile of what the data holds for one field."""

from __future__ import annotations

import psycopg

from ..config.catalog import data_type_of
from ..config.operands import LIST_OPS, NO_VALUE_OPS, operators_for
from ..source import catalog
from ..source.fields import FieldProfile, one_field

__all__ = [
    "LIST_OPS",
    "NO_VALUE_OPS",
    "FieldProfile",
    "field_profile",
    "operators_for",
    "source_fields",
]


def source_fields(
    conn: psycopg.Connection, source: str, registry: dict[str, str] | None = None
) -> list[tuple[str, str]]:
    """(field, data type) a condition on ``source`` can test: a bank-sync table's columns of a
    known type, or for ``custom_fields`` the registry (``registry``: the draft's own, which the
    stored registry extends)."""
    if source == "custom_fields":
        fields = dict(registry or {})
        fields |= dict(
            conn.execute(
                "SELECT field_name, data_type FROM campaign_engine.custom_fields"
            ).fetchall()
        )
        return sorted(fields.items())
    table = source.split(".")[1]
    return [(c, t) for c, pg in catalog(conn).columns(table).items() if (t := data_type_of(pg))]


def field_profile(
    conn: psycopg.Connection, source: str, column: str, dtype: str
) -> FieldProfile | None:
    """Common values (strings) or min / median / max (numbers, dates), sampled on big tables."""
    return one_field(conn, source, column, dtype)
