"""The run statement on several connections that share the run's snapshot, each over a
customer slice."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from ..compiler import CompiledRun
from ..infra.connection import connect_like
from ..progress import Progress, quiet
from .record import GroupResult, execute_statement
from .staging import record_removed_groups


def run_prologue(conn: psycopg.Connection, compiled: CompiledRun, progress: Progress) -> float:
    """Create the run's temporary tables on this connection: the loan values
    (compiler/prologue.py) and the phone book (compiler/phones.py)."""
    if not compiled.tables:
        return 0.0
    progress("  run prologue: the condition values of every loan and the phones, for every group")
    t0 = time.monotonic()
    for table in compiled.tables:
        for statement in table.statements():
            conn.execute(statement)
    seconds = time.monotonic() - t0
    progress(f"  run prologue (loan values and phones for every group): {seconds:.2f}s")
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


def sliced_statement(
    work: psycopg.Connection,
    jobs: int,
    run_id: int,
    compiled: CompiledRun,
    groups: list[GroupResult],
    progress,
) -> tuple[list[float], list[float], int]:
    """A full run on ``jobs`` connections, each over its slice of the customers.

    ``compiled`` has a customer slice (compile_config(..., slices=jobs)): connection k creates
    the customers whose hash of cif is k modulo ``jobs`` as pg_temp.run_population, its run
    prologue over them, then the run statement over them; so each connection does 1/jobs of
    every step and none repeats another's work. Statements writing through data-modifying CTEs
    never get parallel workers, which is why the run splits the work itself. Workers import
    the work transaction's snapshot (pg_export_snapshot / SET TRANSACTION SNAPSHOT, as
    pg_dump -j does), so every slice sees the same inputs. They commit into the staging
    tables, which no reader sees; the work transaction then turns staging into the run's
    partitions, or on any failure the staging tables are emptied and nothing is published.
    Each worker adds its slice's counts (the statement returns them) and records who left a
    group no longer configured in its slice. Returns each connection's prologue and statement
    seconds and the assignments ended because their group is no longer configured.
    """
    assert compiled.slice is not None and compiled.slice.slices == jobs
    assert compiled.statement is not None
    pool = _Workers(work, run_id, compiled)
    configured = [g.group_id for g in groups]
    prologue_seconds: list[float] = []
    statement_seconds: list[float] = []
    removed = [0]
    lock = pool.lock

    def worker(index: int) -> None:
        with pool.connection() as conn:
            t0 = time.monotonic()
            for statement in compiled.slice.statements(index):
                conn.execute(statement)
            seconds = time.monotonic() - t0 + run_prologue(conn, compiled, quiet)
            progress(f"  slice {index + 1}/{jobs}: customers and prologue {seconds:.2f}s")
            mine = [GroupResult(g.group_id, g.name) for g in groups]
            took = execute_statement(conn, compiled.statement.sql, mine)
            progress(f"  slice {index + 1}/{jobs}: run statement {took:.2f}s")
            gone = record_removed_groups(conn, configured, population=True)
            with lock:
                prologue_seconds.append(round(seconds, 3))
                statement_seconds.append(round(took, 3))
                for gr, m in zip(groups, mine, strict=True):
                    gr.assigned += m.assigned
                    gr.contacts += m.contacts
                    gr.left += m.left
                    for cid, n in m.campaigns.items():
                        gr.campaigns[cid] = gr.campaigns.get(cid, 0) + n
                    for cid, reasons in m.campaign_suppressed.items():
                        for reason, n in reasons.items():
                            gr.suppress(cid, reason, n)
                removed[0] += sum(gone.values())

    pool.run([functools.partial(worker, k) for k in range(jobs)])
    return prologue_seconds, statement_seconds, removed[0]
