"""What a condition may use, with what the data holds: ``sqlcompiler fields``.

Per data source (customers, loans, custom fields): every field a condition can test, its
type, the share of missing values (SPEC §2's "missing": NULL, or a custom value absent or of
the wrong JSON type), the distinct count, and the top values (strings, booleans) or min /
median / max (numbers, dates). Each table is read once into a temporary table of the tested
values (the same SQL expressions the compiler uses); above ``SAMPLE_ROWS`` rows a
``TABLESAMPLE SYSTEM`` sample is read instead, and the result says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from ..compiler.conditions import value_expr
from ..config.catalog import data_type_of
from ..config.model import Condition, plain
from .status import catalog

SAMPLE_ROWS = 200_000
TOP = 5
SOURCES = {
    "customers": "bank_sync_service.customers",
    "loans": "bank_sync_service.loans",
    "custom": "custom_fields",
}


@dataclass
class FieldProfile:
    data_source: str  # as a condition names it
    field: str
    data_type: str
    missing: float  # share of rows, 0..1
    distinct: int
    top: list[tuple[Any, int]] = field(default_factory=list)  # strings and booleans
    min: Any = None  # numbers and dates
    median: Any = None
    max: Any = None


@dataclass
class TableScan:
    rows: int  # rows read
    sampled: bool  # a TABLESAMPLE of about SAMPLE_ROWS rows, not the whole table
    estimated_rows: int


@dataclass
class FieldsReport:
    fields: list[FieldProfile]
    scans: dict[str, TableScan]
    seconds: float = 0.0


def profile(conn: psycopg.Connection, schema: str = "bank_sync_service") -> FieldsReport:
    t0 = time.monotonic()
    cat = catalog(conn)
    registry = dict(
        conn.execute("SELECT field_name, data_type FROM campaign_engine.custom_fields").fetchall()
    )
    out: list[FieldProfile] = []
    scans: dict[str, TableScan] = {}
    with conn.transaction(force_rollback=True):  # temporary tables only; nothing stays
        for table, source, alias in (("customers", "customer", "c"), ("loans", "loan", "l")):
            conds = [
                Condition(source, column, dtype, "IS NULL", column_type=pg_type)
                for column, pg_type in cat.columns(table).items()
                if (dtype := data_type_of(pg_type)) is not None
            ]
            names = [SOURCES[table]] * len(conds)
            if table == "loans":
                custom = [Condition("custom", n, t, "IS NULL") for n, t in sorted(registry.items())]
                conds += custom
                names += [SOURCES["custom"]] * len(custom)
            scans[SOURCES[table]] = _scan(conn, schema, table, alias, conds)
            out += _profiles(conn, conds, names, scans[SOURCES[table]].rows)
    return FieldsReport(out, scans, time.monotonic() - t0)


def _scan(
    conn,
    schema: str,
    table: str,
    alias: str,
    conds: list[Condition],
    sample_rows: int | None = None,
) -> TableScan:
    sample_rows = SAMPLE_ROWS if sample_rows is None else sample_rows
    estimate = conn.execute(
        "SELECT greatest(c.reltuples, 0)::bigint FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
        (schema, table),
    ).fetchone()
    estimated = int(estimate[0]) if estimate else 0
    sampled = estimated > sample_rows
    source = sql.SQL("{}.{} AS {}").format(
        sql.Identifier(schema), sql.Identifier(table), sql.Identifier(alias)
    )
    if sampled:
        pct = min(100.0, 100.0 * sample_rows / estimated)
        source += sql.SQL(" TABLESAMPLE SYSTEM ({}) REPEATABLE (42)").format(sql.Literal(pct))
    if table == "loans":
        source += sql.SQL(" LEFT JOIN {}.loan_custom_fields AS f ON f.account_number = l.account_number").format(
            sql.Identifier(schema)
        )  # fmt: skip
    columns = [
        sql.SQL("{} AS {}").format(sql.SQL(value_expr(c).sql(dialect="postgres")), sql.Identifier(f"v{i}"))
        for i, c in enumerate(conds)
    ]  # fmt: skip
    conn.execute("DROP TABLE IF EXISTS pg_temp.field_values")
    conn.execute(
        sql.SQL("CREATE TEMP TABLE field_values AS SELECT {} FROM {}").format(
            sql.SQL(", ").join(columns) if columns else sql.SQL("1 AS one"), source
        )
    )
    rows = conn.execute("SELECT count(*) FROM pg_temp.field_values").fetchone()[0]
    return TableScan(rows, sampled, max(estimated, rows))


def _profiles(conn, conds: list[Condition], names: list[str], rows: int) -> list[FieldProfile]:
    if not conds:
        return []
    aggs = []
    for i, c in enumerate(conds):
        v = sql.Identifier(f"v{i}")
        aggs += [sql.SQL("count({})").format(v), sql.SQL("count(DISTINCT {})").format(v)]
        if c.dtype in ("number", "date"):
            aggs += [
                sql.SQL("min({})").format(v),
                sql.SQL("percentile_disc(0.5) WITHIN GROUP (ORDER BY {})").format(v),
                sql.SQL("max({})").format(v),
            ]
    row = list(
        conn.execute(
            sql.SQL("SELECT {} FROM pg_temp.field_values").format(sql.SQL(", ").join(aggs))
        ).fetchone()
    )
    out = []
    for i, (c, name) in enumerate(zip(conds, names, strict=True)):
        present, distinct = row.pop(0), row.pop(0)
        p = FieldProfile(name, c.field, c.dtype, (rows - present) / rows if rows else 0.0, distinct)
        if c.dtype in ("number", "date"):
            p.min, p.median, p.max = (plain(row.pop(0)) for _ in range(3))
        else:
            p.top = [
                (plain(v), n)
                for v, n in conn.execute(
                    sql.SQL(
                        "SELECT {v}, count(*) FROM pg_temp.field_values WHERE {v} IS NOT NULL "
                        "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {top}"
                    ).format(v=sql.Identifier(f"v{i}"), top=sql.Literal(TOP))
                ).fetchall()
            ]
        out.append(p)
    return out


def one_field(
    conn: psycopg.Connection, data_source: str, column: str, dtype: str, sample_rows: int = 20_000
) -> FieldProfile | None:
    """One field's profile for the workbench's guided editor: read from a sample of about
    ``sample_rows`` rows, so that a page stays fast on millions of customers."""
    table = {v: k for k, v in SOURCES.items()}.get(data_source)
    if table is None:
        return None
    schema = "bank_sync_service"
    if table == "custom":
        cond = Condition("custom", column, dtype, "IS NULL")
        table, alias = "loans", "l"
    else:
        pg_type = catalog(conn).columns(table).get(column)
        if pg_type is None:
            return None
        cond = Condition("customer" if table == "customers" else "loan", column, dtype, "IS NULL",
                         column_type=pg_type)  # fmt: skip
        alias = "c" if table == "customers" else "l"
    with conn.transaction(force_rollback=True):
        scan = _scan(conn, schema, table, alias, [cond], sample_rows)
        (profile,) = _profiles(conn, [cond], [data_source], scan.rows)
    return profile
