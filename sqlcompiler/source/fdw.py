"""postgres_fdw mode: foreign tables in ``bank_sync_fdw`` point at the bank-sync database.

Each run first copies them into unlogged ``bank_sync_service`` tables inside one local
transaction, which postgres_fdw runs as one REPEATABLE READ remote transaction: the run reads
one moment of the bank-sync data and makes no remote round trips per group.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import psycopg
from psycopg import sql

from ..config.catalog import Catalog
from ..config.db import read_catalog
from ..errors import ConfigError, ConnectionFailed, SourceError
from ..progress import Progress, quiet
from .plan import (
    FDW_SCHEMA,
    FETCH_SIZE,
    MAPPING_OPTIONS,
    REMOTE_COLUMNS,
    SCHEMA,
    SERVER,
    SNAPSHOT_COMMENT,
    SNAPSHOT_INDEXES,
    TABLES,
    Plan,
    SourceConfig,
    Step,
    configured,
    describe_remote,
    dsn_params,
    execute,
    first_line,
    local_tables,
    options,
    record,
    rows_in,
)


def fdw_plan(
    conn: psycopg.Connection,
    server_dsn: str | None,
    remote_schema: str = SCHEMA,
    *,
    refresh: bool = False,
    secret: bool = False,
) -> Plan:
    """Statements that (re)create the foreign server, the user mapping and the foreign tables.

    ``server_dsn=None`` with ``refresh`` re-imports the foreign tables over the existing server
    (after the bank-sync schema changed) without asking for the credentials again.
    """
    current = configured(conn)
    plan = Plan()
    if current.mode == "replica":
        raise SourceError(
            f"this database is a logical replica ({current.subscription_name}); switch back with "
            "`sqlcompiler source local` (and drop the subscription) before using postgres_fdw"
        )
    for table, (kind, comment) in local_tables(conn).items():
        if kind in ("r", "p") and comment != SNAPSHOT_COMMENT and rows_in(conn, table):
            raise SourceError(
                f"{SCHEMA}.{table} in this database holds rows that are not an fdw snapshot; in fdw "
                "mode every run replaces these tables with a copy of the bank-sync data, so move or "
                "drop them first (or keep local mode)"
            )
    if server_dsn is None:
        if current.mode != "fdw":
            raise SourceError(
                "no foreign server is configured yet: pass --server-dsn "
                "(`sqlcompiler source fdw --server-dsn 'host=… dbname=… user=…'`)"
            )
        remote_schema = current.remote_schema
        remote = current.remote
        server = sql.Identifier(current.server_name or SERVER)
    else:
        params = dsn_params(server_dsn, "--server-dsn")
        mapping = {k: params.pop(k) for k in MAPPING_OPTIONS if k in params}
        remote = describe_remote(params)
        # postgres_fdw fetches 100 rows per round trip by default; the snapshot reads millions
        params.setdefault("fetch_size", str(FETCH_SIZE))
        server = sql.Identifier(SERVER)
        plan.notes.append(
            f"postgres_fdw source: server {SERVER} -> {remote}, remote schema {remote_schema}"
        )
        if secret and "password" in mapping:
            plan.notes.append(
                "run with psql -v bank_sync_password=… (the password is never printed)"
            )
        steps = [
            sql.SQL("CREATE EXTENSION IF NOT EXISTS postgres_fdw"),
            sql.SQL("DROP SERVER IF EXISTS {} CASCADE").format(server),
            sql.SQL("CREATE SERVER {} FOREIGN DATA WRAPPER postgres_fdw OPTIONS ({})").format(
                server, options(params, False)
            ),
        ]
        plan.steps += [Step("campaign", s) for s in steps]
        if mapping:
            stmt = sql.SQL("CREATE USER MAPPING FOR CURRENT_USER SERVER {} OPTIONS ({})")
            plan.steps.append(
                Step(
                    "campaign",
                    stmt.format(server, options(mapping, False)),
                    stmt.format(server, options(mapping, True)) if secret else None,
                )
            )
        else:
            plan.steps.append(
                Step(
                    "campaign",
                    sql.SQL("CREATE USER MAPPING FOR CURRENT_USER SERVER {}").format(server),
                )
            )
    fdw = sql.Identifier(FDW_SCHEMA)
    steps = [
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(fdw),
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)),
        sql.SQL("DROP FOREIGN TABLE IF EXISTS {}").format(
            sql.SQL(", ").join(sql.Identifier(FDW_SCHEMA, t) for t in (*TABLES, REMOTE_COLUMNS))
        ),
        sql.SQL("IMPORT FOREIGN SCHEMA {} LIMIT TO ({}) FROM SERVER {} INTO {}").format(
            sql.Identifier(remote_schema),
            sql.SQL(", ").join(map(sql.Identifier, TABLES)),
            server,
            fdw,
        ),
        # The bank-sync side's own catalog, so validation sees a dropped or retyped column
        # before a run, not as a remote error in the middle of one.
        sql.SQL(
            "CREATE FOREIGN TABLE {} (table_schema text, table_name text, column_name text, "
            "data_type text, ordinal_position integer) SERVER {} "
            "OPTIONS (schema_name 'information_schema', table_name 'columns')"
        ).format(sql.Identifier(FDW_SCHEMA, REMOTE_COLUMNS), server),
    ]
    plan.steps += [Step("campaign", s) for s in steps]
    plan.steps.append(
        record(
            SourceConfig("fdw", remote_schema, current.server_name or SERVER, remote=remote)
            if server_dsn is None
            else SourceConfig("fdw", remote_schema, SERVER, remote=remote)
        )
    )
    if refresh and server_dsn is None:
        plan.notes.append(f"re-import the foreign tables from {remote_schema} on {remote}")
    return plan


def setup_fdw(
    conn: psycopg.Connection,
    server_dsn: str | None,
    remote_schema: str = SCHEMA,
    *,
    refresh: bool = False,
    progress: Progress = quiet,
) -> SourceConfig:
    plan = fdw_plan(conn, server_dsn, remote_schema, refresh=refresh)
    execute(conn, plan, "campaign", progress)
    cfg = configured(conn)
    checked_catalog(conn, cfg).check_required()
    return cfg


def remote_catalog(conn: psycopg.Connection, cfg: SourceConfig) -> Catalog:
    try:
        with conn.transaction():
            rows = conn.execute(
                sql.SQL(
                    "SELECT table_name, column_name, data_type FROM {} WHERE table_schema = %s "
                    "AND table_name = ANY(%s) ORDER BY table_name, ordinal_position"
                ).format(sql.Identifier(FDW_SCHEMA, REMOTE_COLUMNS)),
                (cfg.remote_schema, list(TABLES)),
            ).fetchall()
    except psycopg.Error as exc:
        raise ConnectionFailed(
            f"cannot read the bank-sync catalog through postgres_fdw server {cfg.server_name} "
            f"({cfg.remote}): {first_line(exc)}"
        ) from None
    tables: dict[str, dict[str, str]] = {}
    for table, column, dtype in rows:
        tables.setdefault(table, {})[column] = dtype
    return Catalog(
        tables,
        cfg.remote_schema,
        where=f"on the bank-sync database ({cfg.remote}, via postgres_fdw)",
    )


def _base_type(pg_type: str) -> str:
    return pg_type.split("(")[0].strip().lower()


def checked_catalog(conn: psycopg.Connection, cfg: SourceConfig) -> Catalog:
    """The bank-sync database's own catalog, compared with the imported foreign tables (which
    only change on ``source fdw --refresh``)."""
    remote = remote_catalog(conn, cfg)
    remote.check_required()
    local = read_catalog(conn, FDW_SCHEMA)
    problems = []
    for table in TABLES:
        have = remote.columns(table)
        for column, pg_type in local.columns(table).items():
            theirs = have.get(column)
            if theirs is None:
                problems.append(
                    f"column {cfg.remote_schema}.{table}.{column} no longer exists on the bank-sync "
                    f"database but the foreign table {FDW_SCHEMA}.{table} still has it"
                )
            elif theirs not in ("ARRAY", "USER-DEFINED") and _base_type(theirs) != _base_type(
                pg_type
            ):
                problems.append(
                    f"column {cfg.remote_schema}.{table}.{column} is {theirs} on the bank-sync "
                    f"database but {pg_type} in the foreign table {FDW_SCHEMA}.{table}"
                )
    if problems:
        problems.append(
            "the bank-sync schema changed since the foreign tables were imported: run "
            "`sqlcompiler source fdw --refresh`, then `sqlcompiler config validate`"
        )
        raise ConfigError([("", p) for p in problems])
    return remote


def snapshot(
    conn: psycopg.Connection, cifs: Sequence[str] | None, progress: Progress
) -> dict[str, object]:
    """Copy the foreign tables into unlogged local tables in one remote transaction."""
    t0 = time.monotonic()
    rows: dict[str, int] = {}
    here = {t: sql.Identifier(SCHEMA, t) for t in TABLES}
    there = {t: sql.Identifier(FDW_SCHEMA, t) for t in TABLES}
    with conn.transaction():
        conn.execute("SET LOCAL lock_timeout = '60s'")
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.SQL(", ").join(here.values())))
        for t in TABLES:
            conn.execute(sql.SQL("CREATE UNLOGGED TABLE {} (LIKE {})").format(here[t], there[t]))
            conn.execute(
                sql.SQL("COMMENT ON TABLE {} IS {}").format(here[t], sql.Literal(SNAPSHOT_COMMENT))
            )
        for t in TABLES:
            where, params = _snapshot_filter(conn, t, cifs)
            q = sql.SQL("INSERT INTO {} SELECT * FROM {}").format(here[t], there[t])
            rows[t] = conn.execute(q + where, params).rowcount
            progress(f"  snapshot {t:<20} {rows[t]:>10,} rows  {time.monotonic() - t0:6.1f}s")
        # the keys the compiled statements join on: full runs prefer merge joins over them
        for t, cols in SNAPSHOT_INDEXES:
            conn.execute(
                sql.SQL("CREATE INDEX ON {} ({})").format(
                    here[t], sql.SQL(", ").join(map(sql.Identifier, cols))
                )
            )
    conn.execute(sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(here.values())))
    size = conn.execute(
        "SELECT sum(pg_total_relation_size(format('%%I.%%I', %s::text, t)::regclass))::bigint "
        "FROM unnest(%s::text[]) t",
        (SCHEMA, list(TABLES)),
    ).fetchone()[0]
    return {"seconds": round(time.monotonic() - t0, 3), "rows": rows, "bytes": int(size or 0)}


def _snapshot_filter(
    conn: psycopg.Connection, table: str, cifs: Sequence[str] | None
) -> tuple[sql.Composable, tuple]:
    """A list run copies only its customers' rows; the filters are shipped to the remote side."""
    if cifs is None:
        return sql.SQL(""), ()
    cifs = list(cifs)
    if table in ("customers", "loans"):
        return sql.SQL(" WHERE cif = ANY(%s::text[])"), (cifs,)
    if table == "reference_customers":
        return sql.SQL(" WHERE primary_cif = ANY(%s::text[])"), (cifs,)
    if table == "loan_custom_fields":
        accounts = conn.execute(
            sql.SQL("SELECT coalesce(array_agg(account_number::text), '{{}}') FROM {}").format(
                sql.Identifier(SCHEMA, "loans")
            )
        ).fetchone()[0]
        return sql.SQL(" WHERE account_number = ANY(%s::text[])"), (accounts,)
    refs = conn.execute(
        sql.SQL("SELECT coalesce(array_agg(ref_cif::text), '{{}}') FROM {}").format(
            sql.Identifier(SCHEMA, "reference_customers")
        )
    ).fetchone()[0]
    return sql.SQL(" WHERE cif = ANY(%s::text[])"), (sorted(set(cifs) | set(refs)),)
