"""Group statements on several connections that share the run's snapshot."""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from ..compiler import CompiledRun
from ..infra.connection import connect_like
from ..progress import Progress, quiet
from .record import GroupResult, execute_group
from .staging import record_removed_groups


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


class _Workers:
    """Connections that share the run's snapshot, one thread each; the first failure stops
    the others (they roll back) and is re-raised in the run's thread."""

    def __init__(self, work: psycopg.Connection, run_id: int, compiled: CompiledRun) -> None:
        self.work, self.run_id, self.compiled = work, run_id, compiled
        self.snapshot = work.execute("SELECT pg_export_snapshot()").fetchone()[0]
        self.failed = threading.Event()
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A connection in the run's snapshot, settings and run id; commits unless failed."""
        with connect_like(self.work, "sqlcompiler-run-worker") as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(self.snapshot)))
            for statement in self.compiled.settings:
                conn.execute(statement)
            conn.execute("SELECT set_config('sqlcompiler.run_id', %s, true)", (str(self.run_id),))
            yield conn
            if self.failed.is_set():
                conn.rollback()
            else:
                conn.commit()

    def run(self, targets: list[Callable[[], None]]) -> None:
        def guarded(target: Callable[[], None]) -> None:
            try:
                target()
            except BaseException as exc:  # re-raised in the run's thread
                self.failed.set()
                self.errors.append(exc)

        threads = [threading.Thread(target=guarded, args=(t,), daemon=True) for t in targets]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if self.errors:
            raise self.errors[0]


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
    pool = _Workers(work, run_id, compiled)
    # the assignments of groups no longer configured end too; one worker records them (not
    # the work transaction: its insert would block the staging indexes built in parallel)
    removed: list[dict[int, int]] = []
    todo: queue.Queue = queue.Queue()
    for item in zip(compiled.groups, groups, strict=True):
        todo.put(item)
    prologue_seconds: list[float] = []
    done = [0]
    lock = pool.lock

    def worker() -> None:
        with pool.connection() as conn:
            seconds = run_prologue(conn, compiled, progress)
            with lock:
                prologue_seconds.append(round(seconds, 3))
            while not pool.failed.is_set():
                try:
                    cg, gr = todo.get_nowait()
                except queue.Empty:
                    break
                execute_group(conn, cg.sql, gr)
                with lock:
                    done[0] += 1
                    progress(
                        f"  [{done[0]}/{len(compiled.groups)}] group {cg.group.name!r}: {gr.seconds:.2f}s"
                    )
            with lock:
                take = not removed and not pool.failed.is_set()
                if take:
                    removed.append({})
            if take:
                removed[0] = record_removed_groups(conn, [g.group_id for g in groups])

    pool.run([worker] * min(jobs, len(compiled.groups)))
    return prologue_seconds, sum(removed[0].values()) if removed else 0


def sliced_groups(
    work: psycopg.Connection,
    jobs: int,
    run_id: int,
    compiled: CompiledRun,
    groups: list[GroupResult],
    progress,
) -> tuple[list[float], int]:
    """A full run on ``jobs`` connections, each over its slice of the customers.

    ``compiled`` has a customer slice (compile_config(..., slices=jobs)): connection k creates
    the customers whose hash of cif is k modulo ``jobs`` as pg_temp.run_population, its run
    prologue over them, then runs every group statement over them. So each connection does
    1/jobs of every step — with three groups as with ten — and none repeats another's work.
    Statements writing through data-modifying CTEs never get parallel workers, which is why
    the run splits the work itself. Workers import the work transaction's snapshot
    (pg_export_snapshot / SET TRANSACTION SNAPSHOT, as pg_dump -j does), so every slice sees
    the same inputs. They commit into the staging tables, which no reader sees; the work
    transaction then turns staging into the run's partitions, or on any failure the staging
    tables are emptied and nothing is published. Each worker counts its slice's results and
    who left a group in its slice (the statements return their counts). Returns each connection's prologue seconds and the
    assignments ended because their group is no longer configured.
    """
    assert compiled.slice is not None and compiled.slice.slices == jobs
    pool = _Workers(work, run_id, compiled)
    configured = [g.group_id for g in groups]
    prologue_seconds: list[float] = []
    removed = [0]
    lock = pool.lock

    def worker(index: int) -> None:
        with pool.connection() as conn:
            t0 = time.monotonic()
            for statement in compiled.slice.statements(index):
                conn.execute(statement)
            seconds = time.monotonic() - t0 + run_prologue(conn, compiled, quiet)
            progress(f"  slice {index + 1}/{jobs}: customers and prologue {seconds:.2f}s")
            with lock:
                prologue_seconds.append(round(seconds, 3))
            for cg, gr in zip(compiled.groups, groups, strict=True):
                if pool.failed.is_set():
                    break
                mine = GroupResult(gr.group_id, gr.name)
                execute_group(conn, cg.sql, mine)
                with lock:
                    gr.seconds = max(gr.seconds, mine.seconds)
                    gr.assigned += mine.assigned
                    gr.contacts += mine.contacts
                    gr.left += mine.left
                    for cid, n in mine.campaigns.items():
                        gr.campaigns[cid] = gr.campaigns.get(cid, 0) + n
                progress(f"  slice {index + 1}/{jobs}: group {cg.group.name!r} {mine.seconds:.2f}s")
            gone = record_removed_groups(conn, configured, population=True)
            with lock:
                removed[0] += sum(gone.values())

    pool.run([functools.partial(worker, k) for k in range(jobs)])
    return prologue_seconds, removed[0]
