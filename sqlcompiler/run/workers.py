"""Group statements on several connections that share the run's snapshot."""

from __future__ import annotations

import queue
import threading
import time

import psycopg
from psycopg import sql

from ..compiler import CompiledRun
from ..compiler.settings import set_local_statements
from ..infra.connection import connect_like
from ..progress import Progress
from .record import GroupResult, count_results
from .staging import record_unassignments


def run_prologue(conn: psycopg.Connection, compiled: CompiledRun, progress: Progress) -> float:
    """Create the run prologue's table on this connection (see compiler/prologue.py)."""
    if compiled.prologue is None:
        return 0.0
    t0 = time.monotonic()
    for statement in compiled.prologue.statements():
        conn.execute(statement)
    seconds = time.monotonic() - t0
    progress(f"  run prologue (loan values for every group): {seconds:.2f}s")
    return seconds


def parallel_groups(
    work: psycopg.Connection,
    jobs: int,
    run_id: int,
    compiled: CompiledRun,
    groups: list[GroupResult],
    progress,
) -> tuple[list[float], int]:
    """Run the group statements on ``jobs`` connections that share the run's snapshot.

    Each statement writes through data-modifying CTEs, which PostgreSQL never runs with
    parallel workers, so one connection uses one core. Workers import the work transaction's
    snapshot (pg_export_snapshot / SET TRANSACTION SNAPSHOT, as pg_dump -j does), so every
    group still sees the same inputs. They commit into the staging tables, which no reader
    sees; the work transaction then turns staging into the run's partitions, or on any failure
    the staging tables are emptied and nothing is published. Each connection first creates
    the run prologue's temporary table. Returns the seconds that took on each, and the
    assignments ended because their group is no longer configured.
    """
    snapshot = work.execute("SELECT pg_export_snapshot()").fetchone()[0]
    # the assignments of groups no longer configured end too; one worker records them (not
    # the work transaction: its insert would block the staging indexes built in parallel)
    removed: list[dict[int, int]] = []
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
            with connect_like(work, "sqlcompiler-run-worker") as conn:
                conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
                for statement in set_local_statements(False):
                    conn.execute(statement)
                conn.execute("SELECT set_config('sqlcompiler.run_id', %s, true)", (str(run_id),))
                seconds = run_prologue(conn, compiled, progress)
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
                    count_results(conn, [gr])
                    gr.left = record_unassignments(conn, groups=[gr.group_id]).get(gr.group_id, 0)
                    with lock:
                        done[0] += 1
                        progress(
                            f"  [{done[0]}/{len(compiled.groups)}] group {cg.group.name!r}: {gr.seconds:.2f}s"
                        )
                with lock:
                    take = not removed and not failed.is_set()
                    if take:
                        removed.append({})
                if take:
                    removed[0] = record_unassignments(conn, other_than=[g.group_id for g in groups])
                if failed.is_set():
                    conn.rollback()
                else:
                    conn.commit()
        except BaseException as exc:  # re-raised in the run's thread
            failed.set()
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, daemon=True) for _ in range(min(jobs, len(compiled.groups)))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return prologue_seconds, sum(removed[0].values()) if removed else 0
