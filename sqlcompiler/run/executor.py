"""The one executor of a run's statements, shared by ``run``, the preview and ``compile``.

How the work is split is decided here once (``Split``): the run's own connection, or several
connections each over a customer slice. ``execute`` then runs the compiled statements that way
in the caller's transaction (one connection) or on worker connections sharing its snapshot
(workers.py), and returns what a caller records.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import psycopg

from ..compiler import CompiledRun
from ..progress import Progress
from .record import GroupResult, execute_statement
from .staging import record_removed_groups
from .workers import run_prologue, sliced_statement


def default_jobs() -> int:
    """Two connections, or one on a single core: a statement that writes uses one core."""
    return min(2, os.cpu_count() or 1)


@dataclass(frozen=True)
class Split:
    """How a run's statements are spread over connections."""

    jobs: int  # connections
    sliced: bool  # each connection over its customer slice (worker connections that commit)

    @property
    def slices(self) -> int:
        """What the compiler is told (compile_config(..., slices=...))."""
        return self.jobs if self.sliced else 1


def split(jobs: int | None, groups: int, *, population: bool = False) -> Split:
    """The split for a run deciding ``groups`` groups on ``jobs`` connections (None: the
    default).

    A full run on several connections splits the customers by hash of cif: every group is
    decided in the one run statement, so slices are the only way to use more than one core
    (statements writing through data-modifying CTEs get no parallel workers). A list run
    (``population``) stays on one connection: its population is small and its rows must be
    read back in the run's own transaction; so does a run with no group to decide.
    """
    jobs = max(jobs or default_jobs(), 1)
    return Split(jobs, sliced=not population and jobs > 1 and groups >= 1)


@dataclass(frozen=True)
class Executed:
    prologue: list[float]  # seconds the prologue took on each connection
    statement: list[float]  # seconds the run statement took on each connection
    left_removed: int  # assignments ended because their group is no longer configured
    committed: bool  # the rows were committed by worker connections (read them elsewhere)


def execute(
    work: psycopg.Connection,
    compiled: CompiledRun,
    groups: list[GroupResult],
    how: Split,
    *,
    run_id: int,
    progress: Progress,
) -> Executed:
    """Run ``compiled`` as ``how`` says, adding each group's counts to ``groups``.

    ``work`` is in the run's REPEATABLE READ transaction with its settings and run id. Its
    rows stay in that transaction on one connection; worker connections import its snapshot
    and commit into the staging tables, which nobody reads while the run lock is held.
    """
    if how.sliced:
        prologue, seconds, left = sliced_statement(
            work, how.jobs, run_id, compiled, groups, progress
        )
        return Executed(prologue, seconds, left, committed=True)
    prologue, seconds = [], []
    if compiled.statement is not None:
        prologue = [round(run_prologue(work, compiled, progress), 3)]
        t = execute_statement(work, compiled.statement.sql, groups)
        seconds = [round(t, 3)]
        progress(f"  run statement ({len(compiled.groups)} groups): {t:.2f}s")
    configured = [g.group_id for g in groups]
    gone = record_removed_groups(work, configured, population=compiled.population)
    return Executed(prologue, seconds, sum(gone.values()), committed=False)
