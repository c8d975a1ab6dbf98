"""The run record (campaign_results.runs), the run lock, per-group counts and retention.

The record is written on its own autocommit connection so that "running" and "failed" are
visible whatever happens to the work transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from ..errors import RunError, SqlCompilerError
from ..progress import Progress, quiet

RUN_LOCK = 0x5C0C0001  # advisory lock key: one run at a time per database
DEFAULT_KEEP = 7


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


def count_results(work: psycopg.Connection, result: list[GroupResult]) -> None:
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


def finish_record(conn: psycopg.Connection, res: RunResult, timings: dict) -> None:
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


def cleanup(conn: psycopg.Connection, keep: int, progress: Progress = quiet) -> list[int]:
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

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


def list_runs(conn: psycopg.Connection, limit: int = 10) -> list[RunRecord]:
    rows = conn.execute(
        "SELECT run_id, kind, status, dry_run, started_at, finished_at, population_size, "
        "assignments, contacts, config_fingerprint, error, source FROM campaign_results.runs "
        "ORDER BY run_id DESC LIMIT %s",
        (limit,),
    ).fetchall()
    return [RunRecord(*r) for r in rows]
