"""The nightly run: compile, execute each group's statement, publish atomically.

Two connections: ``meta`` (autocommit) writes the run record so that "running" and "failed"
are visible whatever happens to the work; ``work`` holds the run lock and one REPEATABLE READ
transaction, so every group sees the same snapshot of the inputs and the results become
visible in one commit (or never). Results go to staging tables that become the run's
partitions when it commits; readers keep seeing the previous run until then.
"""

from __future__ import annotations

import getpass
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from . import metrics, migrations, reference, source
from .compiler import CompiledRun, compile_config
from .config.store import load_validated
from .connection import connect, redact
from .errors import RunError, RunLocked, SqlCompilerError

RUN_LOCK = 0x5C0C0001  # advisory lock key: one run at a time per database
DEFAULT_KEEP = 7
REFERENCE_LIMIT = 10_000  # customers; the reference engine is for debugging, not production

# Per-run session settings: hash aggregates over the loans want memory; JIT compiles each
# of the long CASE expressions for seconds and buys little on these plans.
RUN_SETTINGS = {"work_mem": "256MB", "jit": "off"}
# Full-population runs touch every row: hash and merge joins win, but the planner can't
# estimate CTE scans filtered by rule masks and party types (it guesses ~0.5%) and would
# pick index nested loops over millions of rows (measured: 35.7 s vs 27.4 s per bench group
# at 1M customers). List runs keep nested loops: there an index lookup is the right plan.
#
# Hash joins off too: the run prologue joins loans to loan_custom_fields 1:1 on account_number,
# and a merge join over the two primary-key indexes beats probing a 300 MB hash table with
# 1.8M rows (bench group 09 at 1M: 30.4 s vs 35.5 s; whole bench run 157.0 s vs 185.5 s, demo
# configuration 18.2 s vs 21.1 s). The fdw snapshot builds the same indexes for that reason.
# Hash aggregation off: the planner sizes ARRAY_AGG states pessimistically and pre-partitions
# the per-customer HashAggregate to disk; sorting the loans by cif instead also hands the merge
# join with customers its order (demo configuration 16.7-17.0 s vs 18.2-18.6 s; bench 155.5 s
# vs 157.0 s).
FULL_RUN_SETTINGS = {"enable_nestloop": "off", "enable_hashjoin": "off", "enable_hashagg": "off"}


def settings_for(population: bool) -> dict[str, str]:
    """Session settings for a run's statements (SET LOCAL: they end with the transaction)."""
    return RUN_SETTINGS if population else {**RUN_SETTINGS, **FULL_RUN_SETTINGS}


Progress = Callable[[str], None]


@dataclass
class GroupResult:
    group_id: int
    name: str
    assigned: int = 0
    contacts: int = 0
    seconds: float = 0.0
    campaigns: dict[int, int] = field(default_factory=dict)


@dataclass
class RunResult:
    run_id: int
    status: str
    kind: str
    dry_run: bool
    fingerprint: str
    population: int
    groups: list[GroupResult]
    seconds: float
    unknown_cifs: int = 0

    @property
    def assigned(self) -> int:
        return sum(g.assigned for g in self.groups)

    @property
    def contacts(self) -> int:
        return sum(g.contacts for g in self.groups)

    def summary(self) -> str:
        rows = [("group", "assigned", "contacts", "seconds")]
        rows += [
            (g.name, f"{g.assigned:,}", f"{g.contacts:,}", f"{g.seconds:.2f}") for g in self.groups
        ]
        rows.append(("total", f"{self.assigned:,}", f"{self.contacts:,}", f"{self.seconds:.2f}"))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        fmt = lambda r: "  ".join(  # noqa: E731
            r[i].ljust(widths[i]) if i == 0 else r[i].rjust(widths[i]) for i in range(4)
        )
        lines = [
            f"run {self.run_id} {self.status}{' (dry run, nothing published)' if self.dry_run else ''}: "
            f"{self.population:,} customers ({self.kind}), configuration {self.fingerprint[:12]}",
            fmt(rows[0]),
            *(fmt(r) for r in rows[1:]),
        ]
        if self.unknown_cifs:
            lines.append(
                f"note: {self.unknown_cifs:,} requested cifs are not in bank_sync_service.customers"
            )
        return "\n".join(lines)


def read_cifs(lines: Iterable[str]) -> list[str]:
    """Cifs from a file: one per line; blank lines and # comments skipped; duplicates once."""
    seen: dict[str, None] = {}
    for n, line in enumerate(lines, start=1):
        cif = line.split("#", 1)[0].strip()
        if not cif:
            continue
        if len(cif) > 50:
            raise SqlCompilerError(f"--cifs line {n}: {cif[:20]}… is longer than 50 characters")
        seen[cif] = None
    return list(seen)


def _lock_holder(meta: psycopg.Connection) -> str:
    row = meta.execute(
        """
        SELECT a.pid, a.application_name, a.backend_start, r.run_id, r.started_at
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        LEFT JOIN LATERAL (SELECT run_id, started_at FROM campaign_results.runs
                           WHERE status = 'running' ORDER BY run_id DESC LIMIT 1) r ON true
        WHERE l.locktype = 'advisory' AND l.granted
          AND ((l.classid::bigint << 32) | l.objid::bigint) = %s
        LIMIT 1
        """,
        (RUN_LOCK,),
    ).fetchone()
    if not row:
        return "another run is in progress"
    pid, app, _start, run_id, started = row
    what = f"run {run_id} started at {started:%Y-%m-%d %H:%M:%S}" if run_id else "a run"
    return f"another run is in progress ({what}, server pid {pid}, {app})"


# Result tables are written once, ANALYZEd when published and dropped whole by retention, so
# autovacuum has nothing to reclaim; left on, it rescanned every new partition after each run
# (see alembic revision 0005).
NO_AUTOVACUUM = sql.SQL("autovacuum_enabled = false, toast.autovacuum_enabled = false")


RESULTS = sql.Identifier("campaign_results")
BASES = ("assignments", "contacts")


def _connect_like(
    work: psycopg.Connection, application: str, autocommit: bool = False
) -> psycopg.Connection:
    """Another connection as the run's user to the run's database."""
    return psycopg.connect(
        work.info.dsn,
        password=work.info.password,
        autocommit=autocommit,
        application_name=application,
    )


def _staging(base: str, what: str = "") -> sql.Identifier:
    return sql.Identifier(f"{base}_staging{what}")


def _prepare_staging(meta: psycopg.Connection, run_id: int) -> None:
    """Empty the staging tables and constrain them to this run, before the work snapshot.

    With CHECK (run_id = N) in place while the rows go in, ATTACH PARTITION needs no
    validation scan when the run publishes (3 s at 1M customers, bench configuration). No
    index while the groups insert: it is built once, at the end (_index_staging).
    """
    for base in BASES:
        meta.execute(
            sql.SQL("DROP INDEX IF EXISTS {}.{}").format(RESULTS, _staging(base, "_cif_idx"))
        )
        meta.execute(
            sql.SQL("ALTER TABLE {}.{} DROP CONSTRAINT IF EXISTS {}").format(
                RESULTS, _staging(base), _staging(base, "_run_check")
            )
        )
    _empty_staging(meta)
    for base in BASES:
        meta.execute(
            sql.SQL("ALTER TABLE {}.{} ADD CONSTRAINT {} CHECK (run_id = {})").format(
                RESULTS, _staging(base), _staging(base, "_run_check"), sql.Literal(run_id)
            )
        )


def _index_staging(work: psycopg.Connection, committed: bool) -> None:
    """Index and ANALYZE both staging tables: (cif, group) serves the views' per-customer
    lookups and the relay's keyset order.

    When the group connections committed the rows (``committed``), the two tables are done at
    the same time on two connections of their own (with the CHECK above: publishing took
    20.0 s instead of 22.5 s at 1M customers, bench configuration); otherwise the rows exist
    only in the work transaction, which does both.
    """

    def index(conn: psycopg.Connection, base: str) -> None:
        conn.execute(
            sql.SQL("CREATE INDEX {} ON {}.{} (cif, campaign_group_id)").format(
                _staging(base, "_cif_idx"), RESULTS, _staging(base)
            )
        )
        conn.execute(sql.SQL("ANALYZE {}.{}").format(RESULTS, _staging(base)))

    if not committed:
        for base in BASES:
            index(work, base)
        return

    def own_connection(base: str) -> None:
        with _connect_like(work, "sqlcompiler-run-index", autocommit=True) as conn:
            index(conn, base)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(BASES)) as pool:
        for future in [pool.submit(own_connection, base) for base in BASES]:
            future.result()


def _publish(work: psycopg.Connection, run_id: int) -> None:
    """Turn the indexed staging tables into the run's partitions; leave fresh empty ones behind."""
    schema = RESULTS
    for base in BASES:
        name = f"{base}_r{run_id}"
        part = sql.Identifier(name)
        staging = _staging(base)
        work.execute(sql.SQL("ALTER TABLE {}.{} RENAME TO {}").format(schema, staging, part))
        work.execute(
            sql.SQL("ALTER TABLE {}.{} RENAME CONSTRAINT {} TO {}").format(
                schema, part, _staging(base, "_run_check"), sql.Identifier(f"{name}_run_check")
            )
        )
        work.execute(
            sql.SQL("ALTER INDEX {}.{} RENAME TO {}").format(
                schema, _staging(base, "_cif_idx"), sql.Identifier(f"{name}_cif_idx")
            )
        )
        work.execute(
            sql.SQL("ALTER TABLE {}.{} ATTACH PARTITION {}.{} FOR VALUES IN ({})").format(
                schema, sql.Identifier(base), schema, part, sql.Literal(run_id)
            )
        )
        work.execute(
            sql.SQL("CREATE TABLE {}.{} (LIKE {}.{}) WITH ({})").format(
                schema, staging, schema, sql.Identifier(base), NO_AUTOVACUUM
            )
        )


def _empty_staging(meta: psycopg.Connection) -> None:
    meta.execute("TRUNCATE campaign_results.assignments_staging, campaign_results.contacts_staging")


def _prologue(conn: psycopg.Connection, compiled: CompiledRun, progress: Progress) -> float:
    """Create the run prologue's table on this connection (see compiler/prologue.py)."""
    if compiled.prologue is None:
        return 0.0
    t0 = time.monotonic()
    for statement in compiled.prologue.statements():
        conn.execute(statement)
    seconds = time.monotonic() - t0
    progress(f"  run prologue (loan values for every group): {seconds:.2f}s")
    return seconds


def _parallel_groups(
    work, opts, run_id: int, compiled: CompiledRun, groups: list[GroupResult], progress
) -> list[float]:
    """Run the group statements on ``opts.jobs`` connections that share the run's snapshot.

    Each statement writes through data-modifying CTEs, which PostgreSQL never runs with
    parallel workers, so one connection uses one core. Workers import the work transaction's
    snapshot (pg_export_snapshot / SET TRANSACTION SNAPSHOT, as pg_dump -j does), so every
    group still sees the same inputs. They commit into the staging tables, which no reader
    sees; the work transaction then turns staging into the run's partitions, or on any failure
    the staging tables are emptied and nothing is published. Each connection first creates
    the run prologue's temporary table; returns the seconds that took on each.
    """
    import queue
    import threading

    snapshot = work.execute("SELECT pg_export_snapshot()").fetchone()[0]
    todo: queue.Queue = queue.Queue()
    for item in zip(compiled.groups, groups, strict=True):
        todo.put(item)
    prologue_seconds: list[float] = []
    failed = threading.Event()
    errors: list[BaseException] = []
    done = [0]
    lock = threading.Lock()

    def worker() -> None:
        try:
            with _connect_like(work, "sqlcompiler-run-worker") as conn:
                conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
                for name, value in settings_for(False).items():
                    conn.execute("SELECT set_config(%s, %s, true)", (name, value))
                conn.execute("SELECT set_config('sqlcompiler.run_id', %s, true)", (str(run_id),))
                seconds = _prologue(conn, compiled, progress)
                with lock:
                    prologue_seconds.append(round(seconds, 3))
                while not failed.is_set():
                    try:
                        cg, gr = todo.get_nowait()
                    except queue.Empty:
                        break
                    t0 = time.monotonic()
                    conn.execute(cg.sql)
                    gr.seconds = time.monotonic() - t0
                    _counts(conn, [gr])
                    with lock:
                        done[0] += 1
                        progress(
                            f"  [{done[0]}/{len(compiled.groups)}] group {cg.group.name!r}: {gr.seconds:.2f}s"
                        )
                if failed.is_set():
                    conn.rollback()
                else:
                    conn.commit()
        except BaseException as exc:  # re-raised in the run's thread
            failed.set()
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, daemon=True)
        for _ in range(min(opts.jobs, len(compiled.groups)))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return prologue_seconds


def _counts(work: psycopg.Connection, result: list[GroupResult]) -> None:
    by_id = {g.group_id: g for g in result}
    ids = list(by_id)
    for gid, cid, n in work.execute(
        "SELECT campaign_group_id, campaign_id, count(*) FROM campaign_results.assignments_staging "
        "WHERE campaign_group_id = ANY(%s) GROUP BY 1, 2",
        (ids,),
    ).fetchall():
        by_id[gid].campaigns[cid] = n
        by_id[gid].assigned += n
    for gid, n in work.execute(
        "SELECT campaign_group_id, count(*) FROM campaign_results.contacts_staging "
        "WHERE campaign_group_id = ANY(%s) GROUP BY 1",
        (ids,),
    ).fetchall():
        by_id[gid].contacts = n


def _finish_record(conn: psycopg.Connection, res: RunResult, timings: dict) -> None:
    counts = {
        "groups": {
            str(g.group_id): {
                "name": g.name,
                "assigned": g.assigned,
                "contacts": g.contacts,
                "campaigns": {str(k): v for k, v in g.campaigns.items()},
            }
            for g in res.groups
        }
    }
    cur = conn.execute(
        """
        UPDATE campaign_results.runs
        SET status = %s, finished_at = clock_timestamp(), config_fingerprint = %s,
            population_size = %s, assignments = %s,
            contacts = %s, counts = %s, timings = %s, dry_run = %s
        WHERE run_id = %s
        """,
        (
            res.status, res.fingerprint, res.population, res.assigned, res.contacts, json.dumps(counts),
            json.dumps(timings), res.dry_run, res.run_id,
        ),
    )  # fmt: skip
    if cur.rowcount != 1:
        raise RunError(f"run {res.run_id}: its run record is missing; results not published")


def cleanup(conn: psycopg.Connection, keep: int, progress: Progress = lambda _m: None) -> list[int]:
    """Drop runs beyond the newest ``keep``, never one the current views still read."""
    if keep < 1:
        raise SqlCompilerError("--keep must be at least 1")
    rows = conn.execute(
        """
        WITH last_full AS (
          SELECT coalesce(max(run_id), 0) AS run_id FROM campaign_results.runs
          WHERE status = 'succeeded' AND kind = 'full' AND NOT dry_run
        ), ranked AS (
          SELECT run_id, row_number() OVER (ORDER BY run_id DESC) AS n FROM campaign_results.runs
          WHERE status <> 'running'
        )
        SELECT run_id FROM ranked
        WHERE n > %s AND run_id < (SELECT run_id FROM last_full)
        ORDER BY run_id
        """,
        (keep,),
    ).fetchall()
    dropped = []
    for (run_id,) in rows:
        with conn.transaction():
            conn.execute("SET LOCAL lock_timeout = '10s'")
            for base in ("assignments", "contacts"):
                conn.execute(
                    sql.SQL("DROP TABLE IF EXISTS {}.{}").format(
                        sql.Identifier("campaign_results"), sql.Identifier(f"{base}_r{run_id}")
                    )
                )
            conn.execute("DELETE FROM campaign_results.runs WHERE run_id = %s", (run_id,))
        dropped.append(run_id)
    if dropped:
        progress(f"removed {len(dropped)} old run(s): {', '.join(map(str, dropped))}")
    return dropped


def run(
    dsn: str,
    *,
    cifs: list[str] | None = None,
    dry_run: bool = False,
    keep: int = DEFAULT_KEEP,
    progress: Progress = lambda _m: None,
    source_schema: str = "bank_sync_service",
    engine: str = "sql",
    request_ids: list[str] | None = None,
    reference_limit: int | None = None,
    jobs: int | None = None,
) -> RunResult:
    """Run every group's statement and publish the results atomically (see module doc).

    ``engine="reference"`` evaluates in Python with reference.py instead (debugging small
    populations); it refuses populations above ``reference_limit``.
    """
    if engine not in ("sql", "reference"):
        raise SqlCompilerError(f"unknown engine {engine!r}; use sql or reference")
    limit = (
        reference_limit
        if reference_limit is not None
        else int(os.environ.get("SQLCOMPILER_REFERENCE_LIMIT", REFERENCE_LIMIT))
    )
    if jobs is None:
        jobs = int(os.environ.get("SQLCOMPILER_JOBS", min(2, os.cpu_count() or 1)))
    opts = _Options(
        cifs,
        dry_run,
        keep,
        progress,
        source_schema,
        engine,
        limit,
        list(request_ids or []),
        max(1, jobs),
    )
    t_start = time.monotonic()
    kind = "list" if cifs is not None else "full"
    with connect(dsn, autocommit=True, application="sqlcompiler-run") as meta:
        migrations.require_current(meta)
        # The lock is taken in autocommit mode, before the work transaction starts, so that
        # the work snapshot (REPEATABLE READ) already sees the run record inserted by meta.
        work = connect(dsn, autocommit=True, application="sqlcompiler-run")
        try:
            if not work.execute("SELECT pg_try_advisory_lock(%s)", (RUN_LOCK,)).fetchone()[0]:
                raise RunLocked(_lock_holder(meta) + "; a second run is refused, not queued")
            work.autocommit = False
            work.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            return _run(work, meta, kind, opts, t_start)
        finally:
            work.close()  # also releases the session-level run lock


@dataclass(frozen=True)
class _Options:
    cifs: list[str] | None
    dry_run: bool
    keep: int
    progress: Progress
    source_schema: str
    engine: str
    reference_limit: int
    request_ids: list[str]
    jobs: int


def _reference_groups(work, config, opts: _Options, run_id: int, population: int, groups) -> None:
    """The reference engine: evaluate in Python, COPY the results into the staging tables."""
    if population > opts.reference_limit:
        raise RunError(
            f"the reference engine evaluates customers one by one in Python and is meant for small "
            f"populations; {population:,} customers is above the limit of {opts.reference_limit:,} "
            "(--cifs to narrow it, or set SQLCOMPILER_REFERENCE_LIMIT)"
        )
    t0 = time.monotonic()
    data = reference.load_data(work, opts.cifs, opts.source_schema)
    found = reference.evaluate(config, data, opts.cifs)
    by_group = {g.group_id: g for g in groups}
    with work.cursor().copy(
        "COPY campaign_results.assignments_staging (run_id, cif, campaign_group_id, campaign_id, account_numbers) FROM STDIN"
    ) as cp:
        for a in found:
            cp.write_row((run_id, a.cif, a.campaign_group_id, a.campaign_id, a.account_numbers))
    with work.cursor().copy(
        "COPY campaign_results.contacts_staging (run_id, cif, campaign_group_id, campaign_id, position, "
        "rule_priority, party_type, party_cif, relationship_type, contact_type, phone_number, is_primary, "
        "is_verified, phone_id) FROM STDIN"
    ) as cp:
        for a in found:
            for k in a.contacts:
                cp.write_row((
                    run_id, a.cif, a.campaign_group_id, a.campaign_id, k["position"], k["rule_priority"],
                    k["party_type"], k["party_cif"], k["relationship_type"], k["contact_type"],
                    k["phone_number"], k["is_primary"], k["is_verified"], k["phone_id"],
                ))  # fmt: skip
    seconds = time.monotonic() - t0
    for g in by_group.values():
        g.seconds = seconds / max(len(by_group), 1)
    opts.progress(f"  reference engine: {len(found):,} assignments in {seconds:.2f}s")


def _run(work, meta, kind, opts: _Options, t_start) -> RunResult:
    cifs, dry_run, keep, progress, source_schema = (
        opts.cifs, opts.dry_run, opts.keep, opts.progress, opts.source_schema
    )  # fmt: skip
    # We hold the lock, so any run still marked running died without cleaning up.
    meta.execute(
        "UPDATE campaign_results.runs SET status = 'failed', finished_at = clock_timestamp(), "
        "error = coalesce(error, 'abandoned: the process running it ended without finishing') "
        "WHERE status = 'running'"
    )
    run_id = meta.execute(
        "INSERT INTO campaign_results.runs (kind, status, started_by, dry_run, engine, request_ids) "
        "VALUES (%s, 'running', %s, %s, %s, %s) RETURNING run_id",
        (kind, getpass.getuser(), dry_run, opts.engine, opts.request_ids),
    ).fetchone()[0]
    # before the work snapshot; we hold the run lock, nobody else writes them
    _prepare_staging(meta, run_id)
    timings: dict[str, object] = {}
    config = None
    data_source = source.configured(meta)
    source_info: dict[str, object] = {"mode": data_source.mode}  # what a failure records
    try:
        # before the work transaction's first statement: an fdw snapshot must be committed
        # before the run's REPEATABLE READ snapshot (and its workers') is taken
        catalog, source_info = source.prepare_run(meta, cifs, progress, data_source)
        meta.execute(
            "UPDATE campaign_results.runs SET source = %s WHERE run_id = %s",
            (json.dumps(source_info), run_id),
        )
        for name, value in settings_for(cifs is not None).items():
            work.execute("SELECT set_config(%s, %s, true)", (name, value))
        config = load_validated(work, catalog)
        progress(
            f"run {run_id}: {kind} population, configuration {config.fingerprint[:12]}, "
            f"{len(config.groups)} groups"
        )
        groups = [GroupResult(g.id, g.name) for g in config.groups]
        work.execute("SELECT set_config('sqlcompiler.run_id', %s, true)", (str(run_id),))
        unknown = 0
        if cifs is not None:
            work.execute(
                "CREATE TEMP TABLE run_population (cif varchar(50) PRIMARY KEY) ON COMMIT DROP"
            )
            with work.cursor().copy("COPY pg_temp.run_population (cif) FROM STDIN") as cp:
                for cif in cifs:
                    cp.write_row((cif,))
            work.execute("ANALYZE pg_temp.run_population")
            work.execute(
                "INSERT INTO campaign_results.run_population (run_id, cif) SELECT %s, cif FROM pg_temp.run_population",
                (run_id,),
            )
            population = len(cifs)
            unknown = work.execute(
                sql.SQL(
                    "SELECT count(*) FROM pg_temp.run_population p WHERE NOT EXISTS "
                    "(SELECT 1 FROM {}.customers c WHERE c.cif = p.cif)"
                ).format(sql.Identifier(source_schema))
            ).fetchone()[0]
        else:
            population = work.execute(
                sql.SQL("SELECT count(*) FROM {}.customers").format(sql.Identifier(source_schema))
            ).fetchone()[0]
        compiled = compile_config(config, population=cifs is not None, source_schema=source_schema)
        if opts.engine == "reference":
            _reference_groups(work, config, opts, run_id, population, groups)
            compiled = CompiledRun(prologue=None, groups=[])
        parallel = cifs is None and opts.jobs > 1 and len(compiled.groups) > 1
        if parallel:
            timings["prologue"] = _parallel_groups(work, opts, run_id, compiled, groups, progress)
        elif compiled.groups:
            timings["prologue"] = [round(_prologue(work, compiled, progress), 3)]
        for i, (cg, gr) in enumerate(
            zip([] if parallel else compiled.groups, groups, strict=False), start=1
        ):
            t0 = time.monotonic()
            work.execute(cg.sql)
            gr.seconds = time.monotonic() - t0
            progress(f"  [{i}/{len(compiled.groups)}] group {cg.group.name!r}: {gr.seconds:.2f}s")
        timings["groups"] = {g.name: round(g.seconds, 3) for g in groups}
        if not parallel:
            _counts(work, groups)
        res = RunResult(
            run_id, "succeeded", kind, dry_run, config.fingerprint, population, groups, 0.0, unknown
        )
        t0 = time.monotonic()
        if dry_run:
            work.rollback()
            _empty_staging(meta)
        else:
            _index_staging(work, committed=parallel)
            _publish(work, run_id)
        timings["publish"] = round(time.monotonic() - t0, 3)
        res.seconds = time.monotonic() - t_start
        timings["total"] = round(res.seconds, 3)
        if dry_run:
            _finish_record(meta, res, timings)
        else:
            _finish_record(work, res, timings)
            # delivered at commit: wakes `relay --follow`
            work.execute("SELECT pg_notify('sqlcompiler_runs', %s)", (str(run_id),))
            work.commit()
    except BaseException as exc:
        work.rollback()
        _empty_staging(meta)  # rows committed by workers of a failed run are never published
        message = redact(str(exc).strip() or type(exc).__name__)
        meta.execute(
            "UPDATE campaign_results.runs SET status = 'failed', finished_at = clock_timestamp(), "
            "error = %s, timings = %s, config_fingerprint = %s, source = %s WHERE run_id = %s",
            (
                message,
                json.dumps(timings),
                config.fingerprint if config else None,
                json.dumps(source_info),
                run_id,
            ),
        )
        metrics.RUNS.labels(status="failed").inc()
        metrics.ERRORS.labels(kind=type(exc).__name__).inc()
        if isinstance(exc, SqlCompilerError | KeyboardInterrupt):
            raise
        if isinstance(exc, psycopg.Error):
            raise RunError(
                f"run {run_id} failed and was rolled back; previous results are intact: {message}"
            ) from exc
        raise
    cleanup(meta, keep, progress)
    metrics.record_run(res)
    return res
