"""The contact policy's inputs (SPEC §6): attempts reported by dialers, blocks managed by users.
The CLI (``attempts``, ``blocks``) and the workbench call these."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from ..progress import Progress, quiet
from ..source import attempts as _attempts
from ..source import blocks as _blocks
from ..source.attempts import AttemptsResult
from ..source.blocks import ContactBlock
from .common import migrated

__all__ = [
    "AttemptsResult", "ContactBlock", "add_block", "consume_attempts", "list_blocks",
    "prune_attempts",
    "remove_block", "upload_attempts", "upload_blocks",
]  # fmt: skip


def upload_attempts(
    dsn: str, path: str | Path, *, reject_file: str | Path | None = None,
    source: str | None = None, progress: Progress = quiet,
) -> AttemptsResult:  # fmt: skip
    with migrated(dsn) as conn:
        return _attempts.upload(conn, path, reject_file=reject_file, source=source,
                                progress=progress)  # fmt: skip


def add_block(
    dsn: str, scope: str, value: str, reason: str, *, added_by: str,
    valid_from: dt.date | None = None, valid_until: dt.date | None = None,
    note: str | None = None,
) -> int:  # fmt: skip
    with migrated(dsn) as conn:
        return _blocks.add(conn, scope, value, reason, added_by=added_by, valid_from=valid_from,
                           valid_until=valid_until, note=note)  # fmt: skip


def upload_blocks(dsn: str, path: str | Path, *, added_by: str) -> int:
    with migrated(dsn) as conn:
        return _blocks.upload(conn, path, added_by=added_by)


def remove_block(dsn: str, block_id: int, *, removed_by: str) -> None:
    with migrated(dsn) as conn:
        _blocks.remove(conn, block_id, removed_by=removed_by)


def list_blocks(
    dsn: str, *, everything: bool = False, value: str | None = None
) -> list[ContactBlock]:
    with migrated(dsn) as conn:
        return _blocks.listed(conn, everything=everything, value=value)


def consume_attempts(
    dsn: str, settings, *, group_id: str = "sqlcompiler-attempts", batch_size: int = 5000,
    stop: Callable[[], bool] = lambda: False, idle_exit: float | None = None,
    progress: Progress = quiet,
):  # fmt: skip
    """Store attempts from the Kafka topic (kafka/attempts.py); returns its ConsumeStats."""
    from ..kafka import attempts as consumer

    with migrated(dsn):
        pass  # a database behind the code's schema is said before anything is consumed
    return consumer.consume(dsn, settings, group_id=group_id, batch_size=batch_size, stop=stop,
                            idle_exit=idle_exit, progress=progress)  # fmt: skip


def prune_attempts(dsn: str, keep_days: int = _attempts.KEEP_DAYS) -> list[str]:
    """Drop the days of attempts older than ``keep_days`` (whole partitions); their names."""
    if keep_days < 1:
        from ..errors import SqlCompilerError

        raise SqlCompilerError("--keep-days must be at least 1")
    with migrated(dsn) as conn:
        return _attempts.prune(conn, keep_days)
