"""The bank-sync tables on a Citus cluster (``source citus``): distributed on ``cif``.

This database is the Citus coordinator. The per-customer tables become distributed tables
co-located on the customer's ``cif`` (``reference_customers`` on ``primary_cif``, the customer
it belongs to), so a customer's loans and references sit on one shard with the customer.
``loan_custom_fields`` (keyed by account number) and ``phones`` (a reference's phones are
under the reference's own ``cif``) become reference tables, copied to every node: each is
joined on a column that is not the distribution column, and a reference table joins anywhere.
The trade-off: their writes go to every node, and each node stores them whole
(docs/scaling.md).

Citus requires a distributed table's unique keys to contain the distribution column, so
``loans`` gets the primary key ``(cif, account_number)`` and ``reference_customers``
``(primary_cif, ref_cif)``, and the foreign key from ``loan_custom_fields`` to ``loans`` is
dropped (a reference table cannot reference a distributed one). The configuration and result
tables stay on the coordinator. Every step is skipped when already done, so the command is
idempotent.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from ..errors import SourceError
from ..progress import Progress, quiet
from .plan import SCHEMA, Plan, Step, execute, local_tables, require_local

# table -> distribution column (co-located with customers); None: a reference table
LAYOUT: dict[str, str | None] = {
    "customers": "cif",
    "loans": "cif",
    "reference_customers": "primary_cif",
    "loan_custom_fields": None,
    "phones": None,
}
KEYS = {"loans": ("cif", "account_number"), "reference_customers": ("primary_cif", "ref_cif")}
# foreign keys to customers, re-created once both sides are co-located
CUSTOMER_KEYS = {"loans": "cif", "reference_customers": "primary_cif"}


def _table(name: str) -> sql.Composable:
    return sql.Identifier(SCHEMA, name)


def _check_cluster(conn: psycopg.Connection) -> int:
    """The number of active workers; an error says how to get Citus when it is missing."""
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'citus'").fetchone()
    if row is None:
        raise SourceError(
            "this database is not a Citus coordinator: load Citus (shared_preload_libraries = "
            "'citus'), run CREATE EXTENSION citus here and add the workers with "
            "citus_add_node(host, port) (docs/scaling.md)"
        )
    return conn.execute("SELECT count(*) FROM citus_get_active_worker_nodes()").fetchone()[0]


def _distributed(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s",
        (SCHEMA,),
    ).fetchall()
    return {r[0] for r in rows}


def _constraints(conn: psycopg.Connection, table: str, kind: str) -> list[tuple[str, list[str]]]:
    """(name, columns) of ``table``'s constraints of ``kind`` ('p' primary, 'f' foreign)."""
    rows = conn.execute(
        "SELECT con.conname, array_agg(a.attname::text ORDER BY k.n) FROM pg_constraint con "
        "CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY k(attnum, n) "
        "JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum "
        "WHERE con.conrelid = %s::regclass AND con.contype = %s GROUP BY con.conname",
        (f"{SCHEMA}.{table}", kind),
    ).fetchall()
    return [(r[0], list(r[1])) for r in rows]


def citus_plan(conn: psycopg.Connection) -> Plan:
    """The statements that distribute the bank-sync tables still local on this coordinator."""
    workers = _check_cluster(conn)
    present = local_tables(conn)
    missing = [t for t in LAYOUT if present.get(t, ("",))[0] not in ("r", "p")]
    if missing:
        raise SourceError(
            f"no table {SCHEMA}.{missing[0]} to distribute: load the bank-sync tables on the "
            "coordinator first (your bank-sync service, or `sqlcompiler demo init` for empty ones)"
        )
    done = _distributed(conn)
    todo = [t for t in LAYOUT if t not in done]
    plan = Plan(notes=[f"Citus coordinator with {workers} active worker node(s)"])
    if workers == 0:
        plan.notes.append("no worker nodes yet: the shards stay on the coordinator")
    if not todo:
        plan.notes.append("the bank-sync tables are already distributed: nothing to do")
        return plan

    def step(statement: sql.Composable) -> None:
        plan.steps.append(Step("campaign", statement))

    # foreign keys Citus cannot keep while the tables change form; co-located ones come back
    for table in todo:
        for name, _cols in _constraints(conn, table, "f"):
            step(
                sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                    _table(table), sql.Identifier(name)
                )
            )
    for table, key in KEYS.items():
        if table not in todo:
            continue
        for name, cols in _constraints(conn, table, "p"):
            if cols != list(key):
                step(
                    sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                        _table(table), sql.Identifier(name)
                    )
                )
                step(
                    sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(
                        _table(table), sql.SQL(", ").join(map(sql.Identifier, key))
                    )
                )
    for table in todo:
        column = LAYOUT[table]
        if column is None:
            step(
                sql.SQL("SELECT create_reference_table({})").format(
                    sql.Literal(f"{SCHEMA}.{table}")
                )
            )
        else:
            step(
                sql.SQL("SELECT create_distributed_table({}, {}, colocate_with => {})").format(
                    sql.Literal(f"{SCHEMA}.{table}"),
                    sql.Literal(column),
                    sql.Literal("default" if table == "customers" else f"{SCHEMA}.customers"),
                )
            )
    for table, column in CUSTOMER_KEYS.items():
        if table in todo:
            step(
                sql.SQL("ALTER TABLE {} ADD FOREIGN KEY ({}) REFERENCES {} ({})").format(
                    _table(table),
                    sql.Identifier(column),
                    _table("customers"),
                    sql.Identifier("cif"),
                )
            )
    for table in todo:  # the rows now live in the shards; the coordinator's copies go
        step(
            sql.SQL("SELECT truncate_local_data_after_distributing_table({})").format(
                sql.Literal(f"{SCHEMA}.{table}")
            )
        )
    return plan


def setup_citus(conn: psycopg.Connection, progress: Progress = quiet) -> Plan:
    """Distribute the bank-sync tables in one transaction (all or nothing); returns the plan."""
    require_local(conn, "source citus")
    plan = citus_plan(conn)
    for note in plan.notes:
        progress(f"  {note}")
    execute(conn, plan, "campaign", progress)
    return plan
