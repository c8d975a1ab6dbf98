"""Shared parts of the source modes: the configured mode, setup plans and their execution.

Credentials given in a DSN go into the user mapping or the subscription only; they are never
printed (``--sql`` output uses psql variables for them) and are redacted from errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from ..config.catalog import BANK_SYNC_SCHEMA, REQUIRED
from ..errors import SourceError
from ..infra.connection import redact
from ..progress import Progress

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


def record(cfg: SourceConfig) -> Step:
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


def dsn_params(dsn: str, option: str) -> dict[str, str]:
    """The connection parameters a DSN sets (empty ones dropped); an error names the option."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        # libpq quotes the text around the error, which may be the password: never shown
        raise SourceError(
            f"{option} is not a valid libpq connection string or URL (check its quoting and "
            "escaping; it is not shown because it may hold a password)"
        ) from None
    return {k: str(v) for k, v in params.items() if v not in (None, "")}


def describe_remote(params: dict[str, str]) -> str:
    keep = ("service", "host", "hostaddr", "port", "dbname")
    return " ".join(f"{k}={params[k]}" for k in keep if params.get(k)) or "libpq defaults"


def options(opts: dict[str, str], secret: bool) -> sql.Composable:
    parts = []
    for key, value in opts.items():
        shown: sql.Composable = sql.Literal(value)
        if secret and key in SECRET_VARS:
            shown = sql.SQL(":{}").format(sql.Literal(SECRET_VARS[key]))
        parts.append(sql.SQL("{} {}").format(sql.Identifier(key), shown))
    return sql.SQL(", ").join(parts)


def execute(conn: psycopg.Connection, plan: Plan, where: str, progress: Progress) -> None:
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
            f"on the {where} database: {first_line(exc)}; nothing was changed there "
            "(`--sql` prints the statements for a DBA to run)",
            sqlstate=exc.sqlstate,
        ) from None
    progress(f"  {len(steps)} statement(s) run on the {where} database")


def first_line(exc: BaseException) -> str:
    """The error with its DETAIL (where libpq says which host failed), passwords removed."""
    text = str(exc).strip() or type(exc).__name__
    detail = getattr(getattr(exc, "diag", None), "message_detail", None)
    if detail and detail not in text:
        text = f"{text} ({detail})"
    return redact(" ".join(line.strip() for line in text.splitlines() if line.strip()))


def local_tables(conn: psycopg.Connection) -> dict[str, tuple[str, str | None]]:
    """``{table: (relkind, comment)}`` of the bank-sync tables present in this database."""
    rows = conn.execute(
        "SELECT c.relname, c.relkind::text, obj_description(c.oid, 'pg_class') FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = ANY(%s)",
        (SCHEMA, list(TABLES)),
    ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def rows_in(conn: psycopg.Connection, table: str) -> bool:
    q = sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(SCHEMA, table))
    return bool(conn.execute(q).fetchone()[0])
