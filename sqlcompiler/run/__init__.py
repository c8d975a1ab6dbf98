"""The run: orchestration (orchestrate.py), the run record and lock (record.py), staging and
publishing (staging.py), group statements on parallel connections (workers.py); the session settings they run
under are the compiler's (compiler/settings.py)."""

from __future__ import annotations

from .orchestrate import REFERENCE_LIMIT, RunOptions, default_jobs, read_cifs, run
from .record import DEFAULT_KEEP, RUN_LOCK, GroupResult, RunResult, cleanup

__all__ = [
    "DEFAULT_KEEP",
    "REFERENCE_LIMIT",
    "RUN_LOCK",
    "GroupResult",
    "RunOptions",
    "RunResult",
    "cleanup",
    "default_jobs",
    "read_cifs",
    "run",
]
