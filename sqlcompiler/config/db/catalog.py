"""What the configuration is checked against, read from the database: the bank-sync tables'
columns and which registered custom fields hold values."""

from __future__ import annotations

from collections.abc import Iterable

import psycopg
from psycopg import sql

from ..catalog import BANK_SYNC_SCHEMA, REQUIRED, Catalog


def read_catalog(conn: psycopg.Connection, schema: str = BANK_SYNC_SCHEMA) -> Catalog:
    """The columns and types of the bank-sync tables SPEC §1 requires, as ``schema`` has them."""
    rows = conn.execute(
        """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relname = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
          AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
        ORDER BY c.relname, a.attnum
        """,
        (schema, list(REQUIRED)),
    ).fetchall()
    tables: dict[str, dict[str, str]] = {}
    for table, column, pg_type in rows:
        tables.setdefault(table, {})[column] = pg_type
    return Catalog(tables, schema)


def fields_without_values(
    conn: psycopg.Connection, names: Iterable[str], schema: str = BANK_SYNC_SCHEMA
) -> list[str]:
    """The custom fields among ``names`` that no loan's ``fields`` holds (lint warns)."""
    names = sorted(names)
    if not names:
        return []
    rows = conn.execute(
        sql.SQL(
            "SELECT k FROM unnest(%s::text[]) AS k WHERE NOT EXISTS "
            "(SELECT 1 FROM {}.loan_custom_fields f WHERE f.fields ? k)"
        ).format(sql.Identifier(schema)),
        (names,),
    ).fetchall()
    return [name for (name,) in rows]
