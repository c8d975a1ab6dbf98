"""The run record (campaign_results.runs: this module is its only writer) and the counts a
run records per group.

The record is written on its own autocommit connection so that "running" and "failed" are
visible whatever happens to the work transaction; a published run's final record is written
in the work transaction, so it becomes visible with the results. The lock is lock.py's, the
guards guards.py's, retention retention.py's.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg

from ..errors import RunError, SqlCompilerError
from ..infra.connection import connect
from .lock import RUN_LOCK, try_run_lock
from .staging import empty_staging
from .unrecorded import record_remembered


@dataclass
class GroupResult:
    group_id: int
    name: str
    assigned: int = 0
    contacts: int = 0
    campaigns: dict[int, int] = field(default_factory=dict)  # campaign id -> assignments
    campaign_names: dict[int, str] = field(default_factory=dict)  # every campaign, 0 or more
    left: int = 0  # assigned in this group before the run, not after it
    suppressed: dict[str, int] = field(default_factory=dict)  # reason -> contacts (SPEC §6)
    # campaign id -> reason -> contacts (the preview shows them per campaign)
    campaign_suppressed: dict[int, dict[str, int]] = field(default_factory=dict)

    def suppress(self, campaign_id: int, reason: str, n: int) -> None:
        self.suppressed[reason] = self.suppressed.get(reason, 0) + n
        mine = self.campaign_suppressed.setdefault(campaign_id, {})
        mine[reason] = mine.get(reason, 0) + n


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
    hold_reason: str | None = None  # a guard's objection (status held, or forced past it)
    forced: bool = False
    left_removed_groups: int = 0  # assignments ended because their group was removed
    previous_run_id: int | None = None  # the last published run of the same population
    previous: dict[int, dict[int, int]] | None = None  # its {group id: {campaign id: n}}
    as_of: dt.date | None = None  # what relative dates resolved against (SPEC §2a)
    timings: dict[str, Any] = field(default_factory=dict)  # seconds per step, as recorded
    window: tuple[dt.datetime, dt.datetime] | None = None  # the calling window (SPEC §6)

    @property
    def unassigned(self) -> int:
        return sum(g.left for g in self.groups) + self.left_removed_groups

    @property
    def assigned(self) -> int:
        return sum(g.assigned for g in self.groups)

    @property
    def contacts(self) -> int:
        return sum(g.contacts for g in self.groups)


ABANDONED = (
    "UPDATE campaign_results.runs SET status = 'failed', finished_at = clock_timestamp(), "
    "error = coalesce(error, 'interrupted: the process running it ended without finishing') "
    "WHERE status = 'running' RETURNING run_id"
)


def reap_abandoned(conn: psycopg.Connection) -> list[int]:
    """Mark failed the runs left "running" by a process that is gone.

    Whoever runs holds the run lock for its whole life, and the lock goes with its session; so
    if we can take the lock, nothing is running. ``conn`` must be in autocommit mode.
    """
    if not try_run_lock(conn):
        return []
    try:
        return reap_locked(conn)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (RUN_LOCK,))


def reap_locked(conn: psycopg.Connection) -> list[int]:
    """Mark failed the runs left running, under the run lock the caller holds; each keeps the
    cause its own process saw when that process could not record it (run/unrecorded.py)."""
    reaped = [r[0] for r in conn.execute(ABANDONED).fetchall()]
    record_remembered(conn, reaped)
    return reaped


def started_at(conn: psycopg.Connection, run_id: int) -> str:
    """The run's start as the database shows it (names the run in run/unrecorded.py)."""
    return conn.execute(
        "SELECT extract(epoch FROM started_at)::text FROM campaign_results.runs WHERE run_id = %s",
        (run_id,),
    ).fetchone()[0]


def last_success(conn: psycopg.Connection) -> float | None:
    """When results last changed (epoch seconds): every export of a run process says it."""
    return conn.execute(
        "SELECT extract(epoch FROM max(finished_at)) FROM campaign_results.runs "
        "WHERE status = 'succeeded' AND NOT dry_run"
    ).fetchone()[0]


def start_record(
    conn: psycopg.Connection,
    *,
    kind: str,
    dry_run: bool,
    engine: str,
    request_ids: list[str],
    as_of: dt.date,
) -> int:
    """Insert the run's record as running (after reaping runs whose process died: the caller
    holds the run lock, so any run still marked running is gone); its run id."""
    reap_locked(conn)
    return conn.execute(
        "INSERT INTO campaign_results.runs "
        "(kind, status, started_by, dry_run, engine, request_ids, as_of) "
        "VALUES (%s, 'running', %s, %s, %s, %s, %s) RETURNING run_id",
        (kind, getpass.getuser(), dry_run, engine, request_ids, as_of),
    ).fetchone()[0]


def record_source(conn: psycopg.Connection, run_id: int, source: dict[str, Any]) -> None:
    """Where the run read the bank-sync data (mode, snapshot, lag), known before it starts."""
    conn.execute(
        "UPDATE campaign_results.runs SET source = %s WHERE run_id = %s",
        (json.dumps(source), run_id),
    )


def served_run(conn: psycopg.Connection) -> int | None:
    """The last published full run: the one whose results readers see if this one fails."""
    return conn.execute(
        "SELECT max(run_id) FROM campaign_results.runs "
        "WHERE status = 'succeeded' AND kind = 'full' AND NOT dry_run"
    ).fetchone()[0]


def record_failure(
    dsn: str,
    run_id: int,
    message: str,
    *,
    timings: dict[str, Any],
    fingerprint: str | None,
    source: dict[str, Any],
    failed_at: dt.datetime,
    retry_seconds: float = 30.0,
) -> bool:
    """Mark ``run_id`` failed with ``message`` and empty the staging tables (rows committed by
    the workers of a failed run are never published), on a fresh connection, retrying while
    the server does not answer for up to ``retry_seconds``. ``failed_at`` is when it failed
    (the run's duration does not grow by the wait). False if the server never answered."""
    deadline = time.monotonic() + retry_seconds
    while True:
        try:
            with connect(dsn, autocommit=True, application="sqlcompiler-run-failed") as conn:
                empty_staging(conn)
                conn.execute(
                    "UPDATE campaign_results.runs SET status = 'failed', "
                    "finished_at = %s, error = %s, timings = %s, "
                    "config_fingerprint = %s, source = %s WHERE run_id = %s",
                    (
                        failed_at,
                        message,
                        json.dumps(timings),
                        fingerprint,
                        json.dumps(source),
                        run_id,
                    ),  # fmt: skip
                )
                return True
        except (psycopg.OperationalError, SqlCompilerError):  # the server does not answer
            if time.monotonic() >= deadline:
                return False
            time.sleep(1.0)
        except psycopg.Error:  # it answers but refuses: waiting would not help, and the
            return False  # run's own error, not this one, is what the caller must raise


def execute_statement(
    conn: psycopg.Connection, statement: str, results: list[GroupResult]
) -> float:
    """Run a compiled run statement and add what it wrote to ``results`` (by group): the
    assignments per campaign, contacts and unassignments, and with a contact policy the
    contacts it removed per campaign and reason — the statement returns its own counts
    (templates/run.sql.j2), so they cost one pass over its rows, not a scan of the staging
    tables. Returns the seconds it took."""
    t0 = time.monotonic()
    per_campaign, contacts, left, *policy = conn.execute(statement).fetchone()
    seconds = time.monotonic() - t0
    by_id = {g.group_id: g for g in results}
    for gid, cid, reason, n in (policy[0] if policy else None) or []:
        by_id[int(gid)].suppress(int(cid), reason, int(n))
    for gid, cid, n in per_campaign or []:
        g = by_id[int(gid)]
        g.campaigns[int(cid)] = g.campaigns.get(int(cid), 0) + int(n)
        g.assigned += int(n)
    for gid, n in contacts or []:
        by_id[int(gid)].contacts += int(n)
    for gid, n in left or []:
        by_id[int(gid)].left += int(n)
    return seconds


def count_results(work: psycopg.Connection, result: list[GroupResult]) -> None:
    """Count the staging rows of ``result``'s groups: the reference engine writes them itself
    (the compiled run statement returns its counts, ``execute_statement``)."""
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
        "SELECT campaign_group_id, count(*) FROM campaign_results.contact_rows_staging "
        "WHERE campaign_group_id = ANY(%s) GROUP BY 1",
        (ids,),
    ).fetchall():
        by_id[gid].contacts = n


def finish_record(conn: psycopg.Connection, res: RunResult, timings: dict) -> None:
    counts = {
        "groups": {
            str(g.group_id): {
                "name": g.name,
                "assigned": g.assigned,
                "contacts": g.contacts,
                "left": g.left,
                "campaigns": {str(k): v for k, v in g.campaigns.items()},
                "campaign_names": {str(k): v for k, v in g.campaign_names.items()},
                **({"suppressed": g.suppressed} if g.suppressed else {}),
            }
            for g in res.groups
        },
        "left_removed_groups": res.left_removed_groups,
    }
    cur = conn.execute(
        """
        UPDATE campaign_results.runs
        SET status = %s, finished_at = clock_timestamp(), config_fingerprint = %s,
            population_size = %s, assignments = %s,
            contacts = %s, counts = %s, timings = %s, dry_run = %s,
            hold_reason = %s, forced = %s, unassignments = %s, window_start = %s,
            window_end = %s
        WHERE run_id = %s
        """,
        (
            res.status, res.fingerprint, res.population, res.assigned, res.contacts, json.dumps(counts),
            json.dumps(timings), res.dry_run, res.hold_reason, res.forced, res.unassigned,
            *(res.window or (None, None)), res.run_id,
        ),
    )  # fmt: skip
    if cur.rowcount != 1:
        raise RunError(f"run {res.run_id}: its run record is missing; results not published")


@dataclass(frozen=True)
class RunRecord:
    """One row of campaign_results.runs, as ``runs`` lists it."""

    run_id: int
    kind: str
    status: str
    dry_run: bool
    started_at: dt.datetime
    finished_at: dt.datetime | None
    population: int | None
    assignments: int | None
    contacts: int | None
    fingerprint: str | None
    error: str | None
    source: dict[str, Any] | None
    hold_reason: str | None = None
    forced: bool = False
    results_dropped: bool = False
    counts: dict[str, Any] | None = None  # per group and campaign (finish_record)
    timings: dict[str, Any] | None = None
    as_of: dt.date | None = None

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def next_step(self) -> str | None:
        """What the on-call engineer does about this run (None: nothing)."""
        if self.status == "failed":
            cause = (self.error or "").lower()
            if "reading the results to let go" in cause:
                return ("end the sessions named above, which keep a transaction open on the "
                        "results (`SELECT pg_terminate_backend(pid)`), then rerun `sqlcompiler "
                        "run`; the previous results are still served")  # fmt: skip
            if "interrupted" in cause or "connection" in cause or "server" in cause:
                return ("the database went away or the process was stopped: once "
                        "`sqlcompiler db check` answers, rerun `sqlcompiler run` (the previous "
                        "results are still served meanwhile)")  # fmt: skip
            if "privilege" in cause or "permission" in cause:
                return ("grant what the job needs (`sqlcompiler db grants … --sql` shows it), then "
                        "rerun `sqlcompiler run`")  # fmt: skip
            return ("fix the cause above (`sqlcompiler config lint`, `sqlcompiler db check`), then "
                    "rerun `sqlcompiler run`; the previous results are still served")  # fmt: skip
        if self.status == "held" and not self.forced:
            return (f"compare with the last published run (`sqlcompiler runs diff … "
                    f"{self.run_id}`); if the change is expected, `sqlcompiler run --force`")  # fmt: skip
        if self.status == "running":
            return "wait for it: `sqlcompiler runs` shows it when it ends"
        return None


def list_runs(
    conn: psycopg.Connection, limit: int = 10, *, run_id: int | None = None
) -> list[RunRecord]:
    rows = conn.execute(
        "SELECT run_id, kind, status, dry_run, started_at, finished_at, population_size, "
        "assignments, contacts, config_fingerprint, error, source, hold_reason, forced, "
        "results_dropped_at IS NOT NULL, counts, timings, as_of FROM campaign_results.runs "
        "WHERE %s::bigint IS NULL OR run_id = %s::bigint ORDER BY run_id DESC LIMIT %s",
        (run_id, run_id, limit),
    ).fetchall()
    return [RunRecord(*r) for r in rows]


def run_with_results(conn: psycopg.Connection, run_id: int) -> RunRecord:
    """The record of a run whose result partitions exist, or an error saying why not."""
    found = [r for r in list_runs(conn, 1, run_id=run_id)]
    if not found:
        raise SqlCompilerError(f"run {run_id} does not exist; `sqlcompiler runs` lists the runs")
    record = found[0]
    if record.status != "succeeded" or record.dry_run:
        what = "a dry run" if record.dry_run else f"{record.status}"
        raise SqlCompilerError(f"run {run_id} was {what}: it published no results")
    if record.results_dropped:
        raise SqlCompilerError(
            f"the results of run {run_id} were removed by retention (run --keep); its record "
            "remains in `sqlcompiler runs`"
        )
    return record
