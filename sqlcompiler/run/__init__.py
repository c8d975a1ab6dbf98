"""The run: orchestration (orchestrate.py), the one executor of its statements shared with the
preview and compile (executor.py, workers.py), the run lock (lock.py), the run record
(record.py), the guards (guards.py), retention (retention.py), staging and publishing
(staging.py); the session settings they run under are the compiler's (compiler/settings.py)."""

from __future__ import annotations

from .executor import default_jobs
from .guards import DEFAULT_MAX_DROP
from .lock import RUN_LOCK, run_lock
from .orchestrate import REFERENCE_LIMIT, RunOptions, read_cifs, run
from .record import GroupResult, RunResult
from .retention import DEFAULT_KEEP, DEFAULT_KEEP_RECORDS_DAYS, cleanup

__all__ = [
    "DEFAULT_KEEP",
    "DEFAULT_KEEP_RECORDS_DAYS",
    "DEFAULT_MAX_DROP",
    "REFERENCE_LIMIT",
    "RUN_LOCK",
    "GroupResult",
    "RunOptions",
    "RunResult",
    "cleanup",
    "default_jobs",
    "read_cifs",
    "run",
    "run_lock",
]
