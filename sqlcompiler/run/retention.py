"""Retention: old runs' result partitions are dropped, their records kept for the audit trail."""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg
from psycopg import errors, sql

from ..errors import SqlCompilerError
from ..progress import Progress, quiet
from .lock import run_lock
from .staging import BASES, sessions_holding

DEFAULT_KEEP = 7  # succeeded full runs whose result partitions are kept
DEFAULT_KEEP_RECORDS_DAYS = 400  # run records (the audit trail) are kept this long


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
    if dry_run:
        return Pruned(results, _old_records(conn, keep_records_days, results))
    dropped: list[int] = []
    for run_id in results:
        if not _drop(conn, run_id):
            busy = [r for r in results if r >= run_id]
            tables = [f"campaign_results.{b}{r}" for r in ("", *(f"_r{x}" for x in busy))
                      for b in (*BASES, "contacts")]  # fmt: skip
            progress(f"retention: the results of run(s) {_ids(busy)} are being read "
                     f"({sessions_holding(conn, tables)}); kept until the next run or "
                     "`sqlcompiler runs prune`")  # fmt: skip
            break
        dropped.append(run_id)
    results = dropped
    records = _old_records(conn, keep_records_days, results)
    if records:
        conn.execute("DELETE FROM campaign_results.runs WHERE run_id = ANY(%s)", (records,))
    # the workbench's audit of reads lives as long as run records (a runner whose grants
    # predate the audit table keeps it until `db grants` is run again: never a failed night)
    if conn.execute("SELECT has_table_privilege('campaign_engine.ui_reads', 'DELETE')").fetchone()[
        0
    ]:
        conn.execute(
            "DELETE FROM campaign_engine.ui_reads WHERE read_at < now() - make_interval(days => %s)",
            (keep_records_days,),
        )
    if results:
        progress(f"dropped the results of {len(results)} old run(s): {_ids(results)}")
    if records:
        progress(f"deleted {len(records)} run record(s) older than {keep_records_days} days")
    return Pruned(results, records)


# Dropping a run's partitions locks the result tables' parents, and readers queue behind a
# waiting lock: each try waits 0.2 s at most, for up to 10 s, and a session still reading an
# old run's rows (a long download) only postpones its dropping; after publishing, never a
# failed night (before: a raw lock timeout after 10 s of readers held up).
DROP_TRY = "200ms"
DROP_PATIENCE_SECONDS = 10.0


def _drop(conn: psycopg.Connection, run_id: int) -> bool:
    deadline = time.monotonic() + DROP_PATIENCE_SECONDS
    while True:
        try:
            with conn.transaction():
                conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(DROP_TRY)))
                for base in (*BASES, "contacts"):  # contacts_rN: published before revision 0014
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
            return True
        except (errors.LockNotAvailable, errors.DeadlockDetected):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.3)


def _old_records(conn: psycopg.Connection, keep_records_days: int, results: list[int]) -> list[int]:
    """Records old enough to delete: of runs without results, or whose results go now."""
    return [
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


def _ids(ids: list[int]) -> str:
    return ", ".join(map(str, ids[:20])) + (f" and {len(ids) - 20} more" if len(ids) > 20 else "")


def prune(
    conn: psycopg.Connection,
    keep: int,
    keep_records_days: int,
    *,
    dry_run: bool = False,
    progress: Progress = quiet,
) -> Pruned:
    """Retention on demand (``runs prune``), under the run lock so no run publishes meanwhile;
    ``conn`` in autocommit mode."""
    with run_lock(conn, "prune again when it has finished"):
        return cleanup(conn, keep, keep_records_days, progress, dry_run=dry_run)
