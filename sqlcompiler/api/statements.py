"""The generated SQL as a reviewer reads it: compile, EXPLAIN, one file per statement."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ..compiler import CompiledRun, compile_config
from ..run import review
from ..run.executor import split
from .common import migrated
from .configuration import load_config


def compile_statements(
    dsn: str,
    group: str | None = None,
    *,
    population: bool = False,
    as_of: dt.date | None = None,
    jobs: int | None = None,
) -> CompiledRun:
    """What a run executes: a full run on ``jobs`` connections (customer slices when there
    are more connections than groups, run/executor.py), or with ``population`` a list run."""
    with migrated(dsn) as conn:
        config = load_config(conn, as_of)
        how = split(jobs, len(config.groups), population=population)
        return compile_config(config, group=group, population=population, slices=how.slices)


def explain_plans(dsn: str, compiled: CompiledRun, analyze: bool = False) -> list[str]:
    """EXPLAIN each of ``compiled.statements`` in one rolled-back transaction (run/review.py)."""
    return review.explain(dsn, compiled, analyze=analyze)


def write_statements(compiled: CompiledRun, out: Path) -> list[Path]:
    """One file per statement: the prologue tables, then the run statement (run/review.py)."""
    return review.write_files(compiled, out)
