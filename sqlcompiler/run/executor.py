"""The one executor of a run's statements, shared by ``run``, the preview and ``compile``.

How the work is split is decided here once (``Split``): one connection, several connections
each taking whole groups, or several connections each over a customer slice. ``execute``
then runs the compiled statements that way in the caller's transaction (one connection) or on
worker connections sharing its snapshot (workers.py), and returns what a caller records.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import psycopg

from ..compiler import CompiledRun
from ..progress import Progress
from .record import GroupResult, execute_group
from .staging import record_removed_groups
from .workers import parallel_groups, run_prologue, sliced_groups


def default_jobs() -> int:
    """Two connections, or one on a single core: each group statement uses one core."""
    return min(2, os.cpu_count() or 1)


def use_slices(jobs: int, groups: int) -> bool:
    """Split a full run by customer slices rather than by group when there are more
    connections than groups: groups on their own would leave connections idle (3 groups on
    8 cores), while a slice repeats part of every group's reading (each slice still scans the
    customers, references and phones in full; docs/scaling.md has the measurements)."""
    return jobs > 1 and jobs > groups >= 1


@dataclass(frozen=True)
class Split:
    """How a run's statements are spread over connections."""

    jobs: int  # connections
    sliced: bool  # each connection over its customer slice, running every group
    parallel: bool  # worker connections that commit into staging (else: the caller's)

    @property
    def slices(self) -> int:
        """What the compiler is told (compile_config(..., slices=...))."""
        return self.jobs if self.sliced else 1


def split(jobs: int | None, groups: int, *, population: bool = False) -> Split:
    """The split for ``groups`` group statements on ``jobs`` connections (None: the default).

    A list run (``population``) stays on one connection: its population is small and its
    rows must be read back in the run's own transaction.
    """
    jobs = max(jobs or default_jobs(), 1)
    sliced = not population and use_slices(jobs, groups)
    parallel = not population and jobs > 1 and (sliced or groups > 1)
    return Split(jobs, sliced, parallel)


@dataclass(frozen=True)
class Executed:
    prologue: list[float]  # seconds the prologue took on each connection
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
    if how.parallel:
        runner = sliced_groups if how.sliced else parallel_groups
        prologue, left = runner(work, how.jobs, run_id, compiled, groups, progress)
        return Executed(prologue, left, committed=True)
    prologue = [round(run_prologue(work, compiled, progress), 3)] if compiled.groups else []
    total = len(compiled.groups)
    for i, (cg, gr) in enumerate(zip(compiled.groups, groups, strict=True), start=1):
        execute_group(work, cg.sql, gr)
        progress(f"  [{i}/{total}] group {cg.group.name!r}: {gr.seconds:.2f}s")
    configured = [g.group_id for g in groups]
    gone = record_removed_groups(work, configured, population=compiled.population)
    return Executed(prologue, sum(gone.values()), committed=False)
