"""The nightly run: compile, execute each group's statement, publish atomically.

Two connections: ``meta`` (autocommit) writes the run record so that "running" and "failed"
are visible whatever happens to the work; ``work`` holds the run lock and one REPEATABLE READ
transaction, so every group sees the same snapshot of the inputs and the results become
visible in one commit (or never). Results go to staging tables (staging.py) that become the
run's partitions when it commits; readers keep seeing the previous run until then. The
statements are executed by executor.py, as the preview's are.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
from psycopg import sql

from .. import source
from ..compiler import compile_config
from ..compiler.settings import set_local_statements, work_mem
from ..config import dates
from ..config.db import load_validated
from ..config.model import Configuration
from ..errors import RunError, SqlCompilerError
from ..infra import metrics, migrations
from ..infra.connection import connect, describe_db_error, redact
from ..progress import Progress, quiet
from . import reference_engine
from .executor import execute, split
from .guards import DEFAULT_MAX_DROP, hold_reason, previous_counts
from .lock import run_lock
from .record import (
    GroupResult,
    RunResult,
    finish_record,
    last_success,
    record_failure,
    record_source,
    served_run,
    start_record,
    started_at,
)
from .retention import DEFAULT_KEEP, DEFAULT_KEEP_RECORDS_DAYS, cleanup
from .staging import (
    empty_staging,
    hold_off_readers,
    index_staging,
    prepare_staging,
    publish,
)
from .unrecorded import remember

REFERENCE_LIMIT = 10_000  # customers; the reference engine is for debugging, not production


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
    jobs: int | None = None  # connections; None: executor.default_jobs()
    reference_limit: int = REFERENCE_LIMIT
    request_ids: Sequence[str] = ()
    source_schema: str = "bank_sync_service"
    as_of: dt.date | None = None  # relative dates resolve against it; None: today (SPEC §2a)
    # how long a failed run keeps trying to record its failure on a fresh connection (a server
    # restart or failover of a few seconds still gets the failure recorded by the run itself)
    record_retry_seconds: float = 30.0
    # how long publishing waits for sessions reading the results to let go (staging.py)
    publish_patience: float = 900.0

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
    work_mem()  # a bad SQLCOMPILER_WORK_MEM stops the run before it is recorded
    t_start = time.monotonic()
    with connect(dsn, autocommit=True, application="sqlcompiler-run") as meta:
        migrations.require_current(meta)
        # The lock is taken in autocommit mode, before the work transaction starts, so that
        # the work snapshot (REPEATABLE READ) already sees the run record inserted by meta.
        work = connect(dsn, autocommit=True, application="sqlcompiler-run")
        try:
            with run_lock(work, "a second run is refused, not queued"):
                work.autocommit = False
                work.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                return _run(work, meta, opts, progress, t_start, dsn)
        finally:
            work.close()  # also releases the session-level run lock


@dataclass
class _Progress:
    """What a failure records: how far the run got."""

    step: str = "preparing the run"  # what it was doing (the failure names it)
    served: int | None = None  # the published run whose results stay current on a failure
    timings: dict[str, Any] = field(default_factory=dict)
    config: Configuration | None = None
    source: dict[str, Any] = field(default_factory=dict)
    started: str = ""  # the record's started_at (names the run in run/unrecorded.py)


def _run(work, meta, opts: RunOptions, progress: Progress, t_start: float, dsn: str) -> RunResult:
    last = last_success(meta)  # every export (a failed or held run's too) says when results
    if last is not None:  # last changed
        metrics.LAST_SUCCESS.set(float(last))
    as_of = opts.as_of or dates.today()
    run_id = start_record(meta, kind=opts.kind, dry_run=opts.dry_run, engine=opts.engine,
                          request_ids=list(opts.request_ids), as_of=as_of)  # fmt: skip
    prepare_staging(meta, run_id)  # before the work snapshot; nobody else writes them
    state = _Progress(source={"mode": source.configured(meta).mode}, served=served_run(meta))
    state.started = started_at(meta, run_id)
    try:
        res, committed = _evaluate(work, meta, opts, progress, run_id, as_of, state)
        state.step = "the publishing guards"
        _guard(meta, res, opts, progress)
        state.step = "publishing"
        if not opts.dry_run:
            progress("  publishing: indexing the staging tables, then the run's partitions")
        _publish(work, meta, res, committed, state.timings, progress, opts.publish_patience)
        res.seconds = time.monotonic() - t_start
        state.timings["total"] = round(res.seconds, 3)
        res.timings = state.timings
        state.step = "recording the run"
        _finish(work, meta, res, state.timings)
    except BaseException as exc:
        state.timings["total"] = round(time.monotonic() - t_start, 3)
        error = _fail(work, dsn, run_id, exc, state, opts.record_retry_seconds)
        if error is exc:
            raise
        raise error from exc
    cleanup(meta, opts.keep, opts.keep_records_days, progress)
    metrics.record_run(res)
    return res


def _evaluate(
    work, meta, opts: RunOptions, progress, run_id: int, as_of, state
) -> tuple[RunResult, bool]:
    """Every group's rows into the staging tables, in the work transaction's snapshot; and
    whether worker connections committed them."""
    # before the work transaction's first statement: an fdw snapshot must be committed
    # before the run's REPEATABLE READ snapshot (and its workers') is taken
    state.step = "reading the bank-sync source"
    catalog, state.source = source.prepare_run(meta, opts.cifs, progress)
    record_source(meta, run_id, state.source)
    state.step = "reading the configuration"
    for statement in set_local_statements(opts.cifs is not None):
        work.execute(statement)
    config = state.config = load_validated(work, catalog, as_of)
    progress(
        f"run {run_id}: {opts.kind} population as of {as_of}, configuration "
        f"{config.fingerprint[:12]}, {len(config.groups)} groups"
    )
    groups = [
        GroupResult(g.id, g.name, campaign_names={c.id: c.name for c in g.campaigns})
        for g in config.groups
    ]
    work.execute("SELECT set_config('sqlcompiler.run_id', %s, true)", (str(run_id),))
    state.step = "counting the population"
    population, unknown = _population(work, opts.cifs, run_id, opts.source_schema)
    state.step = "the run's statements (prologue and run statement)"
    if opts.engine == "reference":
        if population > opts.reference_limit:
            raise RunError(reference_engine.too_many(population, opts.reference_limit))
        reference_engine.write(work, config, opts.cifs, opts.source_schema, progress, run_id,
                               groups, as_of)  # fmt: skip
        committed = False
        left_removed = reference_engine.counts(work, groups, opts.cifs is not None)
    else:
        how = split(opts.jobs, len(config.groups), population=opts.cifs is not None)
        compiled = compile_config(config, population=opts.cifs is not None,
                                  source_schema=opts.source_schema, slices=how.slices)  # fmt: skip
        done = execute(work, compiled, groups, how, run_id=run_id, progress=progress)
        committed, left_removed = done.committed, done.left_removed
        if done.prologue:
            state.timings["prologue"] = done.prologue
            state.timings["statement"] = done.statement
    return RunResult(
        run_id, "succeeded", opts.kind, opts.dry_run, config.fingerprint, population, groups,
        0.0, unknown, left_removed_groups=left_removed, as_of=as_of,
        window=config.policy.window(as_of) if config.policy else None,
    ), committed  # fmt: skip


def _population(work, cifs: list[str] | None, run_id: int, schema: str) -> tuple[int, int]:
    """The population's size and, for a list run, how many of its cifs are unknown; a list
    run's cifs become pg_temp.run_population (and are recorded with the run)."""
    customers = sql.SQL("{}.customers").format(sql.Identifier(schema))
    if cifs is None:
        return work.execute(sql.SQL("SELECT count(*) FROM {}").format(customers)).fetchone()[0], 0
    work.execute("CREATE TEMP TABLE run_population (cif varchar(50) PRIMARY KEY) ON COMMIT DROP")
    with work.cursor().copy("COPY pg_temp.run_population (cif) FROM STDIN") as cp:
        for cif in cifs:
            cp.write_row((cif,))
    work.execute("ANALYZE pg_temp.run_population")
    work.execute(
        "INSERT INTO campaign_results.run_population (run_id, cif) "
        "SELECT %s, cif FROM pg_temp.run_population",
        (run_id,),
    )
    # the list as an array, not a join with the temporary table: on Citus a temporary table
    # cannot be joined with a distributed one inside a subquery
    known = work.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE cif = ANY(%s)").format(customers), (cifs,)
    ).fetchone()[0]
    return len(cifs), len(cifs) - known


def _guard(meta, res: RunResult, opts: RunOptions, progress: Progress) -> None:
    """Compare with the last published run; set the run held when a guard objects."""
    res.previous_run_id, res.previous = previous_counts(meta, res)
    res.hold_reason = hold_reason(meta, res, opts.max_drop, opts.source_schema)
    held = res.hold_reason is not None and not opts.force and not res.dry_run
    res.forced = res.hold_reason is not None and opts.force and not res.dry_run
    if held:
        res.status = "held"
    if res.hold_reason:
        verdict = (
            "held: not published, the previous results stay current (--force publishes)"
            if held
            else "published anyway (--force)"
            if res.forced
            else "a real run would be held"
        )
        progress(f"guard: {res.hold_reason}; {verdict}")


def _publish(
    work, meta, res: RunResult, committed: bool, timings: dict[str, Any], progress: Progress,
    patience: float,
) -> None:  # fmt: skip
    """Staging becomes the run's partitions in the work transaction (or is emptied); readers
    are held off from there to the commit, so that each sees the old run or the new one."""
    t0 = time.monotonic()
    if res.dry_run or res.status == "held":
        work.rollback()
        empty_staging(meta)
    else:
        index_staging(work, committed=committed)
        publish(work, res.run_id)
        hold_off_readers(work, progress, patience)
    timings["publish"] = round(time.monotonic() - t0, 3)


def _finish(work, meta, res: RunResult, timings: dict[str, Any]) -> None:
    if res.dry_run or res.status == "held":
        finish_record(meta, res, timings)
        return
    finish_record(work, res, timings)  # visible with the results
    work.execute("SELECT pg_notify('sqlcompiler_runs', %s)", (str(res.run_id),))  # wakes relays
    work.commit()


def _fail(
    work, dsn: str, run_id: int, exc: BaseException, state: _Progress, retry_seconds: float
) -> BaseException:
    """Count the failure, roll back, then record it — the error to raise.

    The counters come first, so that the metrics the CLI exports say "failed" whatever happens
    next; the record is written on a fresh connection, retried for ``retry_seconds``, because
    the run's own connections may be the casualty (a server restart or failover).
    """
    metrics.RUNS.labels(status="failed").inc()
    metrics.ERRORS.labels(kind=type(exc).__name__).inc()
    failed_at = dt.datetime.now(dt.UTC)
    with contextlib.suppress(psycopg.Error):
        work.rollback()
    message = (
        describe_db_error(exc)
        if isinstance(exc, psycopg.errors.InsufficientPrivilege)
        else redact(str(exc).strip() or type(exc).__name__)
    )
    # one line (libpq's "server closed the connection" spans three): the record, the runs list
    # and the CLI's `Error: …` each show it on one line
    message = " ".join(message.split())
    state.timings["failed_step"] = state.step
    recorded = record_failure(
        dsn, run_id, f"at {state.step}: {message}", retry_seconds=retry_seconds,
        timings=state.timings, source=state.source, failed_at=failed_at,
        fingerprint=state.config.fingerprint if state.config else None,
    )  # fmt: skip
    served = (
        f"the results of run {state.served} are still served"
        if state.served
        else "no run's results were published before"
    )
    unrecorded = ""
    if not recorded:  # the next command marks it interrupted: with this cause, if kept
        kept = remember(run_id, state.started, {
            "error": f"at {state.step}: {message}", "failed_at": failed_at.isoformat(),
            "timings": state.timings,
        })  # fmt: skip
        unrecorded = (
            "; the failure could not be recorded (the database did not answer): the next "
            "command marks the run interrupted"
            + (f" with this cause (kept in {kept})" if kept else "")
        )
    if isinstance(exc, psycopg.Error):
        return RunError(
            f"run {run_id} failed at {state.step} and was rolled back; previous results are "
            f"intact ({served}): {message}{unrecorded}"
        )
    return exc
