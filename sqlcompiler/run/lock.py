"""The run lock: one run at a time per database, and whatever writes what a run reads.

A run, a preview, retention and ``compile --explain=analyze`` all write the staging tables or
drop result partitions; the advisory lock keeps them from doing so at the same time. It is
session-level (held until the connection closes) unless taken for one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from ..errors import RunLocked

RUN_LOCK = 0x5C0C0001  # advisory lock key: one run at a time per database


def lock_holder(conn: psycopg.Connection) -> str:
    """Who holds the run lock, in words (for the error a refused command prints)."""
    row = conn.execute(
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


def try_run_lock(conn: psycopg.Connection, *, transaction: bool = False) -> bool:
    """Take the run lock if free; session-level, or until the transaction ends."""
    fn = "pg_try_advisory_xact_lock" if transaction else "pg_try_advisory_lock"
    return bool(conn.execute(f"SELECT {fn}(%s)", (RUN_LOCK,)).fetchone()[0])


@contextmanager
def run_lock(
    conn: psycopg.Connection, then: str, *, transaction: bool = False
) -> Iterator[psycopg.Connection]:
    """Hold the run lock on ``conn`` or raise RunLocked naming the holder and ``then`` (what
    the user should do instead, e.g. "preview again when it has finished").

    The session-level lock is released on leaving when the connection can still say so;
    otherwise closing the connection releases it (a lock never outlives its session).
    """
    if not try_run_lock(conn, transaction=transaction):
        raise RunLocked(f"{lock_holder(conn)}; {then}")
    try:
        yield conn
    finally:
        idle = psycopg.pq.TransactionStatus.IDLE
        if not transaction and not conn.closed and conn.info.transaction_status == idle:
            conn.execute("SELECT pg_advisory_unlock(%s)", (RUN_LOCK,))
