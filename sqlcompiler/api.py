"""The library API the CLI is a thin layer over; tests call these too."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql

from . import migrations, source
from .compiler import CompiledRun, compile_config
from .config import files, store
from .config.model import ConfigFile, Configuration
from .config.validate import validate
from .connection import connect
from .errors import SqlCompilerError


@contextlib.contextmanager
def _migrated(dsn: str, **kw) -> Iterator[psycopg.Connection]:
    """A connection to a database whose sqlcompiler schema is current."""
    with connect(dsn, **kw) as conn:
        migrations.require_current(conn)
        yield conn


def validate_config(conn: psycopg.Connection, cfg: ConfigFile) -> Configuration:
    catalog = source.catalog(conn)
    catalog.check_required()
    return validate(cfg, catalog)


def validate_file(dsn: str, path: str | Path) -> Configuration:
    cfg = files.load(path)
    with _migrated(dsn) as conn:
        return validate_config(conn, cfg)


def plan_file(dsn: str, path: str | Path) -> list[store.Change]:
    cfg = files.load(path)
    with _migrated(dsn) as conn:
        validate_config(conn, cfg)
        return store.plan(conn, cfg)


def apply_file(dsn: str, path: str | Path, applied_by: str | None = None) -> store.ApplyResult:
    cfg = files.load(path)
    with _migrated(dsn) as conn:
        return store.apply(conn, cfg, applied_by=applied_by, source=str(path))


def lint(dsn: str, path: str | Path | None = None) -> list:
    """Lint FILE, or the stored configuration when no file is given."""
    from .config.lint import lint as run_lint

    with _migrated(dsn) as conn:
        if path is None:
            config = store.load_validated(conn)
        else:
            config = validate_config(conn, files.load(path))
        return run_lint(config, conn)


def export_config(dsn: str, fmt: str = "yaml") -> str:
    with _migrated(dsn) as conn:
        return files.dump(store.load_from_db(conn), fmt)


def compile_statements(
    dsn: str, group: str | None = None, *, population: bool = False
) -> CompiledRun:
    with _migrated(dsn) as conn:
        config = store.load_validated(conn)
        return compile_config(config, group=group, population=population)


def explain(dsn: str, compiled: CompiledRun, analyze: bool = False) -> list[str]:
    """EXPLAIN each of ``compiled.statements``, all in one transaction that is rolled back.

    The prologue is executed even without ``analyze``: the group statements read its
    temporary table, and their plans should see its real size and statistics.
    """
    from .runner import settings_for

    plans = []
    opts = sql.SQL("ANALYZE, BUFFERS" if analyze else "COSTS")
    with connect(dsn) as conn, conn.transaction(force_rollback=True):
        conn.execute("SELECT set_config('sqlcompiler.run_id', '0', true)")
        for name, value in settings_for(False).items():
            conn.execute("SELECT set_config(%s, %s, true)", (name, value))
        for st in compiled.statements:
            try:
                if st is compiled.prologue:
                    drop, create, analyze_table = st.statements()
                    conn.execute(drop)
                    rows = conn.execute(sql.SQL("EXPLAIN ({}) ").format(opts) + sql.SQL(create))
                    rows = rows.fetchall()
                    if not analyze:
                        conn.execute(create)
                    conn.execute(analyze_table)
                else:
                    stmt = sql.SQL("EXPLAIN ({}) ").format(opts) + sql.SQL(st.sql)
                    rows = conn.execute(stmt).fetchall()
            except psycopg.Error as exc:
                raise SqlCompilerError(f"EXPLAIN of {st.title} failed: {exc}") from None
            plans.append("\n".join(r[0] for r in rows))
    return plans


def write_statements(compiled: CompiledRun, out: Path) -> list[Path]:
    """One file per statement: 00_prologue.sql, then group_<id>_<name>.sql."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    if compiled.prologue is not None:
        path = out / "00_prologue.sql"
        path.write_text(compiled.prologue.pretty(), encoding="utf-8")
        paths.append(path)
    for cg in compiled.groups:
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in cg.group.name).strip("_")
        path = out / f"group_{cg.group.id:04d}_{safe or 'unnamed'}.sql"
        path.write_text(cg.pretty(), encoding="utf-8")
        paths.append(path)
    return paths


def source_fdw(
    dsn: str,
    server_dsn: str | None,
    remote_schema: str,
    *,
    refresh: bool = False,
    sql_only: bool = False,
    progress=lambda _m: None,
) -> str:
    """Set up (or with ``sql_only`` print) the postgres_fdw source; returns what to show."""
    with _migrated(dsn, autocommit=True, application="sqlcompiler-source") as conn:
        if sql_only:
            return source.fdw_plan(
                conn, server_dsn, remote_schema, refresh=refresh, secret=True
            ).render(conn)
        cfg = source.setup_fdw(conn, server_dsn, remote_schema, refresh=refresh, progress=progress)
        return f"source: {cfg.describe()}"


def source_replica(
    dsn: str,
    publisher_dsn: str,
    *,
    sql_only: bool = False,
    wait: float | None = 3600.0,
    progress=lambda _m: None,
) -> str:
    with _migrated(dsn, autocommit=True, application="sqlcompiler-source") as conn:
        if sql_only:
            plan, pub = source.replica_plan(conn, publisher_dsn, secret=True)
            with pub:
                return plan.render(conn)
        state = source.setup_replica(conn, publisher_dsn, wait=wait, progress=progress)
        return f"source: {source.configured(conn).describe()}\n" + _replica_lines(state)


def _replica_lines(state: dict) -> str:
    lines = [
        f"subscription {state['subscription']}: "
        + ("enabled" if state["enabled"] else "DISABLED")
        + (", worker running" if state["worker_running"] else ", worker NOT running")
        + (
            f", last confirmed by the publisher {state['lag_seconds']:.1f}s ago"
            if state["lag_seconds"] is not None
            else ""
        )
    ]
    lines += [f"  {t:<20} {s}" for t, s in state["tables"].items()]
    return "\n".join(lines)


def source_status(dsn: str) -> tuple[bool, str]:
    with _migrated(dsn, autocommit=True, application="sqlcompiler-source") as conn:
        st = source.status(conn)
    lines = [f"mode: {st['description']}"]
    for t, v in st["tables"].items():
        lines.append(
            f"  {t:<20} {v['rows']:>12,} rows"
            if v["reachable"]
            else f"  {t:<20} UNREACHABLE: {v['error']}"
        )
    lines.append(f"columns: {st['columns']}")
    if "replica" in st:
        rep = st["replica"]
        lines.append(rep["error"] if "error" in rep else _replica_lines(rep))
    return bool(st["ok"]), "\n".join(lines)


def source_local(dsn: str) -> list[str]:
    with _migrated(dsn, autocommit=True, application="sqlcompiler-source") as conn:
        return source.use_local(conn)
