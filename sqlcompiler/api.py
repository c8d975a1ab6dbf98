"""The library API: one function per CLI command, each returning a typed result.

The CLI (``sqlcompiler.cli``) parses options, calls one of these and hands the result to
``console`` for text or JSON; tests and a web page call the same functions. Functions taking a
``dsn`` open their own connections; those taking a ``conn`` work inside the caller's.
Nothing here prints.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from . import source
from .compiler import CompiledRun, compile_config
from .config import files, store
from .config.lint import Finding
from .config.lint import lint as lint_config
from .config.model import ConfigFile, Configuration
from .config.validate import validate
from .errors import RunLocked, SqlCompilerError
from .infra import grants, integrity, migrations
from .infra.connection import connect
from .infra.grants import Roles
from .infra.resources import resource_path
from .progress import Progress, quiet
from .reference.trace import trace_customer as _trace
from .run import RunOptions, RunResult, history
from .run import run as _run
from .run.preview import Preview
from .run.preview import preview as _preview
from .run.record import (
    RUN_LOCK,
    Pruned,
    RunRecord,
    cleanup,
    list_runs,
    lock_holder,
    reap_abandoned,
    run_with_results,
)
from .run.staging import unconstrain_staging
from .source.custom_fields import UploadResult
from .source.fields import FieldsReport


@contextlib.contextmanager
def _migrated(dsn: str, **kw) -> Iterator[psycopg.Connection]:
    """A connection to a database whose sqlcompiler schema is current."""
    with connect(dsn, **kw) as conn:
        migrations.require_current(conn)
        yield conn


# -- schema ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SchemaRevision:
    current: str | None
    head: str
    damage: str | None = None  # what is missing although the version says current


def db_upgrade(dsn: str, revision: str = "head") -> None:
    migrations.upgrade(dsn, revision)
    if revision == "head":
        with connect(dsn) as conn:
            integrity.require_whole(conn)  # "at head" must mean the objects are there


def db_downgrade(dsn: str, revision: str = "-1") -> None:
    migrations.downgrade(dsn, revision)


def db_sql(revision: str = "head") -> str:
    return migrations.offline_sql(revision)


def db_current(dsn: str) -> SchemaRevision:
    with connect(dsn) as conn:
        current, head = migrations.current_revision(conn), migrations.head_revision()
        damage = integrity.check(conn) if current == head else None
        return SchemaRevision(
            current, head, damage.describe() if damage and damage.missing else None
        )


@dataclass(frozen=True)
class SchemaCheck:
    revision: SchemaRevision
    abandoned_runs: list[int]  # "running" runs whose process is gone, now marked failed


def db_check(dsn: str) -> SchemaCheck:
    """The schema's revision and objects, and runs left "running" by a dead process."""
    revision = db_current(dsn)
    abandoned: list[int] = []
    if revision.current == revision.head and revision.damage is None:
        with connect(dsn, autocommit=True) as conn:
            abandoned = reap_abandoned(conn)
    return SchemaCheck(revision, abandoned)


def db_repair(dsn: str) -> list[str]:
    with connect(dsn) as conn:
        migrations.require_version(conn)
        return integrity.repair(conn)


# -- configuration ---------------------------------------------------------------------------


def load_config(conn: psycopg.Connection, as_of: dt.date | None = None) -> Configuration:
    """The stored configuration, validated against the catalog of where the data really is;
    dates relative to the run resolved against ``as_of`` (default today)."""
    return store.load_validated(conn, source.catalog(conn), as_of)


def validate_config(conn: psycopg.Connection, cfg: ConfigFile) -> Configuration:
    catalog = source.catalog(conn)
    catalog.check_required()
    return validate(cfg, catalog)


def apply_config(
    conn: psycopg.Connection,
    cfg: ConfigFile,
    *,
    applied_by: str | None = None,
    source_name: str | None = None,
) -> store.ApplyResult:
    return store.apply(conn, cfg, source.catalog(conn), applied_by=applied_by, source=source_name)


def validate_file(dsn: str, path: str | Path) -> Configuration:
    cfg = files.load(path)
    with _migrated(dsn) as conn:
        return validate_config(conn, cfg)


def preview(
    dsn: str,
    draft: ConfigFile,
    *,
    show_customers: int = 0,
    jobs: int | None = None,
    progress: Progress = quiet,
    as_of: dt.date | None = None,
) -> Preview:
    """What ``draft`` would do over the current data, against the current results; nothing
    is published or stored (run/preview.py)."""
    return _preview(
        dsn, draft, show_customers=show_customers, jobs=jobs, progress=progress, as_of=as_of
    )


def preview_file(
    dsn: str,
    path: str | Path,
    *,
    show_customers: int = 0,
    jobs: int | None = None,
    progress: Progress = quiet,
    as_of: dt.date | None = None,
) -> Preview:
    return preview(
        dsn,
        files.load(path),
        show_customers=show_customers,
        jobs=jobs,
        progress=progress,
        as_of=as_of,
    )


def plan_document(dsn: str, cfg: ConfigFile) -> list[store.Change]:
    with _migrated(dsn) as conn:
        validate_config(conn, cfg)
        return store.plan(conn, cfg)


def plan_file(dsn: str, path: str | Path) -> list[store.Change]:
    cfg = files.load(path)
    with _migrated(dsn) as conn:
        validate_config(conn, cfg)
        return store.plan(conn, cfg)


def apply_file(dsn: str, path: str | Path, applied_by: str | None = None) -> store.ApplyResult:
    cfg = files.load(path)
    with _migrated(dsn) as conn:
        return apply_config(conn, cfg, applied_by=applied_by, source_name=str(path))


def lint(dsn: str, path: str | Path | None = None) -> list[Finding]:
    """Lint FILE, or the stored configuration when no file is given."""
    with _migrated(dsn) as conn:
        if path is None:
            config = load_config(conn)
        else:
            config = validate_config(conn, files.load(path))
        return lint_config(config, conn)


def config_history(dsn: str, limit: int = 20) -> list[store.Version]:
    with _migrated(dsn) as conn:
        return store.history(conn, limit)


def config_diff(dsn: str, a: int, b: int) -> list[store.Change]:
    """What changed from configuration version ``a`` to ``b``."""
    with _migrated(dsn) as conn:
        return store.diff(store.version_document(conn, a), store.version_document(conn, b))


def config_rollback(dsn: str, version: int, applied_by: str | None = None) -> store.ApplyResult:
    """Apply stored ``version`` again, as a new version recorded like any apply."""
    with _migrated(dsn) as conn:
        doc = store.version_document(conn, version)
        return apply_config(
            conn, doc, applied_by=applied_by, source_name=f"rollback to version {version}"
        )


def fields(dsn: str) -> FieldsReport:
    """``sqlcompiler fields``: what conditions may use, with what the data holds."""
    from .source import fields as _fields

    with _migrated(dsn) as conn:
        return _fields.profile(conn)


def export_config(dsn: str, fmt: str = "yaml") -> str:
    with _migrated(dsn) as conn:
        return files.dump(store.load_from_db(conn), fmt)


# -- custom fields ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomField:
    name: str
    data_type: str
    description: str


def add_custom_field(dsn: str, name: str, data_type: str, description: str | None) -> None:
    from .source import custom_fields

    with _migrated(dsn) as conn:
        custom_fields.add(conn, name, data_type, description)


def list_custom_fields(dsn: str) -> list[CustomField]:
    with _migrated(dsn) as conn:
        rows = conn.execute(
            "SELECT field_name, data_type, coalesce(description, '') "
            "FROM campaign_engine.custom_fields ORDER BY 1"
        ).fetchall()
    return [CustomField(*r) for r in rows]


def upload_custom_fields(
    dsn: str,
    path: str | Path,
    *,
    source_system: str,
    uploaded_by: str,
    mode: str = "merge",
    reject_file: str | Path | None = None,
    progress: Progress = quiet,
) -> UploadResult:
    from .source import custom_fields

    with _migrated(dsn) as conn:
        return custom_fields.upload(
            conn, path, source_system=source_system, uploaded_by=uploaded_by, mode=mode,
            reject_file=reject_file, progress=progress,
        )  # fmt: skip


# -- compile ---------------------------------------------------------------------------------


def compile_statements(
    dsn: str,
    group: str | None = None,
    *,
    population: bool = False,
    as_of: dt.date | None = None,
    jobs: int = 1,
) -> CompiledRun:
    """What a run executes: a full run on ``jobs`` connections (customer slices when there
    are more connections than groups, run/workers.py), or with ``population`` a list run."""
    from .run.workers import use_slices

    with _migrated(dsn) as conn:
        config = load_config(conn, as_of)
        slices = jobs if not population and use_slices(jobs, len(config.groups)) else 1
        return compile_config(config, group=group, population=population, slices=slices)


def explain_plans(dsn: str, compiled: CompiledRun, analyze: bool = False) -> list[str]:
    """EXPLAIN each of ``compiled.statements``, all in one transaction that is rolled back.

    The prologue is executed even without ``analyze``: the group statements read its
    temporary table, and their plans should see its real size and statistics.
    """
    plans = []
    opts = sql.SQL("ANALYZE, BUFFERS" if analyze else "COSTS")
    with connect(dsn) as conn, conn.transaction(force_rollback=True):
        conn.execute("SELECT set_config('sqlcompiler.run_id', '0', true)")
        if analyze:  # the group statements write staging rows: as a run would, under its lock
            if not conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (RUN_LOCK,)).fetchone()[0]:
                raise RunLocked(lock_holder(conn) + "; --explain=analyze when it has finished")
            unconstrain_staging(conn)  # the last run's run_id checks; rolled back below
        for statement in compiled.settings:
            conn.execute(statement)
        for st in compiled.statements:
            try:
                if st is compiled.slice or st is compiled.prologue:
                    drop, create, *after = st.statements()  # slice: connection 0's
                    conn.execute(drop)
                    rows = conn.execute(sql.SQL("EXPLAIN ({}) ").format(opts) + sql.SQL(create))
                    rows = rows.fetchall()
                    if not analyze:
                        conn.execute(create)
                    for statement in after:  # index, ANALYZE
                        conn.execute(statement)
                else:
                    stmt = sql.SQL("EXPLAIN ({}) ").format(opts) + sql.SQL(st.sql)
                    rows = conn.execute(stmt).fetchall()
            except psycopg.Error as exc:
                raise SqlCompilerError(f"EXPLAIN of {st.title} failed: {exc}") from None
            plans.append("\n".join(r[0] for r in rows))
    return plans


def write_statements(compiled: CompiledRun, out: Path) -> list[Path]:
    """One file per statement: 00_prologue.sql, then group_<id>_<name>.sql.

    Each file starts with the run's SET LOCAL lines. Names are cut to 60 characters (a file
    name has at most 255 bytes; the id keeps them unique).
    """
    files: list[tuple[str, str]] = []
    if compiled.slice is not None and compiled.groups:
        files.append(("00_customer_slice.sql", compiled.slice.pretty()))
    if compiled.prologue is not None:
        files.append(("00_prologue.sql", compiled.prologue.pretty()))
    for cg in compiled.groups:
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in cg.group.name)
        safe = safe[:60].strip("_") or "unnamed"
        files.append((f"group_{cg.group.id:04d}_{safe}.sql", cg.pretty()))
    paths = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in files:
            path = out / name
            path.write_text(compiled.preamble() + text, encoding="utf-8")
            paths.append(path)
    except OSError as exc:
        raise SqlCompilerError(
            f"cannot write the statements to {out}: {exc.strerror or exc}"
        ) from None
    return paths


def db_grants(dsn: str, roles: Roles, *, execute: bool = True) -> list[str]:
    """The owner / runner / reader privileges (infra/grants.py); executed unless ``execute``
    is false, in which case they are only returned for review."""
    with _migrated(dsn) as conn:
        if execute:
            return grants.apply(conn, roles)
        return [st.as_string(conn) for st in grants.statements(conn, roles)]


# -- run and results -------------------------------------------------------------------------


def run(dsn: str, options: RunOptions | None = None, *, progress: Progress = quiet) -> RunResult:
    return _run(dsn, options, progress=progress)


def runs(dsn: str, limit: int = 10) -> list[RunRecord]:
    with _migrated(dsn, autocommit=True) as conn:
        reap_abandoned(conn)
        return list_runs(conn, limit)


def run_details(dsn: str, run_id: int) -> tuple[RunRecord, list[history.CampaignCount]]:
    """``runs show``: the record with per-campaign counts by name."""
    with _migrated(dsn) as conn:
        return history.show(conn, run_id)


def runs_diff(
    dsn: str, a: int, b: int, *, sample: int = 0
) -> tuple[RunRecord, RunRecord, list[history.Movement]]:
    """``runs diff``: entered / left / moved per campaign between two runs' results."""
    with _migrated(dsn) as conn:
        return history.diff(conn, a, b, sample=sample)


def runs_diff_csv(dsn: str, a: int, b: int, out) -> int:
    """Every customer that moved between runs ``a`` and ``b``, as CSV on ``out``; row count."""
    import csv

    writer = csv.writer(out)
    n = -1
    with _migrated(dsn) as conn:
        for n, row in enumerate(history.diff_rows(conn, a, b)):  # noqa: B007
            writer.writerow(row)
    return max(n, 0)


def export_results(
    dsn: str,
    out: Path | None,
    *,
    fmt: str = "csv",
    group: str | None = None,
    campaign: str | None = None,
    stdout=None,
) -> int:
    """``results export``: to ``out`` (written whole or not at all) or to ``stdout``."""
    import os
    import sys

    from .run import export

    with _migrated(dsn) as conn:
        if out is None:
            stream = stdout if stdout is not None else sys.stdout.buffer
            return export.export(conn, stream, fmt=fmt, group=group, campaign=campaign)
        tmp = out.with_name(f".{out.name}.partial")
        try:
            with open(tmp, "wb") as fh:
                n = export.export(conn, fh, fmt=fmt, group=group, campaign=campaign)
            os.replace(tmp, out)
        except OSError as exc:
            raise SqlCompilerError(f"cannot write {out}: {exc.strerror or exc}") from None
        finally:
            tmp.unlink(missing_ok=True)
        return n


def prune_runs(
    dsn: str,
    keep: int,
    keep_records_days: int,
    *,
    dry_run: bool = False,
    progress: Progress = quiet,
) -> Pruned:
    """Retention on demand (``runs prune``), under the run lock so no run publishes meanwhile."""
    with _migrated(dsn, autocommit=True) as conn:
        if not conn.execute("SELECT pg_try_advisory_lock(%s)", (RUN_LOCK,)).fetchone()[0]:
            raise RunLocked(lock_holder(conn) + "; prune again when it has finished")
        return cleanup(conn, keep, keep_records_days, progress, dry_run=dry_run)


def trace_customer(
    dsn: str, cif: str, run_id: int | None = None, *, as_of: dt.date | None = None
) -> dict[str, Any]:
    """Why ``cif`` got its campaigns (``explain CIF``): the reference trace beside the stored
    run, relative dates resolved as that run resolved them unless ``as_of`` says otherwise."""
    with _migrated(dsn) as conn:
        if run_id is not None:
            run_with_results(conn, run_id)
        if as_of is None:
            as_of = _stored_as_of(conn, cif, run_id)
        return _trace(conn, load_config(conn, as_of), cif, run_id)


def _stored_as_of(conn: psycopg.Connection, cif: str, run_id: int | None) -> dt.date | None:
    """The as-of date of ``run_id``, else of the run behind the customer's current results,
    else of the last published run."""
    row = conn.execute(
        "SELECT as_of FROM campaign_results.runs WHERE run_id = COALESCE(%s::bigint, "
        "(SELECT max(run_id) FROM campaign_results.current_assignments WHERE cif = %s), "
        "(SELECT max(run_id) FROM campaign_results.runs WHERE status = 'succeeded' "
        "AND NOT dry_run))",
        (run_id, cif),
    ).fetchone()
    return row[0] if row else None


# -- demo and bench --------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoResult:
    applied: store.ApplyResult
    run: RunResult | None


def demo(
    dsn: str,
    customers: int,
    seed: int,
    *,
    run_after: bool = True,
    force: bool = False,
    progress: Progress = quiet,
) -> DemoResult:
    """Synthetic bank-sync data, the packaged demo configuration, then (optionally) a run."""
    from .demo import generate

    migrations.upgrade(dsn)
    progress(f"generating {customers:,} customers (seed {seed})")
    example = resource_path("examples", "demo.yaml")
    with connect(dsn) as conn:
        generate.generate(conn, customers, seed, force=force, progress=progress)
        applied = apply_config(
            conn, files.load(example), applied_by="demo", source_name=str(example)
        )
    progress(f"configuration {applied.fingerprint[:12]} applied ({len(applied.changes)} changes)")
    return DemoResult(applied, _run(dsn, progress=progress) if run_after else None)


def demo_init(dsn: str) -> None:
    from .demo import generate

    with connect(dsn) as conn:
        generate.init_schema(conn)
        conn.commit()


def bench(dsn: str, *, progress: Progress = quiet, **params):
    """The benchmark (demo/bench.py); returns its report."""
    from .demo import bench as bench_mod

    return bench_mod.bench(dsn, progress=progress, **params)


# -- bank-sync source ------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceSetup:
    """What a ``source`` command did: the statements (``--sql``), or the resulting mode."""

    statements: str | None = None
    config: source.SourceConfig | None = None
    replica: source.ReplicaState | None = None


def _source_conn(dsn: str):
    return _migrated(dsn, autocommit=True, application="sqlcompiler-source")


def source_fdw(
    dsn: str,
    server_dsn: str | None,
    remote_schema: str,
    *,
    refresh: bool = False,
    sql_only: bool = False,
    progress: Progress = quiet,
) -> SourceSetup:
    """Set up (or with ``sql_only`` print) the postgres_fdw source."""
    with _source_conn(dsn) as conn:
        if sql_only:
            plan = source.fdw_plan(conn, server_dsn, remote_schema, refresh=refresh, secret=True)
            return SourceSetup(statements=plan.render(conn))
        cfg = source.setup_fdw(conn, server_dsn, remote_schema, refresh=refresh, progress=progress)
        return SourceSetup(config=cfg)


def source_replica(
    dsn: str,
    publisher_dsn: str,
    *,
    sql_only: bool = False,
    wait: float | None = 3600.0,
    progress: Progress = quiet,
) -> SourceSetup:
    with _source_conn(dsn) as conn:
        if sql_only:
            plan, pub = source.replica_plan(conn, publisher_dsn, secret=True)
            with pub:
                return SourceSetup(statements=plan.render(conn))
        state = source.setup_replica(conn, publisher_dsn, wait=wait, progress=progress)
        return SourceSetup(config=source.configured(conn), replica=state)


def source_status(dsn: str) -> source.SourceStatus:
    with _source_conn(dsn) as conn:
        return source.status(conn)


def source_local(dsn: str) -> list[str]:
    with _source_conn(dsn) as conn:
        return source.use_local(conn)


# -- Kafka -----------------------------------------------------------------------------------


def relay(
    dsn: str,
    settings,
    *,
    run_id: int | None = None,
    follow: bool = False,
    batch: int = 5000,
    stop: Callable[[], bool] = lambda: False,
    progress: Progress = quiet,
):
    """Publish run results to Kafka (kafka/relay.py); returns its RelayStats."""
    from .kafka import relay as relay_mod

    return relay_mod.relay(
        dsn, settings, run_id=run_id, follow=follow, batch=batch, stop=stop, progress=progress
    )


def serve(
    dsn: str,
    settings,
    *,
    group_id: str = "sqlcompiler-serve",
    stop: Callable[[], bool] = lambda: False,
    progress: Progress = quiet,
):
    """Answer processing requests from Kafka (kafka/serve.py); returns its ServeStats."""
    from .kafka import serve as serve_mod

    return serve_mod.serve(dsn, settings, group_id=group_id, stop=stop, progress=progress)
