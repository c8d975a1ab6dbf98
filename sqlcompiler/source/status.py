"""What a run reads (the catalog, the pre-run snapshot or replica check), status, local mode."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from ..config.catalog import Catalog
from ..config.db import read_catalog
from ..errors import ConfigError, ConnectionFailed, SourceError
from ..progress import Progress
from .fdw import checked_catalog, snapshot
from .plan import (
    FDW_SCHEMA,
    SCHEMA,
    SNAPSHOT_COMMENT,
    TABLES,
    SourceConfig,
    configured,
    first_line,
    local_tables,
)
from .replica import ReplicaState, replica_state


def catalog(conn: psycopg.Connection, cfg: SourceConfig | None = None) -> Catalog:
    """The columns conditions may use, read from where the data really is.

    In fdw mode that is the bank-sync database itself (fdw.checked_catalog).
    """
    cfg = cfg or configured(conn)
    if cfg.mode != "fdw":
        return read_catalog(conn, SCHEMA)
    return checked_catalog(conn, cfg)


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
            info["snapshot"] = snapshot(conn, cifs, progress)
        except psycopg.Error as exc:
            raise SourceError(
                f"the fdw snapshot from {cfg.remote} failed: {first_line(exc)}"
            ) from None
        snap = info["snapshot"]
        progress(
            f"  snapshot: {sum(snap['rows'].values()):,} rows, {snap['bytes'] / 2**20:,.0f} MiB "
            f"in {snap['seconds']:.1f}s"
        )
        return cat, info
    if cfg.mode == "replica":
        state = replica_state(conn, cfg)
        waiting = state.waiting
        if waiting:
            raise SourceError(
                "the replica is not ready: "
                + ", ".join(f"{SCHEMA}.{t} {s}" for t, s in sorted(waiting.items()))
                + "; wait until `sqlcompiler source status` shows every table ready"
            )
        info["lag_seconds"] = state.lag_seconds
        if not state.worker_running:
            progress("  warning: the replication worker is not running; the replica may be stale")
    return read_catalog(conn, SCHEMA), info


@dataclass(frozen=True)
class TableStatus:
    reachable: bool
    rows: int | None = None
    error: str | None = None


@dataclass
class SourceStatus:
    mode: str
    description: str
    tables: dict[str, TableStatus] = field(default_factory=dict)
    columns: str = ""
    ok: bool = False
    replica: ReplicaState | None = None
    replica_error: str | None = None


def status(conn: psycopg.Connection) -> SourceStatus:
    """Mode, reachability and row counts per table, column check, replica lag."""
    cfg = configured(conn)
    out = SourceStatus(cfg.mode, cfg.describe())
    read_from = FDW_SCHEMA if cfg.mode == "fdw" else SCHEMA
    for t in TABLES:
        q = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(read_from, t))
        try:
            with conn.transaction():
                out.tables[t] = TableStatus(True, rows=conn.execute(q).fetchone()[0])
        except psycopg.Error as exc:
            out.tables[t] = TableStatus(False, error=first_line(exc))
    try:
        catalog(conn, cfg).check_required()
        out.columns = "every required table and column is present"
        out.ok = all(v.reachable for v in out.tables.values())
    except (ConfigError, ConnectionFailed) as exc:
        out.columns = str(exc)
        out.ok = False
    if cfg.mode == "replica":
        try:
            out.replica = replica_state(conn, cfg)
            out.ok = out.ok and not out.replica.waiting
        except SourceError as exc:
            out.replica_error = str(exc)
            out.ok = False
    return out


def use_local(conn: psycopg.Connection) -> list[str]:
    """Back to local mode; drops the fdw snapshot tables (disposable copies) and says what stays."""
    cfg = configured(conn)
    notes = []
    with conn.transaction():
        snaps = [t for t, (_k, c) in local_tables(conn).items() if c == SNAPSHOT_COMMENT]
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
