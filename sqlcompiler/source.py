"""Where the bank-sync tables come from: this database, postgres_fdw, or a logical replica.

The compiled SQL reads ``bank_sync_service.<table>`` of the campaign database in every mode,
so the statements a DBA reviewed do not change with the mode:

* ``local``   the bank-sync tables are in this database (the default: no configuration row);
* ``fdw``     foreign tables in ``bank_sync_fdw`` point at the bank-sync database. Each run first
              copies them into unlogged ``bank_sync_service`` tables inside one local
              transaction, which postgres_fdw runs as one REPEATABLE READ remote transaction:
              the run reads one moment of the bank-sync data and makes no remote round trips
              per group;
* ``replica`` the ``bank_sync_service`` tables here subscribe (logical replication) to a
              publication on the bank-sync database.

Credentials given in a DSN go into the user mapping or the subscription only; they are never
printed (``--sql`` output uses psql variables for them) and are redacted from errors.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from sqlglot import exp

from .config.catalog import BANK_SYNC_SCHEMA, REQUIRED, Catalog
from .connection import connect, redact
from .errors import ConfigError, ConnectionFailed, SourceError

SCHEMA = BANK_SYNC_SCHEMA  # what the compiled SQL reads, in every mode
FDW_SCHEMA = "bank_sync_fdw"
SERVER = "sqlcompiler_bank_sync"
PUBLICATION = "sqlcompiler_bank_sync"
SUBSCRIPTION = "sqlcompiler_bank_sync"
REMOTE_COLUMNS = "sqlcompiler_remote_columns"
SNAPSHOT_COMMENT = "sqlcompiler fdw snapshot: replaced by every run, do not edit"
TABLES = tuple(REQUIRED)
MAPPING_OPTIONS = ("user", "password", "sslcert", "sslkey")
SECRET_VARS = {"password": "bank_sync_password"}
FETCH_SIZE = 10_000
SNAPSHOT_INDEXES = (
    ("customers", ("cif",)),
    ("loans", ("account_number",)),
    ("loans", ("cif",)),
    ("loan_custom_fields", ("account_number",)),
    ("reference_customers", ("primary_cif",)),
    ("phones", ("cif",)),
)

Progress = Callable[[str], None]


@dataclass
class SourceConfig:
    mode: str = "local"
    remote_schema: str = SCHEMA
    server_name: str | None = None
    publication_name: str | None = None
    subscription_name: str | None = None
    remote: str | None = None

    def describe(self) -> str:
        if self.mode == "fdw":
            return (
                f"fdw: foreign tables {FDW_SCHEMA}.* over postgres_fdw server {self.server_name} "
                f"({self.remote}), remote schema {self.remote_schema}; each run snapshots them "
                f"into {SCHEMA}"
            )
        if self.mode == "replica":
            return (
                f"replica: {SCHEMA}.* subscribe ({self.subscription_name}) to publication "
                f"{self.publication_name} on {self.remote}"
            )
        return f"local: the bank-sync tables are {SCHEMA}.* in this database"


@dataclass
class Step:
    """One statement of a setup plan; ``shown`` replaces secrets by psql variables."""

    where: str  # "campaign" or "bank-sync"
    statement: sql.Composable
    shown: sql.Composable | None = None
    autocommit: bool = False

    def text(self, conn: psycopg.Connection) -> str:
        return (self.shown or self.statement).as_string(conn) + ";"


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def render(self, conn: psycopg.Connection) -> str:
        out = [f"-- {n}" for n in self.notes]
        where = None
        for s in self.steps:
            if s.where != where:
                where = s.where
                out.append(f"\n-- on the {where} database")
            out.append(s.text(conn))
        return "\n".join(out) + "\n"


def configured(conn: psycopg.Connection) -> SourceConfig:
    """The configured mode; local when nothing (or an older schema) says otherwise."""
    if conn.execute("SELECT to_regclass('campaign_engine.data_source')").fetchone()[0] is None:
        return SourceConfig()
    row = conn.execute(
        "SELECT mode, remote_schema, server_name, publication_name, subscription_name, remote "
        "FROM campaign_engine.data_source"
    ).fetchone()
    return SourceConfig(*row) if row else SourceConfig()


def require_local(conn: psycopg.Connection, what: str) -> None:
    """Refuse writes into bank_sync_service when those tables are a snapshot or a replica."""
    cfg = configured(conn)
    if cfg.mode != "local":
        raise SourceError(
            f"{what} writes the bank-sync tables, but this database reads them in {cfg.mode} mode "
            f"from {cfg.remote}; do it on the bank-sync database (--dsn of that database)"
        )


def _record(cfg: SourceConfig) -> Step:
    return Step(
        "campaign",
        sql.SQL(
            "INSERT INTO campaign_engine.data_source (mode, remote_schema, server_name, "
            "publication_name, subscription_name, remote) VALUES ({}, {}, {}, {}, {}, {}) "
            "ON CONFLICT (singleton) DO UPDATE SET mode = EXCLUDED.mode, "
            "remote_schema = EXCLUDED.remote_schema, server_name = EXCLUDED.server_name, "
            "publication_name = EXCLUDED.publication_name, "
            "subscription_name = EXCLUDED.subscription_name, remote = EXCLUDED.remote, "
            "configured_by = current_user, configured_at = now()"
        ).format(
            *map(
                sql.Literal,
                (
                    cfg.mode,
                    cfg.remote_schema,
                    cfg.server_name,
                    cfg.publication_name,
                    cfg.subscription_name,
                    cfg.remote,
                ),
            )
        ),
    )


def _dsn_params(dsn: str, option: str) -> dict[str, str]:
    """The connection parameters a DSN sets (empty ones dropped); an error names the option."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise SourceError(f"{option} is not a valid connection string: {_first(exc)}") from None
    return {k: str(v) for k, v in params.items() if v not in (None, "")}


def _describe_remote(params: dict[str, str]) -> str:
    keep = ("service", "host", "hostaddr", "port", "dbname")
    return " ".join(f"{k}={params[k]}" for k in keep if params.get(k)) or "libpq defaults"


def _options(opts: dict[str, str], secret: bool) -> sql.Composable:
    parts = []
    for key, value in opts.items():
        shown: sql.Composable = sql.Literal(value)
        if secret and key in SECRET_VARS:
            shown = sql.SQL(":{}").format(sql.Literal(SECRET_VARS[key]))
        parts.append(sql.SQL("{} {}").format(sql.Identifier(key), shown))
    return sql.SQL(", ").join(parts)


def _execute(conn: psycopg.Connection, plan: Plan, where: str, progress: Progress) -> None:
    steps = [s for s in plan.steps if s.where == where]
    if not steps:
        return
    try:
        with conn.transaction():
            for s in steps:
                if not s.autocommit:
                    conn.execute(s.statement)
        for s in steps:
            if s.autocommit:
                conn.execute(s.statement)
    except psycopg.Error as exc:
        raise SourceError(
            f"on the {where} database: {_first(exc)}; nothing was changed there "
            "(`--sql` prints the statements for a DBA to run)"
        ) from None
    progress(f"  {len(steps)} statement(s) run on the {where} database")


def _first(exc: BaseException) -> str:
    """The error with its DETAIL (where libpq says which host failed), passwords removed."""
    text = str(exc).strip() or type(exc).__name__
    detail = getattr(getattr(exc, "diag", None), "message_detail", None)
    if detail and detail not in text:
        text = f"{text} ({detail})"
    return redact(" ".join(line.strip() for line in text.splitlines() if line.strip()))


def _local_tables(conn: psycopg.Connection) -> dict[str, tuple[str, str | None]]:
    """``{table: (relkind, comment)}`` of the bank-sync tables present in this database."""
    rows = conn.execute(
        "SELECT c.relname, c.relkind::text, obj_description(c.oid, 'pg_class') FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = ANY(%s)",
        (SCHEMA, list(TABLES)),
    ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def _rows_in(conn: psycopg.Connection, table: str) -> bool:
    q = sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(SCHEMA, table))
    return bool(conn.execute(q).fetchone()[0])


# -- postgres_fdw --------------------------------------------------------------------------


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
    for table, (kind, comment) in _local_tables(conn).items():
        if kind in ("r", "p") and comment != SNAPSHOT_COMMENT and _rows_in(conn, table):
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
        params = _dsn_params(server_dsn, "--server-dsn")
        mapping = {k: params.pop(k) for k in MAPPING_OPTIONS if k in params}
        remote = _describe_remote(params)
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
                server, _options(params, False)
            ),
        ]
        plan.steps += [Step("campaign", s) for s in steps]
        if mapping:
            stmt = sql.SQL("CREATE USER MAPPING FOR CURRENT_USER SERVER {} OPTIONS ({})")
            plan.steps.append(
                Step(
                    "campaign",
                    stmt.format(server, _options(mapping, False)),
                    stmt.format(server, _options(mapping, True)) if secret else None,
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
        _record(
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
    progress: Progress = lambda _m: None,
) -> SourceConfig:
    plan = fdw_plan(conn, server_dsn, remote_schema, refresh=refresh)
    _execute(conn, plan, "campaign", progress)
    cfg = configured(conn)
    catalog(conn, cfg).check_required()
    return cfg


def _remote_catalog(conn: psycopg.Connection, cfg: SourceConfig) -> Catalog:
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
            f"({cfg.remote}): {_first(exc)}"
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


def catalog(conn: psycopg.Connection, cfg: SourceConfig | None = None) -> Catalog:
    """The columns conditions may use, read from where the data really is.

    In fdw mode that is the bank-sync database itself; its columns are also compared with the
    imported foreign tables, which only change on ``source fdw --refresh``.
    """
    cfg = cfg or configured(conn)
    if cfg.mode != "fdw":
        return Catalog.from_db(conn, SCHEMA)
    remote = _remote_catalog(conn, cfg)
    remote.check_required()
    local = Catalog.from_db(conn, FDW_SCHEMA)
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


def _snapshot(
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


def prepare_run(
    conn: psycopg.Connection,
    cifs: Sequence[str] | None,
    progress: Progress,
    cfg: SourceConfig | None = None,
) -> tuple[Catalog, dict[str, object]]:
    """Before the run's snapshot: check the source and (fdw) copy its data; return the catalog.

    ``conn`` must be in autocommit mode: the fdw snapshot commits before the run's own
    REPEATABLE READ transaction (and its parallel workers) start, so they all see it.
    """
    cfg = cfg or configured(conn)
    info: dict[str, object] = {"mode": cfg.mode}
    if cfg.mode == "fdw":
        cat = catalog(conn, cfg)
        progress(f"  snapshot of the bank-sync tables over postgres_fdw ({cfg.remote})")
        try:
            info["snapshot"] = _snapshot(conn, cifs, progress)
        except psycopg.Error as exc:
            raise SourceError(f"the fdw snapshot from {cfg.remote} failed: {_first(exc)}") from None
        snap = info["snapshot"]
        progress(
            f"  snapshot: {sum(snap['rows'].values()):,} rows, {snap['bytes'] / 2**20:,.0f} MiB "
            f"in {snap['seconds']:.1f}s"
        )
        return cat, info
    if cfg.mode == "replica":
        state = replica_state(conn, cfg)
        waiting = {t: s for t, s in state["tables"].items() if s != "ready"}
        if waiting:
            raise SourceError(
                "the replica is not ready: "
                + ", ".join(f"{SCHEMA}.{t} {s}" for t, s in sorted(waiting.items()))
                + "; wait until `sqlcompiler source status` shows every table ready"
            )
        info["lag_seconds"] = state["lag_seconds"]
        if not state["worker_running"]:
            progress("  warning: the replication worker is not running; the replica may be stale")
    return Catalog.from_db(conn, SCHEMA), info


# -- logical replication -------------------------------------------------------------------

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
    remote = _describe_remote(_dsn_params(publisher_dsn, "--publisher-dsn"))
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
    local = _local_tables(conn)
    have = Catalog.from_db(conn, SCHEMA)
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
        if not subscribed and _rows_in(conn, t):
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
    record = _record(
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
    record.autocommit = True
    plan.steps.append(record)
    return plan


def setup_replica(
    conn: psycopg.Connection,
    publisher_dsn: str,
    *,
    wait: float | None = 3600.0,
    progress: Progress = lambda _m: None,
) -> dict[str, object]:
    plan, pub = replica_plan(conn, publisher_dsn)
    with pub:
        try:
            _execute(pub, plan, "bank-sync", progress)
        except SourceError as exc:
            if "permission denied" not in str(exc) and "must be owner" not in str(exc):
                raise
            bank = Plan(steps=[s for s in plan.steps if s.where == "bank-sync"])
            raise SourceError(
                f"{exc}\nthe bank-sync DBA must run, on the bank-sync database:\n"
                + bank.render(pub).strip()
                + "\nthen run `sqlcompiler source replica` again"
            ) from None
    _execute(conn, plan, "campaign", progress)
    cfg = configured(conn)
    if wait:
        deadline = time.monotonic() + wait
        last = None
        while True:
            state = replica_state(conn, cfg)
            waiting = {t: s for t, s in state["tables"].items() if s != "ready"}
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


def replica_state(conn: psycopg.Connection, cfg: SourceConfig) -> dict[str, object]:
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
    return {
        "subscription": name,
        "enabled": sub[1],
        "tables": {t: _SYNC_STATES.get(rels.get(t, ""), "not subscribed") for t in TABLES},
        "worker_running": bool(stat and stat[0]),
        "lag_seconds": None if not stat or stat[1] is None else round(stat[1], 1),
    }


# -- status and switching back ---------------------------------------------------------------


def status(conn: psycopg.Connection) -> dict[str, object]:
    """Mode, reachability and row counts per table, column check, replica lag."""
    cfg = configured(conn)
    out: dict[str, object] = {"mode": cfg.mode, "description": cfg.describe(), "tables": {}}
    read_from = FDW_SCHEMA if cfg.mode == "fdw" else SCHEMA
    for t in TABLES:
        q = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(read_from, t))
        try:
            with conn.transaction():
                out["tables"][t] = {"reachable": True, "rows": conn.execute(q).fetchone()[0]}
        except psycopg.Error as exc:
            out["tables"][t] = {"reachable": False, "error": _first(exc)}
    try:
        catalog(conn, cfg).check_required()
        out["columns"] = "every required table and column is present"
        out["ok"] = all(v["reachable"] for v in out["tables"].values())
    except (ConfigError, ConnectionFailed) as exc:
        out["columns"] = str(exc)
        out["ok"] = False
    if cfg.mode == "replica":
        try:
            out["replica"] = replica_state(conn, cfg)
            out["ok"] = out["ok"] and all(s == "ready" for s in out["replica"]["tables"].values())
        except SourceError as exc:
            out["replica"] = {"error": str(exc)}
            out["ok"] = False
    return out


def use_local(conn: psycopg.Connection) -> list[str]:
    """Back to local mode; drops the fdw snapshot tables (disposable copies) and says what stays."""
    cfg = configured(conn)
    notes = []
    with conn.transaction():
        snaps = [t for t, (_k, c) in _local_tables(conn).items() if c == SNAPSHOT_COMMENT]
        if snaps:
            conn.execute(
                sql.SQL("DROP TABLE {}").format(
                    sql.SQL(", ").join(sql.Identifier(SCHEMA, t) for t in snaps)
                )
            )
            notes.append(f"dropped the fdw snapshot tables ({', '.join(sorted(snaps))})")
        conn.execute("DELETE FROM campaign_engine.data_source")
    if cfg.mode == "fdw":
        notes.append(
            f"the foreign server {cfg.server_name} and schema {FDW_SCHEMA} are kept "
            f"(DROP SERVER {cfg.server_name} CASCADE removes them)"
        )
    if cfg.mode == "replica":
        notes.append(
            f"the subscription {cfg.subscription_name} is kept and still updates {SCHEMA}.* "
            f"(DROP SUBSCRIPTION {cfg.subscription_name} stops it)"
        )
    return notes
