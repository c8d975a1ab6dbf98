"""The nightly run: compile, execute each group's statement, publish atomically.

Two connections: ``meta`` (autocommit) writes the run record so that "running" and "failed"
are visible whatever happens to the work; ``work`` holds the run lock and one REPEATABLE READ
transaction, so every group sees the same snapshot of the inputs and the results become
visible in one commit (or never). Results go to staging tables (staging.py) that become the
run's partitions when it commits; readers keep seeing the previous run until then.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import psycopg
from psycopg import sql

from .. import reference, source
from ..compiler import CompiledRun, compile_config
from ..compiler.settings import set_local_statements, work_mem
from ..config import dates
from ..config.store import load_validated
from ..errors import RunError, RunLocked, SqlCompilerError
from ..infra import metrics, migrations
from ..infra.connection import connect, describe_db_error, redact
from ..progress import Progress, quiet
from .record import (
    ABANDONED,
    DEFAULT_KEEP,
    DEFAULT_KEEP_RECORDS_DAYS,
    DEFAULT_MAX_DROP,
    RUN_LOCK,
    GroupResult,
    RunResult,
    cleanup,
    count_results,
    execute_group,
    finish_record,
    hold_reason,
    lock_holder,
    previous_counts,
)
from .staging import (
    empty_staging,
    index_staging,
    prepare_staging,
    publish,
    record_removed_groups,
    record_unassignments,
)
from .workers import parallel_groups, run_prologue, sliced_groups, use_slices

REFERENCE_LIMIT = 10_000  # customers; the reference engine is for debugging, not production


def default_jobs() -> int:
    """Two connections, or one on a single core: each group statement uses one core."""
    return min(2, os.cpu_count() or 1)


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """What a run does. Defaults are the library's; the CLI fills them from its environment."""

    cifs: list[str] | None = None  # None: the full population
    dry_run: bool = False
    keep: int = DEFAULT_KEEP
    keep_records_days: int = DEFAULT_KEEP_RECORDS_DAYS
    max_drop: float = DEFAULT_MAX_DROP  # percent; see record.hold_reason
    force: bool = False  # publish although a guard objects (recorded)
    engine: str = "sql"  # or "reference" (Python, customer by customer: debugging)
    jobs: int = field(default_factory=default_jobs)
    reference_limit: int = REFERENCE_LIMIT
    request_ids: Sequence[str] = ()
    source_schema: str = "bank_sync_service"
    as_of: dt.date | None = None  # relative dates resolve against it; None: today (SPEC §2a)

    @property
    def kind(self) -> str:
        return "list" if self.cifs is not None else "full"


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


def run(
    dsn: str, options: RunOptions | None = None, *, progress: Progress = quiet, **overrides
) -> RunResult:
    """Run every group's statement and publish the results atomically (see module doc).

    ``overrides`` are RunOptions fields (``run(dsn, cifs=[...], dry_run=True)``).
    ``engine="reference"`` evaluates in Python with the reference evaluator instead (debugging
    small populations); it refuses populations above ``reference_limit``.
    """
    opts = replace(options or RunOptions(), **overrides)
    if opts.engine not in ("sql", "reference"):
        raise SqlCompilerError(f"unknown engine {opts.engine!r}; use sql or reference")
    if opts.jobs < 1:
        opts = replace(opts, jobs=1)
    work_mem()  # a bad SQLCOMPILER_WORK_MEM stops the run before it is recorded
    t_start = time.monotonic()
    with connect(dsn, autocommit=True, application="sqlcompiler-run") as meta:
        migrations.require_current(meta)
        # The lock is taken in autocommit mode, before the work transaction starts, so that
        # the work snapshot (REPEATABLE READ) already sees the run record inserted by meta.
        work = connect(dsn, autocommit=True, application="sqlcompiler-run")
        try:
            if not work.execute("SELECT pg_try_advisory_lock(%s)", (RUN_LOCK,)).fetchone()[0]:
                raise RunLocked(lock_holder(meta) + "; a second run is refused, not queued")
            work.autocommit = False
            work.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            return _run(work, meta, opts, progress, t_start)
        finally:
            work.close()  # also releases the session-level run lock


def _reference_groups(
    work, config, opts: RunOptions, progress: Progress, run_id: int, population: int, groups
) -> None:
    """The reference engine: evaluate in Python, COPY the results into the staging tables."""
    if population > opts.reference_limit:
        raise RunError(
            f"the reference engine evaluates customers one by one in Python and is meant for small "
            f"populations; {population:,} customers is above the limit of {opts.reference_limit:,} "
            "(--cifs to narrow it, or raise --reference-limit / SQLCOMPILER_REFERENCE_LIMIT)"
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
    progress(f"  reference engine: {len(found):,} assignments in {seconds:.2f}s")


def _run(work, meta, opts: RunOptions, progress: Progress, t_start: float) -> RunResult:
    cifs, dry_run, keep, source_schema, kind = (
        opts.cifs, opts.dry_run, opts.keep, opts.source_schema, opts.kind
    )  # fmt: skip
    # every export of this process (a failed or held run too) tells when results last changed
    last = meta.execute(
        "SELECT extract(epoch FROM max(finished_at)) FROM campaign_results.runs "
        "WHERE status = 'succeeded' AND NOT dry_run"
    ).fetchone()[0]
    if last is not None:
        metrics.LAST_SUCCESS.set(float(last))
    # We hold the lock, so any run still marked running died without cleaning up.
    meta.execute(ABANDONED)
    as_of = opts.as_of or dates.today()
    run_id = meta.execute(
        "INSERT INTO campaign_results.runs "
        "(kind, status, started_by, dry_run, engine, request_ids, as_of) "
        "VALUES (%s, 'running', %s, %s, %s, %s, %s) RETURNING run_id",
        (kind, getpass.getuser(), dry_run, opts.engine, list(opts.request_ids), as_of),
    ).fetchone()[0]
    # before the work snapshot; we hold the run lock, nobody else writes them
    prepare_staging(meta, run_id)
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
        for statement in set_local_statements(cifs is not None):
            work.execute(statement)
        config = load_validated(work, catalog, as_of)
        progress(
            f"run {run_id}: {kind} population as of {as_of}, configuration "
            f"{config.fingerprint[:12]}, {len(config.groups)} groups"
        )
        groups = [
            GroupResult(g.id, g.name, campaign_names={c.id: c.name for c in g.campaigns})
            for g in config.groups
        ]
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
        sliced = cifs is None and use_slices(opts.jobs, len(config.groups))
        parallel = cifs is None and opts.jobs > 1 and (sliced or len(config.groups) > 1)
        compiled = compile_config(
            config,
            population=cifs is not None,
            source_schema=source_schema,
            slices=opts.jobs if sliced else 1,
        )
        if opts.engine == "reference":
            _reference_groups(work, config, opts, progress, run_id, population, groups)
            compiled = CompiledRun(prologue=None, groups=[])
            parallel = False
        left_removed = 0
        if parallel:
            split = sliced_groups if sliced else parallel_groups
            timings["prologue"], left_removed = split(
                work, opts.jobs, run_id, compiled, groups, progress
            )
        elif compiled.groups:
            timings["prologue"] = [round(run_prologue(work, compiled, progress), 3)]
        for i, (cg, gr) in enumerate(
            zip([] if parallel else compiled.groups, groups, strict=False), start=1
        ):
            execute_group(work, cg.sql, gr)
            progress(f"  [{i}/{len(compiled.groups)}] group {cg.group.name!r}: {gr.seconds:.2f}s")
        timings["groups"] = {g.name: round(g.seconds, 3) for g in groups}
        if opts.engine == "reference":  # it wrote the staging rows itself
            count_results(work, groups)
            left = record_unassignments(work, population=cifs is not None)
            for g in groups:
                g.left = left.pop(g.group_id, 0)
            left_removed = sum(left.values())
        elif not parallel:  # else a worker did; the group statements count their own rows
            left_removed = sum(
                record_removed_groups(
                    work, [g.group_id for g in groups], population=cifs is not None
                ).values()
            )
        res = RunResult(
            run_id, "succeeded", kind, dry_run, config.fingerprint, population, groups, 0.0, unknown,
            left_removed_groups=left_removed, as_of=as_of,
        )  # fmt: skip
        res.previous_run_id, res.previous = previous_counts(meta, res)
        res.hold_reason = hold_reason(meta, res, opts.max_drop, source_schema)
        held = res.hold_reason is not None and not opts.force and not dry_run
        res.forced = res.hold_reason is not None and opts.force and not dry_run
        if res.hold_reason:
            verdict = (
                "held: not published, the previous results stay current (--force publishes)"
                if held
                else "published anyway (--force)"
                if res.forced
                else "a real run would be held"
            )
            progress(f"guard: {res.hold_reason}; {verdict}")
        t0 = time.monotonic()
        if dry_run or held:
            work.rollback()
            empty_staging(meta)
            res.status = "held" if held else res.status
        else:
            index_staging(work, committed=parallel)
            publish(work, run_id)
        timings["publish"] = round(time.monotonic() - t0, 3)
        res.seconds = time.monotonic() - t_start
        timings["total"] = round(res.seconds, 3)
        if dry_run or held:
            finish_record(meta, res, timings)
        else:
            finish_record(work, res, timings)
            # delivered at commit: wakes `relay --follow`
            work.execute("SELECT pg_notify('sqlcompiler_runs', %s)", (str(run_id),))
            work.commit()
    except BaseException as exc:
        work.rollback()
        empty_staging(meta)  # rows committed by workers of a failed run are never published
        message = (
            describe_db_error(exc)
            if isinstance(exc, psycopg.errors.InsufficientPrivilege)
            else redact(str(exc).strip() or type(exc).__name__)
        )
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
    cleanup(meta, keep, opts.keep_records_days, progress)
    metrics.record_run(res)
    return res
