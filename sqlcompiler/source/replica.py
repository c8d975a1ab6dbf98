"""Logical replica mode: ``bank_sync_service`` here subscribes to a publication there."""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg
from psycopg import sql
from sqlglot import exp

from ..config.db import read_catalog
from ..errors import ConnectionFailed, SourceError
from ..infra.connection import connect
from ..progress import Progress, quiet
from .plan import (
    PUBLICATION,
    SCHEMA,
    SUBSCRIPTION,
    TABLES,
    Plan,
    SourceConfig,
    Step,
    configured,
    describe_remote,
    dsn_params,
    execute,
    local_tables,
    record,
    rows_in,
)

_SYNC_STATES = {
    "i": "initializing",
    "d": "copying data",
    "f": "finished copy",
    "s": "synchronized",
    "r": "ready",
}


def _publisher_tables(pub: psycopg.Connection) -> dict[str, dict[str, object]]:
    rows = pub.execute(
        """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               coalesce(a.attnum = ANY(i.indkey), false)
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
        WHERE n.nspname = %s AND c.relname = ANY(%s) AND c.relkind IN ('r', 'p')
        ORDER BY c.relname, a.attnum
        """,
        (SCHEMA, list(TABLES)),
    ).fetchall()
    out: dict[str, dict[str, object]] = {}
    for table, column, pg_type, notnull, in_pk in rows:
        t = out.setdefault(table, {"columns": [], "pk": []})
        t["columns"].append((column, pg_type, notnull))
        if in_pk:
            t["pk"].append(column)
    return out


def _create_table(table: str, spec: dict[str, object]) -> sql.Composable:
    cols = []
    for column, pg_type, notnull in spec["columns"]:
        # the type comes from the publisher's catalog; sqlglot parses it, so only a type
        # expression can reach the statement
        rendered = exp.DataType.build(pg_type, dialect="postgres").sql(dialect="postgres")
        cols.append(
            sql.SQL("{} {}{}").format(
                sql.Identifier(column), sql.SQL(rendered), sql.SQL(" NOT NULL" if notnull else "")
            )
        )
    if spec["pk"]:
        cols.append(
            sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, spec["pk"])))
        )
    return sql.SQL("CREATE TABLE {} ({})").format(
        sql.Identifier(SCHEMA, table), sql.SQL(", ").join(cols)
    )


def replica_plan(
    conn: psycopg.Connection, publisher_dsn: str, *, secret: bool = False
) -> tuple[Plan, psycopg.Connection]:
    """Statements for both sides; returns the open publisher connection too (caller closes)."""
    current = configured(conn)
    if current.mode == "fdw":
        raise SourceError(
            "this database reads the bank-sync data over postgres_fdw; switch back with "
            "`sqlcompiler source local` before making it a replica"
        )
    remote = describe_remote(dsn_params(publisher_dsn, "--publisher-dsn"))
    try:
        pub = connect(publisher_dsn, autocommit=True, application="sqlcompiler-source")
    except ConnectionFailed as exc:
        raise SourceError(f"cannot connect to the bank-sync database ({remote}): {exc}") from None
    try:
        plan = _replica_steps(conn, pub, publisher_dsn, remote, secret)
    except BaseException:
        pub.close()
        raise
    return plan, pub


def _replica_steps(conn, pub, publisher_dsn: str, remote: str, secret: bool) -> Plan:
    plan = Plan(notes=[f"logical replica of {SCHEMA}.* from {remote}"])
    wal_level = pub.execute("SHOW wal_level").fetchone()[0]
    if wal_level != "logical":
        raise SourceError(
            f"the bank-sync database ({remote}) runs with wal_level={wal_level}; logical "
            "replication needs wal_level=logical: its DBA must run `ALTER SYSTEM SET wal_level = "
            "logical` and restart it (or use `sqlcompiler source fdw`)"
        )
    spec = _publisher_tables(pub)
    missing = [t for t in TABLES if t not in spec]
    if missing:
        raise SourceError(
            f"the bank-sync database ({remote}) has no table "
            + ", ".join(f"{SCHEMA}.{t}" for t in missing)
        )
    subscribed = conn.execute(
        "SELECT 1 FROM pg_subscription WHERE subname = %s AND subdbid = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())",
        (SUBSCRIPTION,),
    ).fetchone()
    local = local_tables(conn)
    have = read_catalog(conn, SCHEMA)
    plan.steps.append(
        Step("campaign", sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)))
    )
    for t in TABLES:
        if t not in local:
            plan.steps.append(Step("campaign", _create_table(t, spec[t])))
            continue
        lacking = [c for c, _ty, _nn in spec[t]["columns"] if c not in have.columns(t)]
        if lacking:
            raise SourceError(
                f"{SCHEMA}.{t} in this database lacks column(s) {', '.join(lacking)} that the "
                "bank-sync table has; add them or drop the local table so it is created"
            )
        if not subscribed and rows_in(conn, t):
            raise SourceError(
                f"{SCHEMA}.{t} in this database already holds rows; the subscription copies every "
                "row from the bank-sync database, so empty it first (or keep local mode)"
            )
    published = {
        r[0]
        for r in pub.execute(
            "SELECT tablename FROM pg_publication_tables WHERE pubname = %s AND schemaname = %s",
            (PUBLICATION, SCHEMA),
        ).fetchall()
    }
    has_pub = pub.execute(
        "SELECT 1 FROM pg_publication WHERE pubname = %s", (PUBLICATION,)
    ).fetchone()
    names = sql.SQL(", ").join(sql.Identifier(SCHEMA, t) for t in TABLES if t not in published)
    if not has_pub:
        plan.steps.append(
            Step(
                "bank-sync",
                sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(
                    sql.Identifier(PUBLICATION), names
                ),
            )
        )
    elif set(TABLES) - published:
        plan.steps.append(
            Step(
                "bank-sync",
                sql.SQL("ALTER PUBLICATION {} ADD TABLE {}").format(
                    sql.Identifier(PUBLICATION), names
                ),
            )
        )
    for t in TABLES:
        if not spec[t]["pk"]:
            plan.steps.append(
                Step(
                    "bank-sync",
                    sql.SQL("ALTER TABLE {} REPLICA IDENTITY FULL").format(
                        sql.Identifier(SCHEMA, t)
                    ),
                )
            )
    if subscribed:
        plan.steps.append(
            Step(
                "campaign",
                sql.SQL("ALTER SUBSCRIPTION {} REFRESH PUBLICATION").format(
                    sql.Identifier(SUBSCRIPTION)
                ),
                autocommit=True,
            )
        )
    else:
        stmt = sql.SQL("CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {}")
        plan.steps.append(
            Step(
                "campaign",
                stmt.format(
                    sql.Identifier(SUBSCRIPTION),
                    sql.Literal(publisher_dsn),
                    sql.Identifier(PUBLICATION),
                ),
                stmt.format(
                    sql.Identifier(SUBSCRIPTION),
                    sql.SQL(":'publisher_dsn'"),
                    sql.Identifier(PUBLICATION),
                ),
                autocommit=True,
            )
        )
        if secret:
            plan.notes.append(
                "run the campaign part with psql -v publisher_dsn='…' (the DSN is never printed)"
            )
    step = record(
        SourceConfig(
            "replica",
            SCHEMA,
            publication_name=PUBLICATION,
            subscription_name=SUBSCRIPTION,
            remote=remote,
        )
    )
    # after the subscription (which cannot run in a transaction): replica mode is recorded
    # only once it exists, so a refused CREATE SUBSCRIPTION leaves the database in local mode
    step.autocommit = True
    plan.steps.append(step)
    return plan


def setup_replica(
    conn: psycopg.Connection,
    publisher_dsn: str,
    *,
    wait: float | None = 3600.0,
    progress: Progress = quiet,
) -> ReplicaState:
    plan, pub = replica_plan(conn, publisher_dsn)
    with pub:
        try:
            execute(pub, plan, "bank-sync", progress)
        except SourceError as exc:
            if exc.sqlstate != psycopg.errors.InsufficientPrivilege.sqlstate:
                raise
            bank = Plan(steps=[s for s in plan.steps if s.where == "bank-sync"])
            raise SourceError(
                f"{exc}\nthe bank-sync DBA must run, on the bank-sync database:\n"
                + bank.render(pub).strip()
                + "\nthen run `sqlcompiler source replica` again"
            ) from None
    execute(conn, plan, "campaign", progress)
    cfg = configured(conn)
    if wait:
        deadline = time.monotonic() + wait
        last = None
        while True:
            state = replica_state(conn, cfg)
            waiting = state.waiting
            if not waiting:
                break
            summary = ", ".join(f"{t} {s}" for t, s in sorted(waiting.items()))
            if summary != last:
                progress(f"  initial copy: {summary}")
                last = summary
            if time.monotonic() > deadline:
                raise SourceError(
                    f"the initial copy did not finish within {wait:.0f}s ({summary}); it goes on "
                    "in the background: watch `sqlcompiler source status`"
                )
            time.sleep(0.5)
    return replica_state(conn, cfg)


@dataclass(frozen=True)
class ReplicaState:
    subscription: str
    enabled: bool
    tables: dict[str, str]  # table -> sync state ("ready", "copying data", ...)
    worker_running: bool
    lag_seconds: float | None  # since the publisher last confirmed

    @property
    def waiting(self) -> dict[str, str]:
        return {t: s for t, s in self.tables.items() if s != "ready"}


def replica_state(conn: psycopg.Connection, cfg: SourceConfig) -> ReplicaState:
    name = cfg.subscription_name or SUBSCRIPTION
    sub = conn.execute(
        "SELECT oid, subenabled FROM pg_subscription WHERE subname = %s AND subdbid = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())",
        (name,),
    ).fetchone()
    if sub is None:
        raise SourceError(
            f"replica mode is configured but the subscription {name} does not exist; run "
            "`sqlcompiler source replica --publisher-dsn …` again"
        )
    rels = dict(
        conn.execute(
            "SELECT c.relname, r.srsubstate::text FROM pg_subscription_rel r "
            "JOIN pg_class c ON c.oid = r.srrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE r.srsubid = %s AND n.nspname = %s",
            (sub[0], SCHEMA),
        ).fetchall()
    )
    stat = conn.execute(
        "SELECT pid IS NOT NULL, extract(epoch FROM now() - latest_end_time)::float8 "
        "FROM pg_stat_subscription WHERE subid = %s AND relid IS NULL",
        (sub[0],),
    ).fetchone()
    return ReplicaState(
        subscription=name,
        enabled=sub[1],
        tables={t: _SYNC_STATES.get(rels.get(t, ""), "not subscribed") for t in TABLES},
        worker_running=bool(stat and stat[0]),
        lag_seconds=None if not stat or stat[1] is None else round(stat[1], 1),
    )
