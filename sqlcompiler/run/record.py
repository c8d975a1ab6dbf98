"""The run record (campaign_results.runs), the run lock, per-group counts, the publishing
guards and retention.

The record is written on its own autocommit connection so that "running" and "failed" are
visible whatever happens to the work transaction. Retention drops result partitions but keeps
the records (the audit trail) for ``DEFAULT_KEEP_RECORDS_DAYS``.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from ..errors import RunError, SqlCompilerError
from ..progress import Progress, quiet

RUN_LOCK = 0x5C0C0001  # advisory lock key: one run at a time per database
DEFAULT_KEEP = 7  # succeeded full runs whose result partitions are kept
DEFAULT_KEEP_RECORDS_DAYS = 400  # run records (the audit trail) are kept this long
DEFAULT_MAX_DROP = 50.0  # percent: a bigger drop of assignments holds a full run


@dataclass
class GroupResult:
    group_id: int
    name: str
    assigned: int = 0
    contacts: int = 0
    seconds: float = 0.0
    campaigns: dict[int, int] = field(default_factory=dict)  # campaign id -> assignments
    campaign_names: dict[int, str] = field(default_factory=dict)  # every campaign, 0 or more
    left: int = 0  # assigned in this group before the run, not after it


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

    @property
    def unassigned(self) -> int:
        return sum(g.left for g in self.groups) + self.left_removed_groups

    @property
    def assigned(self) -> int:
        return sum(g.assigned for g in self.groups)

    @property
    def contacts(self) -> int:
        return sum(g.contacts for g in self.groups)


def lock_holder(meta: psycopg.Connection) -> str:
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
    if not conn.execute("SELECT pg_try_advisory_lock(%s)", (RUN_LOCK,)).fetchone()[0]:
        return []
    try:
        return [r[0] for r in conn.execute(ABANDONED).fetchall()]
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (RUN_LOCK,))


def execute_group(conn: psycopg.Connection, statement: str, result: GroupResult) -> None:
    """Run a compiled group statement and add what it wrote to ``result``: seconds, the
    assignments per campaign, contacts and unassignments — the statement returns its own
    counts (templates/group.sql.j2), so they cost one pass over its rows, not a scan of every
    group written so far."""
    t0 = time.monotonic()
    per_campaign, contacts, left = conn.execute(statement).fetchone()
    result.seconds += time.monotonic() - t0
    for cid, n in per_campaign or []:
        result.campaigns[int(cid)] = result.campaigns.get(int(cid), 0) + int(n)
        result.assigned += int(n)
    result.contacts += int(contacts)
    result.left += int(left)


def count_results(work: psycopg.Connection, result: list[GroupResult]) -> None:
    """Count the staging rows of ``result``'s groups: the reference engine writes them itself
    (the compiled group statements return their counts, ``execute_group``)."""
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


def previous_counts(
    conn: psycopg.Connection, res: RunResult
) -> tuple[int | None, dict[int, dict[int, int]] | None]:
    """The per-campaign counts of the last published full run before ``res`` (full runs only:
    a list run's population differs from run to run)."""
    if res.kind != "full":
        return None, None
    row = conn.execute(
        "SELECT run_id, counts FROM campaign_results.runs WHERE status = 'succeeded' "
        "AND kind = 'full' AND NOT dry_run AND run_id < %s ORDER BY run_id DESC LIMIT 1",
        (res.run_id,),
    ).fetchone()
    if row is None:
        return None, None
    groups = (row[1] or {}).get("groups", {})
    return row[0], {
        int(g): {int(c): int(n) for c, n in v.get("campaigns", {}).items()}
        for g, v in groups.items()
    }


def hold_reason(
    conn: psycopg.Connection, res: RunResult, max_drop: float, source_schema: str
) -> str | None:
    """Why a full run should not be published, or None (SPEC: guards before publishing).

    0 customers means the bank-sync load failed rather than that everybody paid; a drop of
    assignments larger than ``max_drop`` percent against the last published full run is more
    often a broken input or configuration than a good night.
    """
    if res.kind != "full":
        return None
    if res.population == 0:
        return (
            f"0 customers in {source_schema}.customers: publishing would end every current "
            "assignment (did the bank-sync load fail?)"
        )
    row = conn.execute(
        "SELECT run_id, assignments FROM campaign_results.runs WHERE status = 'succeeded' "
        "AND kind = 'full' AND NOT dry_run AND run_id < %s ORDER BY run_id DESC LIMIT 1",
        (res.run_id,),
    ).fetchone()
    if not row or not row[1]:
        return None
    prev_id, prev = row
    drop = 100.0 * (prev - res.assigned) / prev
    if drop > max_drop:
        return (
            f"assignments drop from {prev:,} (run {prev_id}) to {res.assigned:,} "
            f"(-{drop:.1f} %), more than --max-drop {max_drop:g} %"
        )
    return None


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
            hold_reason = %s, forced = %s, unassignments = %s
        WHERE run_id = %s
        """,
        (
            res.status, res.fingerprint, res.population, res.assigned, res.contacts, json.dumps(counts),
            json.dumps(timings), res.dry_run, res.hold_reason, res.forced, res.unassigned, res.run_id,
        ),
    )  # fmt: skip
    if cur.rowcount != 1:
        raise RunError(f"run {res.run_id}: its run record is missing; results not published")


@dataclass(frozen=True)
class Pruned:
    results: list[int]  # runs whose result partitions were dropped
    records: list[int]  # run records deleted (older than the records' retention)


def cleanup(
    conn: psycopg.Connection,
    keep: int = DEFAULT_KEEP,
    keep_records_days: int = DEFAULT_KEEP_RECORDS_DAYS,
    progress: Progress = quiet,
    *,
    dry_run: bool = False,
) -> Pruned:
    """Retention: result partitions of the newest ``keep`` succeeded full runs stay (and of
    every run after the oldest of them); older runs' partitions are dropped and their records
    kept, marked ``results_dropped_at``, until they are ``keep_records_days`` old.

    Failed, held, dry and list runs do not count towards ``keep``; nothing the current views
    read is ever dropped (they read the latest full run and list runs after it).
    """
    if keep < 1:
        raise SqlCompilerError("--keep must be at least 1")
    if keep_records_days < 1:
        raise SqlCompilerError("--keep-records-days must be at least 1")
    results = [
        r[0]
        for r in conn.execute(
            """
            WITH kept AS (
              SELECT run_id FROM campaign_results.runs
              WHERE status = 'succeeded' AND kind = 'full' AND NOT dry_run
              ORDER BY run_id DESC LIMIT %s
            )
            SELECT run_id FROM campaign_results.runs
            WHERE status = 'succeeded' AND NOT dry_run AND results_dropped_at IS NULL
              AND run_id < (SELECT coalesce(min(run_id), 0) FROM kept)
            ORDER BY run_id
            """,
            (keep,),
        ).fetchall()
    ]
    records = [
        r[0]
        for r in conn.execute(
            """
            SELECT run_id FROM campaign_results.runs
            WHERE status <> 'running' AND started_at < now() - make_interval(days => %s)
              AND (status <> 'succeeded' OR dry_run OR results_dropped_at IS NOT NULL
                   OR run_id = ANY(%s))
            ORDER BY run_id
            """,
            (keep_records_days, results),
        ).fetchall()
    ]
    if dry_run:
        return Pruned(results, records)
    for run_id in results:
        with conn.transaction():
            conn.execute("SET LOCAL lock_timeout = '10s'")
            for base in ("assignments", "contacts", "unassignments"):
                conn.execute(
                    sql.SQL("DROP TABLE IF EXISTS {}.{}").format(
                        sql.Identifier("campaign_results"), sql.Identifier(f"{base}_r{run_id}")
                    )
                )
            conn.execute(
                "UPDATE campaign_results.runs SET results_dropped_at = clock_timestamp() "
                "WHERE run_id = %s",
                (run_id,),
            )
    if records:
        conn.execute("DELETE FROM campaign_results.runs WHERE run_id = ANY(%s)", (records,))
    if results:
        progress(f"dropped the results of {len(results)} old run(s): {_ids(results)}")
    if records:
        progress(f"deleted {len(records)} run record(s) older than {keep_records_days} days")
    return Pruned(results, records)


def _ids(ids: list[int]) -> str:
    return ", ".join(map(str, ids[:20])) + (f" and {len(ids) - 20} more" if len(ids) > 20 else "")


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
